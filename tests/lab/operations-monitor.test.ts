import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { type DeliveryBundle, encodePayload, pushScript } from '../../components/delivery/index.js';
import { type Inventory, parseInventory } from '../../components/inventory/index.js';
import { monitorPaths } from '../../components/operations/monitor-script.js';
import { describeHostConfig, renderHostConfig, renderPskSecrets } from '../../components/render/index.js';
import { computeHostPairs, pairsForHost } from '../../components/topology/index.js';
import { type ExecResult, type Lab, type ProcessRecord, labInventory, startLab, stopLab } from '../../lab/netns/index.js';
import { hostStat, sshRun } from './delivery-ssh.js';
import { expectNothingLeft, labPpkFiles, requireLabPrerequisites, threeHostSpec } from './lab-test-support.js';

// The liveness monitor on three namespace hosts with their own charon, delivered by the real
// push over SSH. Enforcement `use` for a–b and a–c (a sorts first: it initiates both), `require`
// for b–c. The lab kernel has no ESP: IKE_SAs are real, CHILD_SAs never install (docs/lab.md),
// so what is shown here is the load-order cure, the metrics and the absence of any tear-down
// loop; the halfling cure needs kernel ESP (unit-tested on fixtures, docs/operations.md).

const NAME = 'opsmon';
const MESH = 'opsm';
const MASTER = 'ipsec-mesh operations lab test master secret (32+ bytes)';
const P = monitorPaths(MESH);
const METRICS_DIR = '/run/opsm-metrics';

function inventory(lab: Lab): Inventory {
  return parseInventory(
    labInventory(lab, { mesh: { name: MESH, domain: 'lab.example', auth: 'psk', enforcement: 'use', pairOverrides: [{ hosts: ['b', 'c'], enforcement: 'require' }] } }),
    `lab ${lab.name}`,
  );
}

function payload(inv: Inventory, name: string, monitor = true): { payload: string; bundle: DeliveryBundle } {
  const set = computeHostPairs(inv);
  const host = inv.hosts.find((h) => h.name === name)!;
  const pairs = pairsForHost(set, name);
  const files = [
    ...renderHostConfig({ inventory: inv, host, pairs, ...(monitor ? {} : { monitor: false as const }) }),
    renderPskSecrets({ inventory: inv, host, pairs, pskFor: (p) => derivePairPsk(MASTER, MESH, p.a, p.b) }),
    ...labPpkFiles(inv, host, pairs, MASTER),
  ];
  const desc = describeHostConfig({ inventory: inv, host, pairs });
  const bundle: DeliveryBundle = { host: name, mesh: MESH, files, connections: [...desc.connections, desc.bypassConnection] };
  return { payload: encodePayload(bundle), bundle };
}

function expectOk(r: ExecResult): ExecResult {
  expect(r.code, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
  return r;
}

/** `connection` → ESTABLISHED IKE_SA unique ids on `host`. */
async function ikeIds(lab: Lab, host: string): Promise<Map<string, number[]>> {
  const m = new Map<string, number[]>();
  for (const sa of await lab.listSas(host)) {
    if (sa.state !== 'ESTABLISHED') continue;
    m.set(sa.name, [...(m.get(sa.name) ?? []), sa.uniqueId].sort((x, y) => x - y));
  }
  return m;
}

async function monitor(lab: Lab, host: string, ...args: string[]): Promise<ExecResult> {
  return lab.exec(host, ['sh', P.script, '--textfile-dir', METRICS_DIR, ...args]);
}

/** One sample of the metrics file on `host`. */
function sample(lab: Lab, host: string, metric: string, labels: string): string | undefined {
  const text = lab.readHostFile(host, `${METRICS_DIR}/${P.metricsFile}`);
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{${labels}} `));
  return line?.slice(line.lastIndexOf(' ') + 1);
}
const peer = (p: string, family = 'ipv4', enforcement = 'use'): string => `mesh="${MESH}",peer="${p}",family="${family}",enforcement="${enforcement}"`;

describe('liveness monitor on namespace hosts (use load order, metrics, no tear-down loop)', () => {
  let lab: Lab;
  let inv: Inventory;
  let started: ProcessRecord[] = [];
  const remember = (): void => {
    started = [...started, ...lab.processes];
  };

  beforeAll(async () => {
    requireLabPrerequisites();
    await stopLab(NAME);
    lab = await startLab(threeHostSpec(NAME));
    remember();
    inv = inventory(lab);
    for (const h of ['a', 'b', 'c']) expectOk(await lab.exec(h, ['mkdir', '-p', METRICS_DIR]));
  });

  afterAll(async () => {
    if (!lab) return;
    remember();
    await stopLab(NAME);
    expectNothingLeft(NAME, started);
  });

  it('reproduces the use load-order failure: the initiator loaded first is refused (NO_PROPOSAL_CHOSEN) and stays down', async () => {
    const { payload: pa } = payload(inv, 'a');
    const r = expectOk(await sshRun(lab, 'a', pushScript({ host: 'a', mesh: MESH, phase: 'create' }), pa));
    // The push installed the monitor (0644, root), not the units (no systemd here), and ran it once.
    expect(hostStat(lab, 'a', P.script)).toMatchObject({ mode: 0o644, uid: 0 });
    expect(lab.readHostFile('a', `/etc/swanctl/.ipsec-mesh-state.${MESH}`)).not.toContain('/etc/systemd/');
    expect(r.stderr).toContain('a: systemd is not running: 1 unit file(s) not installed');
    expect(r.stderr).toMatch(/a: mesh opsm monitor: 4 connection\(s\): 0 IKE_SA up, 0 CHILD_SA up, 4 cleartext, 0 halfling; 4 initiated, 0 closed/);
    const log = lab.charonLog('a').split('\n');
    for (const c of ['opsm_b_v4', 'opsm_b_v6', 'opsm_c_v4', 'opsm_c_v6']) {
      expect(log.some((l) => l.includes(`<${c}|`) && l.includes('received NO_PROPOSAL_CHOSEN notify error')), c).toBe(true);
    }
    // charon does not retry an error answer: nothing left, not even a CONNECTING attempt.
    expect(await lab.listSas('a')).toEqual([]);
  });

  it("the responder's own push cures it: its monitor initiates once when no IKE_SA exists with the peer", async () => {
    const { payload: pb } = payload(inv, 'b');
    const r = expectOk(await sshRun(lab, 'b', pushScript({ host: 'b', mesh: MESH, phase: 'create' }), pb));
    expect(r.stderr).toMatch(/b: mesh opsm monitor: 4 connection\(s\): .*; 2 initiated, 0 closed/);
    const a = await ikeIds(lab, 'a');
    expect([...a.keys()].sort()).toEqual(['opsm_b_v4', 'opsm_b_v6']);
    for (const ids of a.values()) expect(ids).toHaveLength(1);
    expect([...(await ikeIds(lab, 'b')).keys()].sort()).toEqual(['opsm_a_v4', 'opsm_a_v6']);
    // b started them, so b holds them as initiator; they came up, so none is withdrawn.
    for (const sa of await lab.listSas('b')) expect(sa.initiator, sa.name).toBe(true);
  });

  it('metrics: an established and a missing pair, the require pair held by its trap (not cleartext)', async () => {
    // c loads without the monitor: nothing on c's side starts the a–c pair.
    const { payload: pc } = payload(inv, 'c', false);
    expectOk(await sshRun(lab, 'c', pushScript({ host: 'c', mesh: MESH, phase: 'create' }), pc));
    const r = expectOk(await monitor(lab, 'a', '--no-act'));
    expect(r.stdout).toBe('a: mesh opsm monitor: 4 connection(s): 2 IKE_SA up, 0 CHILD_SA up, 4 cleartext, 0 halfling; 0 initiated, 0 closed\n');
    expect(r.stderr).toContain('mesh opsm: traffic to c (ipv4 203.0.113.10) leaves in cleartext: enforcement use, no CHILD_SA');
    expect(sample(lab, 'a', 'ipsec_mesh_ike_established', peer('b'))).toBe('1');
    expect(sample(lab, 'a', 'ipsec_mesh_ike_sas', peer('b'))).toBe('1');
    expect(sample(lab, 'a', 'ipsec_mesh_child_installed', peer('b'))).toBe('0');
    expect(sample(lab, 'a', 'ipsec_mesh_cleartext', peer('b'))).toBe('1');
    expect(Number(sample(lab, 'a', 'ipsec_mesh_ike_established_seconds', peer('b')))).toBeGreaterThanOrEqual(0);
    expect(sample(lab, 'a', 'ipsec_mesh_ike_established', peer('c'))).toBe('0');
    expect(sample(lab, 'a', 'ipsec_mesh_ike_sas', peer('c'))).toBe('0');
    expect(sample(lab, 'a', 'ipsec_mesh_ike_established_seconds', peer('c'))).toBeUndefined();
    expect(sample(lab, 'a', 'ipsec_mesh_ike_established', peer('c', 'ipv6'))).toBe('0');
    for (const s of ['charon', 'xfrm_state', 'xfrm_policy', 'xfrm_stat']) expect(sample(lab, 'a', 'ipsec_mesh_monitor_source_up', `mesh="${MESH}",source="${s}"`), s).toBe('1');
    expect(sample(lab, 'a', 'ipsec_mesh_kernel_esp_sas', `mesh="${MESH}"`)).toBe('0');
    expect(sample(lab, 'a', 'ipsec_mesh_xfrm_stat_total', `mesh="${MESH}",counter="XfrmInNoStates"`)).toMatch(/^\d+$/);
    // b–c is `require`: its trap policy is in b's SPD, so nothing leaves in cleartext though no SA exists.
    expectOk(await monitor(lab, 'b', '--no-act'));
    expect(sample(lab, 'b', 'ipsec_mesh_esp_policy_out', peer('c', 'ipv4', 'require'))).toBe('1');
    expect(sample(lab, 'b', 'ipsec_mesh_cleartext', peer('c', 'ipv4', 'require'))).toBe('0');
    expect(sample(lab, 'b', 'ipsec_mesh_ike_established', peer('c', 'ipv6', 'require'))).toBe('0');
    expect(sample(lab, 'b', 'ipsec_mesh_cleartext', peer('a'))).toBe('1');
  });

  it("the initiator's timer run cures a pair the responder did not start, once its back-off has passed", async () => {
    // The push's run tried a–c; the timer waits 30 s before the next try (the retry state is
    // stamped "just now" here so the check does not depend on how fast the lab runs).
    const state = `${P.stateDir}/retry`;
    const restamp = (seconds: number): string =>
      lab
        .readHostFile('a', state)
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/ (\d+)$/, ` ${seconds}`))
        .join('\n') + '\n';
    const now = Number((await lab.exec('a', ['date', '+%s'], { check: true })).stdout.trim());
    expect(lab.readHostFile('a', state)).toMatch(/^R opsm_c_v4 1 \d+$/m);
    lab.writeHostFile('a', state, restamp(now), 0o600);
    const held = expectOk(await monitor(lab, 'a'));
    expect(held.stdout).toContain('; 0 initiated, 0 closed');
    expect([...(await ikeIds(lab, 'a')).keys()].sort()).toEqual(['opsm_b_v4', 'opsm_b_v6']);
    // Time passes: the last try was ten minutes ago.
    lab.writeHostFile('a', state, restamp(now - 600), 0o600);
    const r = expectOk(await monitor(lab, 'a'));
    expect(r.stdout).toContain('4 connection(s): 2 IKE_SA up');
    expect(r.stdout).toMatch(/; [1-9]\d* initiated, 0 closed/);
    const a = await ikeIds(lab, 'a');
    expect([...a.keys()].sort()).toEqual(['opsm_b_v4', 'opsm_b_v6', 'opsm_c_v4', 'opsm_c_v6']);
    expectOk(await monitor(lab, 'a', '--no-act'));
    expect(sample(lab, 'a', 'ipsec_mesh_ike_established', peer('c'))).toBe('1');
    expect(sample(lab, 'a', 'ipsec_mesh_monitor_actions_total', `mesh="${MESH}",action="initiate"`)).toMatch(/^[1-9]\d*$/);
  });

  it('no tear-down loop without kernel ESP: three runs that each re-initiate keep every IKE_SA (same unique ids, no duplicate)', async () => {
    const logFrom = lab.charonLog('a').length;
    const before = new Map<string, Map<string, number[]>>();
    for (const h of ['a', 'b', 'c']) before.set(h, await ikeIds(lab, h));
    for (let i = 0; i < 3; i++) {
      // Forget the back-off each time: the worst case, every run re-initiates every missing CHILD_SA.
      expectOk(await lab.exec('a', ['rm', '-f', `${P.stateDir}/retry`]));
      const r = expectOk(await monitor(lab, 'a'));
      expect(r.stdout).toContain('4 connection(s): 4 IKE_SA up, 0 CHILD_SA up, 4 cleartext, 0 halfling; 4 initiated, 0 closed');
      for (const h of ['a', 'b', 'c']) expect(await ikeIds(lab, h), `${h} after run ${i + 1}`).toEqual(before.get(h));
    }
    const during = lab.charonLog('a').slice(logFrom).split('\n');
    expect(during.filter((l) => l.includes('failed to establish CHILD_SA, keeping IKE_SA')).length).toBe(12); // 3 runs × 4 tries
    expect(during.filter((l) => /deleting IKE_SA|closing CHILD_SA|destroying IKE_SA/.test(l))).toEqual([]);
  });
});
