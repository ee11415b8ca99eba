// Clouds and unmanaged peers with the real engine on namespace hosts (docs/topology.md,
// "1:1 NAT", "Unmanaged peers"). Site `cloud` sits behind the lab router's 1:1 NAT
// (198.51.100.128/25 ↔ 203.0.113.128/25) which drops IP protocol 50, as some clouds do;
// the inventory gives its hosts their public addresses and makes the site force UDP
// encapsulation. Host `r` is unmanaged (managed: false): ipsec-mesh never logs in to it, and
// its charon is configured by a stand-in for an engineer from the peer sheet's text alone.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { quantumProtection, type IkeSaStatus } from '../../components/operations/swanctl-status.js';
import { labConfigFile, labPulumi, labPulumiEnv, PROJECT_DIR } from '../../lab/lab-pulumi.js';
import type { LabSpec } from '../../lab/netns/index.js';
import { parseSheet, swanctlFromSheet } from './peer-from-sheet.js';
import { e2eMeshForFile, expectedPairKeys, keysUpOnBothEnds, negotiate } from './pulumi-support.js';

const run = promisify(execFile);
const LAB = 'e2e-nat';
const MANAGED = ['c1', 'c2', 'e1', 'w1'];
const ALL = [...MANAGED, 'r'];

const spec: LabSpec = {
  name: LAB,
  sites: [
    { name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' },
    { name: 'cloud', ipv4: '198.51.100.128/25', ipv6: '2001:db8:c::/64', nat: { ipv4: '203.0.113.128/25', dropEsp: true } },
    { name: 'west', ipv4: '203.0.113.0/26', ipv6: '2001:db8:f::/64' },
  ],
  hosts: [
    { name: 'c1', site: 'cloud' },
    { name: 'c2', site: 'cloud' },
    { name: 'e1', site: 'east' },
    { name: 'r', site: 'west' },
    { name: 'w1', site: 'west' },
  ],
  // The default operator link (198.51.100.252/30) lies inside the cloud's private /25.
  operator: { ipv4: '198.51.100.64/30' },
};

const mesh = e2eMeshForFile(spec, {
  mesh: { auth: 'psk', domain: 'lab.example' },
  siteFields: { cloud: { forceUdpEncap: true } },
  hostFields: { r: { managed: false } },
});

/** Runs the built CLI (peer-sheet needs no host: no namespace). */
async function cli(...args: string[]): Promise<string> {
  const r = await run('node', [join(PROJECT_DIR, 'dist/components/cli/main.js'), ...args], { cwd: PROJECT_DIR });
  return r.stdout;
}

interface SaView {
  readonly local: string;
  readonly remote: string;
  readonly localPort: string;
  readonly remotePort: string;
  /** vici's NAT flags that are set: nat-local (this end is behind NAT), nat-remote, nat-fake (encap forced). */
  readonly nat: string[];
}

function view(sa: IkeSaStatus): SaView {
  const raw = sa.raw as Record<string, unknown>;
  return {
    local: sa.localHost,
    remote: sa.remoteHost,
    localPort: String(raw['local-port']),
    remotePort: String(raw['remote-port']),
    nat: ['nat-local', 'nat-remote', 'nat-fake'].filter((k) => raw[k] === 'yes'),
  };
}

/** The ESTABLISHED IKE_SA `host` holds with a peer at `remote`. */
async function saOf(host: string, remote: string): Promise<SaView> {
  const sas = (await mesh().lab.listSas(host)).filter((s) => s.state === 'ESTABLISHED' && s.remoteHost === remote);
  expect(sas.length, `${host} → ${remote}`).toBeGreaterThan(0);
  return view(sas[0]!);
}

describe('cloud behind 1:1 NAT dropping ESP, and an unmanaged peer (real engine, PSK)', () => {
  it('every pair across the NAT establishes with NAT detected and UDP 4500; pairs inside the site use private addresses', async () => {
    await mesh().up();
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs).filter((k) => !/(^|~)r[~/]/.test(k));
    expect(keysUpOnBothEnds(await negotiate(mesh().lab, MANAGED, expected, { timeoutMs: 45_000 }))).toEqual(expected);

    const lab = mesh().lab;
    const [c1, c2, e1, w1] = ['c1', 'c2', 'e1', 'w1'].map((h) => lab.host(h));
    const c1Public = c1!.publicIpv4[0]!;
    expect(c1Public).toMatch(/^203\.0\.113\.\d+$/);
    // Across the NAT, IPv4: c1 sends from its private address, e1 reaches it at its public one.
    const fromCloud = await saOf('c1', e1!.ipv4[0]!);
    expect(fromCloud).toMatchObject({ local: c1!.ipv4[0], localPort: '4500', remotePort: '4500' });
    expect(fromCloud.nat).toContain('nat-local');
    const toCloud = await saOf('e1', c1Public);
    expect(toCloud).toMatchObject({ local: e1!.ipv4[0], localPort: '4500', remotePort: '4500' });
    expect(toCloud.nat).toContain('nat-remote');
    // IPv6 is not translated, but the cloud drops ESP: encapsulation is forced (nat-fake).
    const v6 = await saOf('w1', c2!.ipv6[0]!);
    expect(v6).toMatchObject({ localPort: '4500', remotePort: '4500' });
    // (The end that forces encapsulation fakes its NAT detection: the other end sees a NAT.)
    expect(v6.nat.length, 'UDP encapsulation forced').toBeGreaterThan(0);
    expect([v6.local, v6.remote]).toEqual([w1!.ipv6[0], c2!.ipv6[0]]);
    // Inside the cloud: private addresses both ways, no NAT (encapsulation still forced).
    const inside = await saOf('c1', c2!.ipv4[0]!);
    expect(inside).toMatchObject({ local: c1!.ipv4[0], remote: c2!.ipv4[0] });
    expect(inside).toMatchObject({ localPort: '4500', remotePort: '4500' });
    // Between the other sites: plain IKE on 500, no NAT, no encapsulation.
    expect(await saOf('e1', w1!.ipv4[0]!)).toMatchObject({ localPort: '500', remotePort: '500', nat: [] });
    // Transport mode across the NAT: the selectors agreed (charon maps the NATed end's own one).
    for (const h of MANAGED) expect(lab.charonLog(h), h).not.toMatch(/TS_UNACCEPTABLE|no acceptable traffic selectors/);
    expect(lab.readHostFile('c1', `/etc/swanctl/conf.d/ipsec-mesh_${LAB}.conf`)).toContain('encap = yes');
  }, 300_000);

  it('the unmanaged host is left alone; configured from the peer sheet alone, it establishes with every managed peer', async () => {
    const lab = mesh().lab;
    expect(existsSync(lab.hostFile('r', `/etc/swanctl/.ipsec-mesh-state.${LAB}`)), 'nothing was pushed to r').toBe(false);
    // The sheet as the stack program and the CLI give it (one source): equal.
    const stackSheet = JSON.parse((await labPulumi(lab, ['stack', 'output', 'peerSheets', '--json'])).stdout) as Record<string, unknown>;
    const cliSheet = JSON.parse(await cli('peer-sheet', 'r', '--config-file', labConfigFile(lab), '--project', PROJECT_DIR, '--json')) as unknown;
    expect(stackSheet.r).toEqual(cliSheet);
    // The plain output holds no key; its text names, per connection, the command that prints it.
    expect(JSON.stringify(stackSheet)).not.toMatch(/0x[0-9a-f]{64}/);
    const text = await cli('peer-sheet', mesh().inventoryPath, 'r');
    const sheet = parseSheet(text);
    expect(sheet.connections.map((c) => c.name)).toEqual(
      ['c1', 'c2', 'e1', 'w1'].flatMap((p) => [`${LAB}_${p}_v4`, `${LAB}_${p}_v6`]),
    );
    const secretOf = (c: { name: string; fields: ReadonlyMap<string, string> }): string => {
      const key = shell(c.fields.get('pre-shared key')!);
      expect(key, c.name).toMatch(/^0x[0-9a-f]{64}$/);
      return key;
    };
    // Quantum-resistant by default: every connection names its PPK, required, and the command
    // that prints it (a secret output of its own).
    for (const c of sheet.connections) {
      const peer = c.name.split('_')[1]!;
      const id = `${[peer, 'r'].sort().join('.')}.${LAB}.ppk`;
      expect([c.fields.get('post-quantum PPK'), c.fields.get('PPK id')], c.name).toEqual([expect.stringMatching(/^RFC 8784, required/), id]);
    }
    const ppkOf = (c: { name: string; fields: ReadonlyMap<string, string> }): string => {
      const key = shell(c.fields.get('PPK')!);
      expect(key, c.name).toMatch(/^0x[0-9a-f]{64}$/);
      expect(key, c.name).not.toBe(secretOf(c));
      return key;
    };
    const conf = swanctlFromSheet(sheet, secretOf, ppkOf);
    lab.writeHostFile('r', '/etc/swanctl/conf.d/from-peer-sheet.conf', conf, 0o600);
    await lab.swanctl('r', ['--load-all', '--noprompt'], { check: true });

    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs).filter((k) => /(^|~)r[~/]/.test(k));
    expect(expected).toHaveLength(8);
    const up = keysUpOnBothEnds(await negotiate(lab, ALL, expected, { timeoutMs: 45_000 })).filter((k) => expected.includes(k));
    expect(up).toEqual(expected);
    // Every IKE_SA of r mixes its pair's PPK into its keys.
    const rSas = (await lab.listSas('r')).filter((sa) => sa.state === 'ESTABLISHED');
    expect(rSas.length).toBeGreaterThanOrEqual(8);
    for (const sa of rSas) expect(quantumProtection(sa), sa.remoteHost).toBe('ppk');
    // r reaches c1 at its public address, through the NAT.
    expect((await saOf('r', lab.host('c1').publicIpv4[0]!)).nat).toContain('nat-remote');
    // The status matrix reads the managed ends only, and judges r's pairs by them.
    const status = JSON.parse(await cliInOperator('status', mesh().inventoryPath, '--ssh-key', lab.sshKeyPath, '--json')).rows as { pair: string; a: { ike: string }; b: { ike: string }; health: string }[];
    const withR = status.filter((row) => /(^|~)r(~|$)/.test(row.pair));
    expect(withR).toHaveLength(8);
    for (const row of withR) {
      const [mine, theirs] = row.pair.startsWith('r~') ? [row.b, row.a] : [row.a, row.b];
      expect([theirs.ike, mine.ike, row.health], row.pair).toEqual(['unmanaged', 'ESTABLISHED', 'ike-only']);
    }
  }, 300_000);
});

/** Runs a command line (the sheet's key command) with the lab stack's environment. */
function shell(command: string): string {
  const r = spawnSync('sh', ['-c', command], { cwd: PROJECT_DIR, env: labPulumiEnv(mesh().lab), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command}: exit ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The CLI in the operator namespace, where the hosts' sshd are reachable. */
async function cliInOperator(...args: string[]): Promise<string> {
  const r = await run('ip', ['netns', 'exec', mesh().lab.operator.netns, 'node', join(PROJECT_DIR, 'dist/components/cli/main.js'), ...args], { cwd: PROJECT_DIR });
  return r.stdout;
}
