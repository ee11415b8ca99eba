import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ExecResult,
  type Lab,
  type LabSpec,
  type ProcessRecord,
  LabAlreadyUpError,
  LabSpecError,
  labStateRoot,
  resolveLabSpec,
  startLab,
  stopLab,
  writeLabInventory,
} from '../../lab/netns/index.js';
import { loadInventoryFile } from '../../components/inventory/index.js';
import { computeHostPairs } from '../../components/topology/index.js';
import { run } from '../../lab/netns/run-command.js';
import { expectNothingLeft, labNamespaces, requireLabPrerequisites, threeHostSpec } from './lab-test-support.js';

// The harness itself: two sites joined by a router, three hosts, sshd and charon on each.

const NAME = 'harness';
const SPEC: LabSpec = threeHostSpec(NAME);

/** The root namespace's interfaces, addresses and routes: the lab must not touch them. */
async function rootNetworkSnapshot(): Promise<string> {
  const parts = await Promise.all(
    [['ip', '-o', 'link'], ['ip', '-o', 'addr'], ['ip', 'route'], ['ip', '-6', 'route']].map(async (argv) => (await run(argv, { check: true })).stdout),
  );
  // Counters and the like change on their own; names, addresses and routes must not.
  return parts.join('\n').replace(/ {2,}/g, ' ');
}

describe('lab spec validation', () => {
  it('fills in addresses, gateways and the operator link', () => {
    const r = resolveLabSpec(SPEC);
    expect(r.hosts.map((h) => [h.name, h.ipv4, h.ipv6])).toEqual([
      ['a', ['198.51.100.10'], ['2001:db8:e::10']],
      ['b', ['198.51.100.11'], ['2001:db8:e::11']],
      ['c', ['203.0.113.10'], ['2001:db8:f::10']],
    ]);
    expect(r.sites.map((s) => [s.ipv4?.gateway, s.ipv6?.gateway])).toEqual([
      ['198.51.100.1', '2001:db8:e::1'],
      ['203.0.113.1', '2001:db8:f::1'],
    ]);
    expect(r.operator.ipv4?.address).toBe('198.51.100.254');
  });

  it('reports every problem, with its path, and refuses addresses outside the lab ranges', () => {
    let err: unknown;
    try {
      resolveLabSpec({
        name: 'bad',
        sites: [
          { name: 'x', ipv4: '192.0.2.0/24' },
          { name: 'y', ipv4: '198.51.100.0/25', ipv6: '2001:db8::/48' },
          { name: 'y', ipv4: '198.51.100.64/26' },
          { name: 'z' },
        ],
        hosts: [
          { name: 'h1', site: 'y', ipv4: ['198.51.100.1'] },
          { name: 'h2', site: 'nowhere' },
          { name: 'h3', site: 'y', ipv6: ['2001:db9::1'] },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LabSpecError);
    const issues = (err as LabSpecError).issues.map((i) => `${i.path}: ${i.message}`);
    expect(issues).toEqual([
      'sites[0].ipv4: "192.0.2.0/24" is outside the lab ranges (198.51.100.0/24, 203.0.113.0/24)',
      'sites[2].name: duplicate site "y"',
      'sites[3]: a site needs an ipv4 or an ipv6 subnet',
      'sites[2].ipv4: 198.51.100.64/26 overlaps 198.51.100.0/25 (sites[1].ipv4)',
      'hosts[0].ipv4[0]: 198.51.100.1 is reserved (network, broadcast or the router\'s 198.51.100.1)',
      'hosts[1].site: unknown site "nowhere"',
      'hosts[2].ipv6[0]: 2001:db9::1 is not in site "y" subnet 2001:db8::/48',
    ]);
  });

  it('rejects unknown keys and bad names', () => {
    expect(() => resolveLabSpec({ name: 'Bad_Name', sites: [{ name: 's', ipv4: '198.51.100.0/24', mtu: 1400 }], hosts: [] })).toThrow(
      /name: must match[\s\S]*sites\[0\]: Unrecognized key: "mtu"[\s\S]*hosts: Too small/,
    );
  });
});

describe('namespace lab: two sites, a router, three hosts', () => {
  let lab: Lab;
  let rootBefore: string;
  let started: ProcessRecord[] = [];

  beforeAll(async () => {
    requireLabPrerequisites();
    await stopLab(NAME); // a previous run that crashed; our own name only
    rootBefore = await rootNetworkSnapshot();
    lab = await startLab(SPEC);
    started = [...lab.processes];
  });

  afterAll(async () => {
    if (lab) await stopLab(NAME).catch(() => undefined);
  });

  it('creates exactly its namespaces and leaves the root namespace untouched', async () => {
    expect(labNamespaces(NAME).sort()).toEqual(['imlab-harness.a', 'imlab-harness.b', 'imlab-harness.c', 'imlab-harness_op', 'imlab-harness_rt', 'imlab-harness_sw']);
    expect(await rootNetworkSnapshot()).toBe(rootBefore);
    // Per host: one holder, one sshd, one charon, all running.
    expect(started.map((p) => `${p.role}:${p.host}`).sort()).toEqual(
      ['a', 'b', 'c'].flatMap((h) => [`charon:${h}`, `holder:${h}`, `sshd:${h}`]).sort(),
    );
  });

  it('puts each host behind its site bridge with a default route via the router', async () => {
    const addr = await lab.exec('c', ['ip', '-br', 'addr', 'show', 'eth0'], { check: true });
    expect(addr.stdout).toMatch(/^eth0@\S+\s+UP\s+203\.0\.113\.10\/26 2001:db8:f::10\/64 fe80::/);
    const routes = await lab.exec('a', ['ip', 'route', 'show', 'default'], { check: true });
    expect(routes.stdout.trim()).toBe('default via 198.51.100.1 dev eth0 onlink');
    const bridges = await lab.execNetns(lab.switchNetns, ['ip', '-br', 'link', 'show', 'type', 'bridge'], { check: true });
    expect(bridges.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0])).toEqual(['br0', 'br1']);
  });

  it('pings within a site directly and across sites through the router, IPv4 and IPv6', async () => {
    const ttl = async (from: string, to: string): Promise<number> => {
      const r = await lab.exec(from, ['ping', '-n', '-c', '1', '-W', '3', to], { check: true });
      return Number(/ttl=(\d+)/.exec(r.stdout)?.[1]);
    };
    expect(await ttl('a', '198.51.100.11')).toBe(64); // same bridge
    expect(await ttl('a', '2001:db8:e::11')).toBe(64);
    expect(await ttl('a', '203.0.113.10')).toBe(63); // one hop: the router
    expect(await ttl('c', '2001:db8:e::10')).toBe(63);
  });

  it('reaches every host over SSH with the lab key and its pinned host key, both families', async () => {
    for (const h of lab.hosts) {
      for (const family of ['ipv4', 'ipv6'] as const) {
        const r = await lab.ssh(h.name, ['ip', '-br', 'addr', 'show', 'eth0'], { family });
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(` ${h[family][0]}/`); // landed on the right host
      }
    }
    // stdin travels (secrets are pushed that way), locally and over SSH.
    expect((await lab.exec('a', ['cat'], { stdin: 'local secret\n', check: true })).stdout).toBe('local secret\n');
    expect((await lab.ssh('c', ['cat'], { stdin: 'remote secret\n', check: true })).stdout).toBe('remote secret\n');
    // The pin is real: with another host's key in known_hosts, ssh refuses.
    const forged = join(lab.stateRoot, 'ssh', 'known_hosts.forged');
    writeFileSync(forged, `${lab.host('a').ipv4[0]} ${lab.host('b').sshHostKey}\n`);
    const argv = lab.sshArgv('a', ['true']).map((x) => (x.startsWith('UserKnownHostsFile=') ? `UserKnownHostsFile=${forged}` : x));
    const refused = await run(argv);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/host key verification failed/i);
  });

  it('gives each host its own /etc/swanctl, /etc/ssh and /run', async () => {
    lab.writeHostFile('a', '/etc/swanctl/conf.d/marker.conf', '# a only\n');
    const onA = await lab.exec('a', ['ls', '/etc/swanctl/conf.d'], { check: true });
    const onB = await lab.exec('b', ['ls', '/etc/swanctl/conf.d'], { check: true });
    expect(onA.stdout.trim()).toBe('marker.conf');
    expect(onB.stdout.trim()).toBe('');
    expect(existsSync('/etc/swanctl/conf.d/marker.conf')).toBe(false);
    for (const h of ['a', 'b', 'c']) {
      const pid = (await lab.exec(h, ['cat', '/run/charon.pid'], { check: true })).stdout.trim();
      expect(Number(pid)).toBe(lab.charonPid(h));
      const hostKey = (await lab.exec(h, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'], { check: true })).stdout;
      expect(hostKey.startsWith(lab.host(h).sshHostKey)).toBe(true);
    }
    // charon kept the machine's plugin configuration and logs to the host's own /var/log.
    const stats = await lab.swanctl('c', ['--stats'], { check: true });
    expect(stats.stdout).toMatch(/loaded plugins: .*\bopenssl\b.*\bkernel-netlink\b.*\bvici\b/);
    expect(lab.charonLog('c')).toMatch(/Starting IKE charon daemon \(strongSwan 5\.9\.\d+/);
  });

  it('stops and restarts one charon by PID, leaving the others alone', async () => {
    const before = { a: lab.charonPid('a'), b: lab.charonPid('b') };
    await lab.stopCharon('a');
    expect(lab.charonPid('a')).toBeUndefined();
    expect((await lab.swanctl('a', ['--stats'])).code).not.toBe(0);
    const pid = await lab.startCharon('a');
    expect(pid).not.toBe(before.a);
    expect(lab.charonPid('b')).toBe(before.b);
    expect((await lab.swanctl('a', ['--stats'])).code).toBe(0);
    started = [...started, ...lab.processes];
  });

  it('writes an inventory of its hosts that ipsec-mesh accepts, with SSH pinned to each sshd key', async () => {
    const file = writeLabInventory(lab, { mesh: { domain: 'lab.example' } });
    const inv = await loadInventoryFile(file);
    expect(inv.hosts.map((h) => [h.name, h.site, h.addresses.ipv4.map((a) => a.address), h.addresses.ipv6.map((a) => a.address)])).toEqual([
      ['a', 'east', ['198.51.100.10'], ['2001:db8:e::10']],
      ['b', 'east', ['198.51.100.11'], ['2001:db8:e::11']],
      ['c', 'west', ['203.0.113.10'], ['2001:db8:f::10']],
    ]);
    expect(inv.hosts.map((h) => h.ssh)).toEqual(lab.hosts.map((h) => ({ host: h.ipv4[0], port: 22, user: 'root', hostKey: h.sshHostKey, insecureAcceptAnyHostKey: false })));
    expect(inv.sites.map((s) => [s.name, s.prefixes])).toEqual([
      ['east', { ipv4: ['198.51.100.0/26'], ipv6: ['2001:db8:e::/64'] }],
      ['west', { ipv4: ['203.0.113.0/26'], ipv6: ['2001:db8:f::/64'] }],
    ]);
    // Default rule: one full mesh, dual-stack.
    expect(computeHostPairs(inv).pairs.map((p) => `${p.key}:${p.families.map((f) => f.family).join('+')}`)).toEqual([
      'a~b:ipv4+ipv6', 'a~c:ipv4+ipv6', 'b~c:ipv4+ipv6',
    ]);
  });

  it('refuses to start a second lab of the same name, and says how to bring it down', async () => {
    const err = await startLab(SPEC).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabAlreadyUpError);
    expect((err as Error).message).toMatch(/lab "harness" is still up .*bring it down first: .*down --name harness/);
    expect(labNamespaces(NAME)).toHaveLength(6); // the refusal touched nothing
  });

  it('comes down completely, and a second down is harmless', async () => {
    const report = await lab.down();
    expect(report.stateRemoved).toBe(true);
    expect(report.netnsDeleted).toHaveLength(6);
    expectNothingLeft(NAME, started);
    expect(await rootNetworkSnapshot()).toBe(rootBefore);
    const again = await stopLab(NAME);
    expect(again.stopped).toEqual([]);
    expect(again.netnsDeleted).toEqual([]);
  });
});

describe('lab CLI', () => {
  it('brings a lab up from a spec file, shows it, refuses a second up, and brings it down', async () => {
    requireLabPrerequisites();
    const name = 'harness-cli';
    await stopLab(name);
    const dir = mkdtempSync(join(tmpdir(), 'imlab-cli-'));
    const spec = join(dir, 'spec.yaml');
    writeFileSync(spec, `name: ${name}\nsites:\n  - {name: east, ipv4: 198.51.100.0/26}\nhosts:\n  - {name: a, site: east}\n  - {name: b, site: east}\n`);
    const cli = (...args: string[]): Promise<ExecResult> => run([process.execPath, '--import', 'tsx', 'lab/netns/cli.ts', ...args]);
    try {
      const up = await cli('up', '--spec', spec);
      expect(up.stderr).toBe('');
      expect(up.stdout).toMatch(/lab "harness-cli" is up in \d+ ms/);
      expect(up.stdout).toContain(`inventory: ${labStateRoot(name)}/inventory.yaml`);
      const status = await cli('status', '--name', name);
      expect(status.stdout).toMatch(/^ {2}a +198\.51\.100\.10 +charon \d+, sshd \d+$/m);
      const again = await cli('up', '--spec', spec);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/lab "harness-cli" is still up/);
      const down = await cli('down', '--spec', spec);
      expect(down.stdout).toMatch(/lab "harness-cli" is down: 6 process\(es\) stopped, 0 stray\(s\), 5 namespace\(s\) deleted, state removed/);
      expectNothingLeft(name, []);
    } finally {
      await stopLab(name);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a lab that fails half-way', () => {
  it('undoes everything it made before reporting the failure', async () => {
    requireLabPrerequisites();
    const name = 'harness-fail';
    await stopLab(name);
    const err = await startLab({ ...SPEC, name }, { strongswanD: '/nonexistent/strongswan.d' }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/nonexistent/);
    expectNothingLeft(name, []);
    expect(existsSync(labStateRoot(name))).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('ipsec-mesh-lab/harness-fail');
  });
});
