// vm guests with systemd as PID 1 (`startVmLab(spec, { init: 'systemd' })`, docs/vm-lab.md),
// for what busybox init cannot run: the product's own units. First what the guests must give:
// systemd running with no failed unit, what ipsec-mesh's push takes for "systemd runs"
// (/run/systemd/system and systemctl), charon up, a journal. Then the liveness monitor as the
// push installs it (docs/operations.md): a service systemd keeps running — killed, it is back
// within seconds and its metrics resume; stopped, it stays stopped — logging to the journal.
//
// Needs root and qemu-system-x86 (scripts/install-system-deps.sh --vm); the guest image is
// built on first use. Anything missing fails the file with a message; nothing is skipped.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushScript } from '../../components/delivery/index.js';
import { parseInventory } from '../../components/inventory/index.js';
import { monitorPaths } from '../../components/operations/monitor-script.js';
import { type LabSpec, type ProcessRecord, labInventory, waitFor } from '../../lab/netns/index.js';
import { run } from '../../lab/netns/run-command.js';
import { type VmLab, ensureGuestImage, missingVmPrerequisites, startVmLab, stopVmLab } from '../../lab/vm/index.js';
import { expectNothingLeft, pskPushPayload } from './lab-test-support.js';

const NAME = 'vmsd';
const HOST = 'h1';
const PEER = 'h2';
const MESH = 'vmsd';
const MASTER = 'ipsec-mesh vm systemd lab test master secret (32+ bytes)';
const P = monitorPaths(MESH);
const spec: LabSpec = {
  name: NAME,
  sites: [{ name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' }],
  hosts: [
    { name: HOST, site: 'east' },
    { name: PEER, site: 'east' },
  ],
};

let lab: VmLab;

/** Runs a shell line on the guest; its stdout, trimmed (the exit code is the caller's to check). */
async function sh(line: string): Promise<{ code: number | null; out: string }> {
  const r = await lab.exec(HOST, ['sh', '-c', line], { timeoutMs: 60_000 });
  return { code: r.code, out: `${r.stdout}${r.code === 0 ? '' : r.stderr}`.trim() };
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the vm tier needs root (network namespaces, tap devices, the image build)');
  const image = await ensureGuestImage({ onProgress: (l) => console.log(l) });
  const missing = missingVmPrerequisites();
  if (missing.length) throw new Error(`the vm tier cannot run here:\n  - ${missing.join('\n  - ')}`);
  await stopVmLab(NAME).catch(() => undefined); // what an interrupted run left
  const t0 = Date.now();
  lab = await startVmLab(spec, { image, init: 'systemd', bootParallel: 2, onProgress: (m) => console.log(m) });
  console.log(`vm-systemd: ${HOST}, ${PEER} (init systemd) answer SSH ${((Date.now() - t0) / 1000).toFixed(1)} s after the lab started`);
}, 600_000);

/** The product's push over the lab's SSH (pinned host key): the mesh with its monitor, PSKs, `use`. */
async function pushMesh(): Promise<void> {
  const inv = parseInventory(labInventory(lab, { mesh: { name: MESH, domain: 'lab.example', auth: 'psk', enforcement: 'use' } }), `lab ${NAME}`);
  for (const h of [PEER, HOST]) {
    const payload = pskPushPayload(inv, h, MASTER);
    const argv = lab.sshArgv(h, []);
    argv[argv.length - 1] = pushScript({ host: h, mesh: MESH, phase: 'create' });
    const r = await run(argv, { stdin: payload, timeoutMs: 180_000, context: `push to ${h}` });
    expect(r.code, `push to ${h}: exit ${r.code}\n${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr, 'units installed: systemd runs').not.toContain('systemd is not running');
  }
}

/** `systemctl show` properties of the monitor service on the guest. */
async function monitorUnit(): Promise<Record<string, string>> {
  const out = (await sh(`systemctl show -p ActiveState,SubState,MainPID,NRestarts,Restart,UnitFileState,Result ${P.serviceUnit}`)).out;
  return Object.fromEntries(out.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** The monitor's last run, from its metrics file (where it went: no node exporter on the guest). */
async function lastRun(): Promise<number | undefined> {
  const r = await sh(`cat "$(cat ${P.stateDir}/metrics-dir)/${P.metricsFile}"`);
  const line = r.out.split('\n').find((l) => l.startsWith('ipsec_mesh_monitor_last_run_timestamp_seconds{'));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

afterAll(async () => {
  if (!lab) return;
  const processes: readonly ProcessRecord[] = lab.processes;
  const report = await stopVmLab(NAME);
  expect(report.stateRemoved).toBe(true);
  expectNothingLeft(NAME, processes);
}, 120_000);

describe('vm guest with init systemd', () => {
  it('PID 1 is systemd, the system is running with no failed unit, and the push would see systemd', async () => {
    expect(lab.init).toBe('systemd');
    expect((await sh('cat /proc/1/comm')).out).toBe('systemd');
    // sshd is the last unit of the boot, yet a job may still be finishing: wait out "starting".
    let state = '';
    await waitFor(async () => {
      state = (await sh('systemctl is-system-running')).out;
      return state === 'initializing' || state === 'starting' ? undefined : true;
    }, 60_000, 500);
    const failed = (await sh('systemctl --failed --no-legend --plain --no-pager')).out;
    expect(state, `systemctl is-system-running (failed units: ${failed || 'none'})`).toBe('running');
    // components/delivery/remote-shell.ts systemd_up(): how ipsec-mesh's push decides.
    expect((await sh('[ -d /run/systemd/system ] && command -v systemctl')).code).toBe(0);
    expect((await sh('systemctl is-active imlab-boot.service imlab-sshd.service')).out.split('\n')).toEqual(['active', 'active']);
  });

  it('charon is up: started by imlab-boot.service, and swanctl reaches it over vici', async () => {
    const stats = await sh('swanctl --stats');
    expect(stats.code, stats.out).toBe(0);
    expect(stats.out).toMatch(/^uptime: /m);
    const pid = await lab.charonPid(HOST);
    expect(pid).toBeDefined();
    // KillMode=process: charon outlives the oneshot script that started it, in its unit's cgroup.
    expect((await sh(`cat /proc/${pid}/cgroup`)).out).toContain('/system.slice/imlab-boot.service');
  });

  it('journald works: a line sent with systemd-cat comes back from journalctl', async () => {
    const word = `imlab-probe-${randomBytes(6).toString('hex')}`;
    expect((await sh(`systemd-cat -t imlab-probe echo ${word}`)).code).toBe(0);
    let journal = '';
    const found = await waitFor(async () => {
      journal = (await sh('journalctl -t imlab-probe --no-pager -o cat')).out;
      return journal.includes(word) ? true : undefined;
    }, 20_000, 500);
    expect(found, `journalctl -t imlab-probe:\n${journal}`).toBe(true);
  });
});

describe('the liveness monitor under systemd (the push installs it)', () => {
  it('runs as an enabled service with Restart=always; each run writes metrics and a journal line', async () => {
    await pushMesh();
    const unit = await monitorUnit();
    expect(unit).toMatchObject({ ActiveState: 'active', SubState: 'running', Restart: 'always', UnitFileState: 'enabled' });
    expect((await sh(`systemctl is-enabled ${P.serviceUnit}`)).out).toBe('enabled');
    const ran = await waitFor(async () => ((await lastRun()) !== undefined ? true : undefined), 60_000, 500);
    expect(ran, 'metrics written').toBe(true);
    let journal = '';
    await waitFor(async () => {
      journal = (await sh(`journalctl -u ${P.serviceUnit} --no-pager -o cat`)).out;
      return /monitor: 2 connection\(s\)/.test(journal) ? true : undefined;
    }, 60_000, 500);
    expect(journal).toContain(`${HOST}: mesh ${MESH} monitor: running every 30 s`);
    expect(journal).toMatch(new RegExp(`${HOST}: mesh ${MESH} monitor: 2 connection\\(s\\): `));
  }, 300_000);

  it('killed (SIGKILL), systemd brings it back within seconds and its metrics resume', async () => {
    const before = await monitorUnit();
    const restarts = Number(before.NRestarts);
    const killedAt = Number((await sh('date +%s')).out);
    expect((await sh(`systemctl kill -s KILL ${P.serviceUnit}`)).code).toBe(0);
    let now: Record<string, string> = {};
    const back = await waitFor(async () => {
      now = await monitorUnit();
      return now.ActiveState === 'active' && Number(now.NRestarts) > restarts && now.MainPID !== '0' && now.MainPID !== before.MainPID ? true : undefined;
    }, 60_000, 500);
    expect(back, `after the kill: ${JSON.stringify(now)}`).toBe(true);
    let last: number | undefined;
    const resumed = await waitFor(async () => {
      last = await lastRun();
      return last !== undefined && last > killedAt ? true : undefined;
    }, 60_000, 500);
    expect(resumed, `last run ${last} not after the kill at ${killedAt}`).toBe(true);
    const journal = (await sh(`journalctl -u ${P.serviceUnit} --no-pager -o cat`)).out;
    expect(journal.match(/monitor: running every 30 s/g)?.length ?? 0, journal).toBeGreaterThanOrEqual(2);
  }, 300_000);

  it('stopped, it stays stopped (no restart loop); started, it runs again', async () => {
    const restarts = Number((await monitorUnit()).NRestarts);
    expect((await sh(`systemctl stop ${P.serviceUnit}`)).code).toBe(0);
    await new Promise((r) => setTimeout(r, 8_000)); // longer than RestartSec
    expect(await monitorUnit()).toMatchObject({ ActiveState: 'inactive', NRestarts: String(restarts), Result: 'success' });
    expect((await sh(`systemctl start ${P.serviceUnit}`)).code).toBe(0);
    expect((await monitorUnit()).ActiveState).toBe('active');
  }, 120_000);
});
