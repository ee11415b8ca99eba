// `ipsec-mesh check` (the Nagios/Icinga plugin) and `status --json` against a mesh the real
// engine deployed on namespace hosts: each exit code from a real cause — every pair up (OK),
// host certificates with 10 days left (WARNING at the default 14), a pair torn down
// (CRITICAL), charon stopped (CRITICAL), a host whose sshd is gone (UNKNOWN). The lab
// kernel has no ESP, so pairs are judged at --expect ike (docs/lab.md).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHARON_LOG_PATH, LOGROTATE_CONF_PATH } from '../../components/render/file-paths.js';
import { PROJECT_DIR } from '../../lab/lab-pulumi.js';
import { threeHostSpec } from './lab-test-support.js';
import { e2eMeshForFile, expectedPairKeys, keysUpOnBothEnds, negotiate, terminateAllSas } from './pulumi-support.js';

const LAB = 'e2e-check';
const HOSTS = ['a', 'b', 'c'];
// `use`: the initiators keep every pair up by themselves. 240-hour certificates: 10 days left.
const mesh = e2eMeshForFile(
  threeHostSpec(LAB),
  { mesh: { domain: 'lab.example', enforcement: 'use' } },
  { certificateValidityHours: '240', certificateRenewBeforeHours: '24' },
);

interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI from the operator namespace (where `pulumi up` runs); any exit code is a result. */
function cli(...args: string[]): Promise<CliRun> {
  const lab = mesh().lab;
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', lab.operator.netns, 'node', join(PROJECT_DIR, 'dist/components/cli/main.js'), ...args],
      { cwd: PROJECT_DIR },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

const check = (...extra: string[]): Promise<CliRun> => cli('check', mesh().inventoryPath, '--ssh-key', mesh().lab.sshKeyPath, '--expect', 'ike', ...extra);
const perf = (r: CliRun): Record<string, string> => Object.fromEntries(r.stdout.split('\n')[0]!.split(' | ')[1]!.split(' ').map((p) => p.split('=') as [string, string]));
const show = (r: CliRun): string => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

/** Every pair started again by its initiator (the name that sorts first), from nothing. */
async function restartPairs(): Promise<void> {
  const lab = mesh().lab;
  await terminateAllSas(lab, HOSTS);
  for (const [initiator, peer] of [['a', 'b'], ['a', 'c'], ['b', 'c']] as const) {
    for (const v of ['v4', 'v6']) await lab.swanctl(initiator, ['--initiate', '--ike', `${LAB}_${peer}_${v}`, '--child', `${LAB}_${peer}_${v}`, '--timeout', '10']);
  }
  await allPairsUp();
}

async function allPairsUp(): Promise<void> {
  const { pairs } = await mesh().pairs();
  const expected = expectedPairKeys(pairs);
  expect(keysUpOnBothEnds(await negotiate(mesh().lab, HOSTS, expected, { timeoutMs: 30_000 }))).toEqual(expected);
}

describe('ipsec-mesh check and status --json against a deployed mesh', () => {
  it('OK with every pair up and certificates outside the thresholds; WARNING with 10 days left at the defaults', async () => {
    await mesh().up();
    await allPairsUp();
    const ok = await check('--cert-warning', '5', '--cert-critical', '2');
    expect(ok.code, show(ok)).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^IPSEC-MESH OK - mesh ${LAB}: 6 of 6 pair rows up, certificates good for (9|10) more days \\| `));
    expect(perf(ok)).toMatchObject({ pairs_up: '6;;;0;6', pairs_down: '0;1;1;0;6', hosts_unreachable: '0;;;0' });
    expect(Number(perf(ok).cert_days_left!.split(';')[0])).toBeGreaterThan(9.5);
    expect(ok.stdout.trim().split('\n')).toHaveLength(1);
    // Progress goes to stderr, never into the plugin output.
    expect(ok.stderr).toContain('ipsec-mesh: check: 6/6 answer(s) from 3 host(s)');

    const warn = await check();
    expect(warn.code, show(warn)).toBe(1);
    expect(warn.stdout).toMatch(new RegExp(`^IPSEC-MESH WARNING - mesh ${LAB}: host certificate of [abc] expires in (9|10)\\.\\d days \\| `));
    expect(warn.stdout).toMatch(/^CERT [abc] host CN=[abc]\.(east|west)\.lab\.example: notAfter /m);
    expect(perf(warn).cert_days_left).toMatch(/;14;7$/);
  }, 300_000);

  it('CRITICAL when a pair is down, for the mesh and for either end; not for a host outside it', async () => {
    const lab = mesh().lab;
    // Torn down by its initiator itself: no close_action restarts it, no timer runs here.
    await lab.swanctl('a', ['--terminate', '--ike', `${LAB}_b_v4`], { check: true });
    const crit = await check('--cert-warning', '5', '--cert-critical', '2');
    expect(crit.code, show(crit)).toBe(2);
    expect(crit.stdout.split('\n')[0]).toMatch(new RegExp(`^IPSEC-MESH CRITICAL - mesh ${LAB}: 1 of 6 pair rows down \\(a~b ipv4\\) \\| `));
    expect(crit.stdout).toContain('DOWN a~b ipv4 (use): a none/none, b none/none — traffic in CLEARTEXT');
    expect(perf(crit)).toMatchObject({ pairs_up: '5;;;0;6', pairs_down: '1;1;1;0;6', cleartext: '6;;;0' });
    expect((await check('--host', 'b', '--cert-warning', '5', '--cert-critical', '2')).code).toBe(2);
    const c = await check('--host', 'c', '--cert-warning', '5', '--cert-critical', '2');
    expect(c.code, show(c)).toBe(0);
    expect(c.stdout).toMatch(new RegExp(`^IPSEC-MESH OK - c in mesh ${LAB}: 4 of 4 pair rows up`));

    await lab.swanctl('a', ['--initiate', '--ike', `${LAB}_b_v4`, '--child', `${LAB}_b_v4`, '--timeout', '10']);
    await allPairsUp();
    expect((await check('--cert-warning', '5', '--cert-critical', '2')).code).toBe(0);
  }, 300_000);

  it('CRITICAL when charon is down on a host SSH still reaches', async () => {
    const lab = mesh().lab;
    await lab.stopCharon('c');
    try {
      const r = await check('--cert-warning', '5', '--cert-critical', '2');
      expect(r.code, show(r)).toBe(2);
      expect(r.stdout.split('\n')[0]).toContain('charon not answering on c');
      expect(r.stdout).toMatch(/^CHARON c: /m);
    } finally {
      // As strongswan.service does: charon, then the configuration.
      await lab.startCharon('c');
      await lab.swanctl('c', ['--load-all', '--noprompt'], { check: true });
    }
    await restartPairs();
    expect((await check('--cert-warning', '5', '--cert-critical', '2')).code).toBe(0);
  }, 300_000);

  it('UNKNOWN when a host cannot be reached over SSH: its pairs are not judged', async () => {
    const lab = mesh().lab;
    await lab.stopSshd('c');
    try {
      const r = await check('--cert-warning', '5', '--cert-critical', '2');
      expect(r.code, show(r)).toBe(3);
      expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^IPSEC-MESH UNKNOWN - mesh ${LAB}: 1 host\\(s\\) unreachable over SSH \\(c\\) \\| `));
      expect(r.stdout).toMatch(/^UNREACHABLE c: /m);
      expect(perf(r)).toMatchObject({ pairs_up: '2;;;0;6', pairs_down: '0;1;1;0;6', hosts_unreachable: '1;;;0' });
      // Bad input is UNKNOWN too, as the plugin guidelines ask.
      const bad = await check('--down-critical', 'many');
      expect([bad.code, bad.stdout]).toEqual([3, 'IPSEC-MESH UNKNOWN - --down-critical takes a whole number of at least 1, got "many"\n']);
    } finally {
      await lab.startSshd('c');
    }
  }, 300_000);

  it('the charon log the push configured rotates with the pushed logrotate file, and charon writes on into the new one', async () => {
    const lab = mesh().lab;
    const before = lab.readHostFile('a', CHARON_LOG_PATH);
    expect(before.length, 'charon writes the mesh log').toBeGreaterThan(0);
    expect(lab.readHostFile('a', LOGROTATE_CONF_PATH)).toContain(`${CHARON_LOG_PATH} {`);
    const r = await lab.exec('a', ['logrotate', '-f', '-s', '/run/ipsec-mesh-logrotate.state', LOGROTATE_CONF_PATH]);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    const rotated = lab.readHostFile('a', `${CHARON_LOG_PATH}.1`);
    expect(rotated.startsWith(before.slice(0, 200))).toBe(true);
    // Anything charon logs now lands in the new file: it reopened it on --reload-settings.
    await lab.swanctl('a', ['--terminate', '--ike', `${LAB}_c_v6`], { check: true });
    await lab.swanctl('a', ['--initiate', '--ike', `${LAB}_c_v6`, '--child', `${LAB}_c_v6`, '--timeout', '10']);
    expect(existsSync(lab.hostFile('a', CHARON_LOG_PATH)), 'a new log file').toBe(true);
    expect(lab.readHostFile('a', CHARON_LOG_PATH)).toMatch(/deleting IKE_SA|initiating IKE_SA/);
    expect(lab.readHostFile('a', `${CHARON_LOG_PATH}.1`), 'the rotated file is left alone').toBe(rotated);
    await allPairsUp();
  }, 300_000);

  it('status --json: one versioned object (summary, rows, hosts, certificates); progress on stderr only', async () => {
    const r = await cli('status', mesh().inventoryPath, '--ssh-key', mesh().lab.sshKeyPath, '--json', '--certificates', '--expect', 'ike');
    expect(r.code, show(r)).toBe(0);
    const json = JSON.parse(r.stdout) as {
      schema: string;
      mesh: string;
      expect: string;
      belowExpect: number;
      summary: { rows: number; byHealth: Record<string, number> };
      rows: { pair: string; health: string }[];
      hosts: { host: string; read: boolean; unreachable: boolean }[];
      certificates: { host: string; certificates: { role: string; secondsLeft: number }[] }[];
    };
    expect(json).toMatchObject({ schema: 'ipsec-mesh.status/v1', mesh: LAB, expect: 'ike', belowExpect: 0, summary: { rows: 6, byHealth: { 'ike-only': 6 } } });
    expect(json.rows.map((x) => `${x.pair}/${x.health}`).sort()).toEqual(['a~b/ike-only', 'a~b/ike-only', 'a~c/ike-only', 'a~c/ike-only', 'b~c/ike-only', 'b~c/ike-only']);
    expect(json.hosts).toEqual(HOSTS.map((host) => ({ host, read: true, unreachable: false })));
    for (const h of json.certificates) expect(h.certificates.find((c) => c.role === 'host')?.secondsLeft, h.host).toBeGreaterThan(9 * 86_400);
    expect(r.stderr).toContain('ipsec-mesh: status: querying 3 host(s) over SSH');
    expect(r.stderr).toMatch(/ipsec-mesh: status: 6\/6 answer\(s\) from 3 host\(s\) \(\d+\.\d s\)/);
  }, 300_000);
});
