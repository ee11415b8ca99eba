import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { type DeliveryBundle, encodePayload, pushScript, removeScript } from '../../components/delivery/index.js';
import { type Inventory, parseInventory } from '../../components/inventory/index.js';
import { type HostConfigDescription, describeHostConfig, meshFilePaths, renderHostConfig, renderPskSecrets } from '../../components/render/index.js';
import { computeHostPairs, pairsForHost, peerOf } from '../../components/topology/index.js';
import { type ExecResult, type Lab, type LabSpec, type ProcessRecord, labInventory, startLab, stopLab, waitFor } from '../../lab/netns/index.js';
import { hostStat, sshRun } from './delivery-ssh.js';
import { expectNothingLeft, labPpkFiles, requireLabPrerequisites, threeHostSpec } from './lab-test-support.js';

// The exact delivery command strings and stdin payloads the components hand to
// remote.Command, run over real SSH (pinned host keys) on three namespace hosts with their
// own sshd and charon: PSK mode, the real renderer and topology. Kernel without ESP: IKE_SAs
// are real, CHILD_SAs are not installed (docs/lab.md), which is all delivery needs.

const NAME = 'dlv';
const MESH = 'dlv';
const MASTER = 'ipsec-mesh delivery lab test master secret (32+ bytes)';
const SPEC: LabSpec = threeHostSpec(NAME);
const HOSTS = ['a', 'b', 'c'] as const;
const ROOTS = ['/etc/swanctl', '/etc/strongswan.d', '/etc/sysctl.d', '/etc/logrotate.d'];
const STATE = `/etc/swanctl/.ipsec-mesh-state.${MESH}`;
/** The connections a push kept from the one before (read by the rollout gate). */
const BEFORE = `/etc/swanctl/.ipsec-mesh-before.${MESH}`;

// What the operator had on each host before ipsec-mesh came: it must survive everything.
const OPERATOR_CONF = '/etc/swanctl/conf.d/operator.conf';
const OPERATOR_CONF_TEXT = `connections {
  operator-vpn {
    remote_addrs = 203.0.113.60
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    children {
      operator-vpn {
      }
    }
  }
}
`;
const OPERATOR_SYSCTL = '/etc/sysctl.d/99-operator.conf';

interface HostPlan {
  readonly bundle: DeliveryBundle;
  readonly payload: string;
  readonly desc: HostConfigDescription;
  readonly secrets: readonly string[];
}

function inventory(lab: Lab, hosts?: readonly string[]): Inventory {
  return parseInventory(labInventory(lab, { mesh: { name: MESH, domain: 'lab.example', auth: 'psk' }, ...(hosts && { hosts }) }), `lab ${lab.name}`);
}

/** What the components would hand to host `name`'s push: rendered files + PSK secrets. */
function plan(inv: Inventory, name: string): HostPlan {
  const set = computeHostPairs(inv);
  const host = inv.hosts.find((h) => h.name === name)!;
  const pairs = pairsForHost(set, name);
  const secrets = pairs.map((p) => derivePairPsk(MASTER, MESH, p.a, p.b));
  // monitor: false — the liveness monitor is pushed and checked in tests/lab/operations-*.
  // No systemd on namespace hosts: the push would skip the backstop's boot unit, so it is left out here.
  const files = [...renderHostConfig({ inventory: inv, host, pairs, monitor: false }).filter((f) => !f.path.startsWith('/etc/systemd/')), renderPskSecrets({ inventory: inv, host, pairs, pskFor: (p) => derivePairPsk(MASTER, MESH, p.a, p.b) }), ...labPpkFiles(inv, host, pairs, MASTER)];
  const desc = describeHostConfig({ inventory: inv, host, pairs });
  const bundle: DeliveryBundle = { host: name, mesh: MESH, files, connections: [...desc.connections, desc.bypassConnection] };
  return { bundle, payload: encodePayload(bundle), desc, secrets };
}

const push = (host: string, phase: 'create' | 'update' = 'update'): string => pushScript({ host, mesh: MESH, phase });
const remove = (host: string): string => removeScript({ host, mesh: MESH });

function expectOk(r: ExecResult): ExecResult {
  expect(r.code, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
  return r;
}

/** Every file below the allowed roots whose name says ipsec-mesh (the state file included). */
function meshFiles(lab: Lab, host: string): string[] {
  const out: string[] = [];
  const walk = (onHost: string): void => {
    for (const e of readdirSync(lab.hostFile(host, onHost), { withFileTypes: true })) {
      const p = `${onHost}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.name.includes('ipsec-mesh')) out.push(p);
    }
  };
  for (const r of ROOTS) walk(r);
  return out.sort();
}

/** `host:connection` → unique id of its IKE_SA (ESTABLISHED only). */
async function saIds(lab: Lab, hosts: readonly string[] = HOSTS): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const h of hosts) {
    for (const sa of await lab.listSas(h)) {
      expect(sa.state, `${h}:${sa.name}`).toBe('ESTABLISHED');
      expect(m.has(`${h}:${sa.name}`), `duplicate IKE_SA ${h}:${sa.name}`).toBe(false);
      m.set(`${h}:${sa.name}`, sa.uniqueId);
    }
  }
  return m;
}

async function connNames(lab: Lab, host: string): Promise<string[]> {
  return (await lab.listConns(host)).map((c) => c.name).sort();
}

describe('delivery over real SSH to 3 namespace hosts (PSK)', () => {
  let lab: Lab;
  let started: ProcessRecord[] = [];
  let inv: Inventory;
  const plans = new Map<string, HostPlan>();
  let ids: Map<string, number>;
  let charonPids: (number | undefined)[];
  const remember = (): void => {
    started = [...started, ...lab.processes];
  };

  beforeAll(async () => {
    requireLabPrerequisites();
    await stopLab(NAME);
    lab = await startLab(SPEC);
    remember();
    for (const h of HOSTS) {
      lab.writeHostFile(h, OPERATOR_CONF, OPERATOR_CONF_TEXT);
      lab.writeHostFile(h, OPERATOR_SYSCTL, '# the operator\'s own kernel settings\n');
      expectOk(await lab.swanctl(h, ['--load-all']));
    }
    inv = inventory(lab);
    for (const h of HOSTS) plans.set(h, plan(inv, h));
  });

  afterAll(async () => {
    if (!lab) return;
    remember();
    await stopLab(NAME);
    expectNothingLeft(NAME, started);
  });

  it('push (create) installs every file with its mode, root-owned, loads the connections, says nothing secret', async () => {
    for (const h of HOSTS) {
      const p = plans.get(h)!;
      const cmd = push(h, 'create');
      for (const s of p.secrets) expect(cmd).not.toContain(s);
      const r = expectOk(await sshRun(lab, h, cmd, p.payload));
      // 6 files: swanctl, strongswan.d, sysctl, backstop, PSKs and PPKs (post-quantum keys are on by default).
      expect(r.stdout).toMatch(new RegExp(`^${h}: mesh ${MESH}: 7 file\\(s\\) written, 0 unchanged, 0 removed; ${p.bundle.connections.length} connection\\(s\\) configured; require backstop loaded \\(inet ipsec-mesh_${MESH}\\); 0 orphaned IKE_SA\\(s\\) closed; 0 IKE_SA\\(s\\) of 0 changed connection\\(s\\) closed \\(0 new first\\); strongSwan reloaded \\(successfully loaded ${p.desc.connections.length + 2} connections, 0 unloaded\\)\\n$`));
      for (const s of p.secrets) {
        expect(r.stdout).not.toContain(s);
        expect(r.stderr).not.toContain(s);
      }
      for (const f of p.bundle.files) {
        expect(lab.readHostFile(h, f.path), f.path).toBe(f.content);
        expect(hostStat(lab, h, f.path), f.path).toMatchObject({ mode: f.secret ? 0o600 : 0o644, uid: 0, gid: 0 });
      }
      const paths = meshFilePaths(inv.mesh, inv.hosts.find((x) => x.name === h)!);
      expect(hostStat(lab, h, paths.pskSecrets).mode).toBe(0o600);
      expect(meshFiles(lab, h)).toEqual([...p.bundle.files.map((f) => f.path), STATE, BEFORE].sort());
      expect(await connNames(lab, h)).toEqual([...p.bundle.connections, 'operator-vpn'].sort());
      expect(lab.readHostFile(h, OPERATOR_CONF)).toBe(OPERATOR_CONF_TEXT);
    }
  });

  it('the pushed PSKs establish an IKE_SA for every pair and family', async () => {
    const set = computeHostPairs(inv);
    for (const pair of set.pairs) {
      for (const f of pair.families) {
        const conn = plans.get(pair.a)!.desc.connections.find((c) => c.includes(`_${pair.b}_`) && c.endsWith(f.family === 'ipv4' ? '_v4' : '_v6'))!;
        const r = await lab.swanctl(pair.a, ['--initiate', '--ike', conn]);
        expect(r.stdout, `${pair.a} ${conn}`).toMatch(/IKE_SA \S+ established between/);
        expect(r.stdout).toContain('with pre-shared key successful');
      }
    }
    ids = await saIds(lab);
    expect(ids.size).toBe(12); // 3 pairs × 2 families × 2 ends
    charonPids = HOSTS.map((h) => lab.charonPid(h));
    expect(charonPids.every((p) => p !== undefined)).toBe(true);
  });

  it('a second push with the same payload is a no-op: same files (inodes), same IKE_SAs (unique ids), same charon', async () => {
    for (const h of HOSTS) {
      const p = plans.get(h)!;
      const before = p.bundle.files.map((f) => hostStat(lab, h, f.path).ino);
      const r = expectOk(await sshRun(lab, h, push(h), p.payload));
      expect(r.stdout).toContain('0 file(s) written, 7 unchanged, 0 removed');
      expect(r.stdout).toContain('0 orphaned IKE_SA(s) closed');
      expect(p.bundle.files.map((f) => hostStat(lab, h, f.path).ino)).toEqual(before);
    }
    expect(await saIds(lab)).toEqual(ids);
    expect(HOSTS.map((h) => lab.charonPid(h))).toEqual(charonPids);
  });

  it('rolls back a config strongSwan refuses (invalid proposal): fails with its message, old files back, old SAs kept', async () => {
    const p = plans.get('a')!;
    const conf = p.bundle.files.find((f) => f.path.includes('/conf.d/') && !f.secret)!;
    expect(conf.content).toMatch(/proposals = aes256gcm16-prfsha384-ecp384/);
    const broken: DeliveryBundle = {
      ...p.bundle,
      files: p.bundle.files.map((f) => (f === conf ? { ...f, content: f.content.replace(/proposals = aes256gcm16-prfsha384-ecp384/, 'proposals = aes256gcm16-prfsha384-nosuchgroup') } : f)),
    };
    const before = p.bundle.files.map((f) => [f.path, lab.readHostFile('a', f.path), hostStat(lab, 'a', f.path)] as const);
    const r = await sshRun(lab, 'a', push('a'), encodePayload(broken));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('a: applying the new configuration failed; the previous configuration was restored and reloaded. strongSwan said:');
    expect(r.stderr).toMatch(/^a: loading connection '[^']+' failed: invalid value for: proposals, config discarded$/m);
    expect(p.bundle.files.map((f) => [f.path, lab.readHostFile('a', f.path), hostStat(lab, 'a', f.path)] as const)).toEqual(before);
    expect(await connNames(lab, 'a')).toEqual([...p.bundle.connections, 'operator-vpn'].sort());
    expect(await saIds(lab)).toEqual(ids);
    expect(HOSTS.map((h) => lab.charonPid(h))).toEqual(charonPids);
  });

  it('rolls back a config strongSwan cannot parse (swanctl exits 0 and unloads everything): trap SAs survive', async () => {
    const p = plans.get('b')!;
    const conf = p.bundle.files.find((f) => f.path.includes('/conf.d/') && !f.secret)!;
    const broken: DeliveryBundle = { ...p.bundle, files: p.bundle.files.map((f) => (f === conf ? { ...f, content: `${f.content}\nconnections {\n` } : f)) };
    const r = await sshRun(lab, 'b', push('b'), encodePayload(broken));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^b: invalid config file '\/etc\/swanctl\/swanctl.conf'$/m);
    expect(lab.readHostFile('b', conf.path)).toBe(conf.content);
    expect(await connNames(lab, 'b')).toEqual([...p.bundle.connections, 'operator-vpn'].sort());
    expect(await saIds(lab)).toEqual(ids);
  });

  it('removing a host from the mesh closes its SAs on the peers; its own delete leaves only what the operator had', async () => {
    const smaller = inventory(lab, ['a', 'b']);
    for (const h of ['a', 'b']) {
      const p = plan(smaller, h);
      const r = expectOk(await sshRun(lab, h, push(h), p.payload));
      expect(r.stdout).toContain('2 orphaned IKE_SA(s) closed'); // v4 and v6 to c
      expect(await connNames(lab, h)).toEqual([...p.bundle.connections, 'operator-vpn'].sort());
      plans.set(h, p);
    }
    // The a–b SAs are untouched; c's SAs were closed by the DELETEs a and b sent.
    const kept = new Map([...ids].filter(([k]) => !k.startsWith('c:') && !k.includes('_c_')));
    expect(kept.size).toBe(4);
    const settled = await waitFor(async () => ((await lab.listSas('c')).length === 0 ? true : undefined), 10_000, 50);
    expect(settled, 'c still has IKE_SAs').toBe(true);
    expect(await saIds(lab)).toEqual(kept);

    const r = expectOk(await sshRun(lab, 'c', remove('c'), plans.get('c')!.payload));
    expect(r.stdout).toMatch(/^c: mesh dlv: 7 file\(s\) removed; connections unloaded; 0 IKE_SA\(s\) closed/);
    expect(meshFiles(lab, 'c')).toEqual([]);
    expect(await connNames(lab, 'c')).toEqual(['operator-vpn']);
    expect(lab.readHostFile('c', OPERATOR_CONF)).toBe(OPERATOR_CONF_TEXT);
    expect(lab.readHostFile('c', OPERATOR_SYSCTL)).toContain('operator');
    expect(lab.charonPid('c')).toBe(charonPids[2]);
    // A delete that runs again (or after a partial create) is a no-op.
    expect(expectOk(await sshRun(lab, 'c', remove('c'))).stdout).toContain('nothing recorded on this host; nothing to remove');
  });

  it('a replacement (create before delete) keeps the mesh; the last delete removes it and closes its SAs', async () => {
    const p = plans.get('b')!;
    expectOk(await sshRun(lab, 'b', push('b', 'create'), p.payload));
    expect(lab.readHostFile('b', STATE)).toMatch(/^N 2$/m);
    const old = expectOk(await sshRun(lab, 'b', remove('b'), p.payload));
    expect(old.stdout).toContain('1 other instance(s) still own the files; nothing removed');
    expect(meshFiles(lab, 'b')).toEqual([...p.bundle.files.map((f) => f.path), STATE, BEFORE].sort());
    expect(await saIds(lab, ['a', 'b'])).toEqual(new Map([...ids].filter(([k]) => !k.startsWith('c:') && !k.includes('_c_'))));

    for (const h of ['a', 'b']) {
      const r = expectOk(await sshRun(lab, h, remove(h), plans.get(h)!.payload));
      expect(r.stdout).toMatch(new RegExp(`^${h}: mesh dlv: 7 file\\(s\\) removed; connections unloaded; \\d IKE_SA\\(s\\) closed`));
      expect(meshFiles(lab, h)).toEqual([]);
      expect(await connNames(lab, h)).toEqual(['operator-vpn']);
      expect(lab.readHostFile(h, OPERATOR_CONF)).toBe(OPERATOR_CONF_TEXT);
    }
    const none = await waitFor(async () => ((await saIds(lab)).size === 0 ? true : undefined), 10_000, 50);
    expect(none, 'IKE_SAs left after the deletes').toBe(true);
    expect(HOSTS.map((h) => lab.charonPid(h))).toEqual(charonPids);
    // sysctl values stay in the kernel until reboot (documented); the files are gone.
    for (const h of HOSTS) expect(readFileSync(lab.hostFile(h, OPERATOR_SYSCTL), 'utf8')).toContain('operator');
  });
});
