import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushScript } from '../../components/delivery/index.js';
import { type Inventory, parseInventory } from '../../components/inventory/index.js';
import { monitorPaths } from '../../components/operations/monitor-script.js';
import { parseXfrmState, type XfrmState } from '../../components/operations/liveness-xfrm.js';
import { type IkeSaStatus } from '../../components/operations/swanctl-status.js';
import { type ExecResult, type ProcessRecord, labInventory, waitFor } from '../../lab/netns/index.js';
import { run } from '../../lab/netns/run-command.js';
import { type VmLab, missingVmPrerequisites, startVmLab, stopVmLab } from '../../lab/vm/index.js';
import { expectNothingLeft, pskPushPayload } from './lab-test-support.js';

// The sad halfling, for real: two qemu guests with Debian's kernel (kernel ESP), the mesh
// pushed with the real push over SSH (monitor included), a CHILD_SA up in transport mode.
// One guest loses its inbound SA (`ip xfrm state delete`): its charon still calls the CHILD_SA
// INSTALLED while the peer's ESP is dropped (XfrmInNoStates). One monitor run on that guest
// sees the half in the SAD, looks twice, closes the CHILD_SA; the peer (the `use` initiator)
// re-creates it at once (close_action = start). Needs the vm lab (docs/vm-lab.md).

const NAME = 'opshalf';
const MESH = 'opsh';
const MASTER = 'ipsec-mesh halfling lab test master secret (32+ bytes)';
const P = monitorPaths(MESH);

function expectOk(r: ExecResult): ExecResult {
  expect(r.code, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
  return r;
}

/** The delivery command string over the lab's SSH (pinned host key), the payload on stdin. */
function sshRun(lab: VmLab, host: string, command: string, stdin = ''): Promise<ExecResult> {
  const argv = lab.sshArgv(host, []);
  argv[argv.length - 1] = command;
  return run(argv, { stdin, timeoutMs: 180_000, context: `ssh ${host}` });
}

const childOf = (sas: readonly IkeSaStatus[], conn: string) => sas.find((s) => s.name === conn && s.state === 'ESTABLISHED')?.children.find((c) => c.state === 'INSTALLED');

describe('sad halfling on kernel ESP (vm lab): the monitor closes the half CHILD_SA and the pair recovers', () => {
  let lab: VmLab;
  let inv: Inventory;
  let started: ProcessRecord[] = [];

  beforeAll(async () => {
    const missing = missingVmPrerequisites();
    if (missing.length > 0) throw new Error(`the vm lab cannot run here:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
    await stopVmLab(NAME);
    lab = await startVmLab(
      { name: NAME, sites: [{ name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' }], hosts: [{ name: 'a', site: 'east' }, { name: 'b', site: 'east' }] },
      { bootParallel: 2 },
    );
    started = [...lab.processes];
    inv = parseInventory(labInventory(lab, { mesh: { name: MESH, domain: 'lab.example', auth: 'psk', enforcement: 'use' } }), `lab ${NAME}`);
    // Responder first, so the initiator's start at load finds its peer ready.
    for (const h of ['b', 'a']) {
      expectOk(await sshRun(lab, h, pushScript({ host: h, mesh: MESH, phase: 'create' }), pskPushPayload(inv, h, MASTER)));
    }
  }, 600_000);

  afterAll(async () => {
    if (!lab) return;
    started = [...started, ...lab.processes];
    await stopVmLab(NAME);
    expectNothingLeft(NAME, started);
  }, 120_000);

  it('closes the CHILD_SA that lost its inbound SA; the initiator re-creates it; both kernels hold both SAs again', async () => {
    const conn = `${MESH}_a_v4`; // b's name for the IPv4 connection to a
    const up = await waitFor(async () => {
      const [sa, sb] = [await lab.listSas('a'), await lab.listSas('b')];
      return childOf(sa, `${MESH}_b_v4`) && childOf(sb, conn) ? true : undefined;
    }, 60_000, 500);
    expect(up, 'the a–b CHILD_SA never came up').toBe(true);
    const ikeIdB = (await lab.listSas('b')).find((s) => s.name === conn)!.uniqueId;
    const before = childOf(await lab.listSas('b'), conn)!;
    const spiIn = String(before.raw['spi-in']);
    const [aAddr, bAddr] = [lab.host('a').ipv4[0]!, lab.host('b').ipv4[0]!];

    // b loses its inbound SA: a's ESP to b is now dropped by b's kernel.
    expectOk(await lab.exec('b', ['ip', 'xfrm', 'state', 'delete', 'src', aAddr, 'dst', bAddr, 'proto', 'esp', 'spi', `0x${spiIn}`]));
    const sad = async (h: string): Promise<XfrmState[]> => parseXfrmState((await lab.exec(h, ['ip', 'xfrm', 'state'], { check: true })).stdout);
    expect((await sad('b')).some((s) => s.spi === spiIn)).toBe(false);
    expect(childOf(await lab.listSas('b'), conn)?.uniqueId, "charon on b still calls it installed").toBe(before.uniqueId);

    // JOURNAL_STREAM: log lines on stderr (with journal priorities) whatever syslog the guest has.
    const r = expectOk(await lab.exec('b', ['env', 'JOURNAL_STREAM=9:9', 'sh', P.script, '--textfile-dir', '/run']));
    expect(r.stdout).toMatch(new RegExp(`^b: mesh ${MESH} monitor: 2 connection\\(s\\): 2 IKE_SA up, 2 CHILD_SA up, 0 cleartext, 1 halfling; 0 initiated, 1 closed\\n$`));
    expect(r.stderr).toContain(`<5>mesh ${MESH}: closed CHILD_SA ${conn}{${before.uniqueId}} to a (ipv4): its in SA is missing from the kernel SAD (sad halfling)`);

    // a (the use initiator) re-creates the CHILD_SA when b's DELETE arrives; the IKE_SA stays.
    const healed = await waitFor(async () => {
      const c = childOf(await lab.listSas('b'), conn);
      return c && c.uniqueId !== before.uniqueId ? c : undefined;
    }, 60_000, 500);
    expect(healed, 'no new CHILD_SA on b').toBeDefined();
    expect((await lab.listSas('b')).find((s) => s.name === conn)!.uniqueId).toBe(ikeIdB);
    const kb = await sad('b');
    expect(kb.some((s) => s.src === aAddr && s.dst === bAddr && s.spi === String(healed!.raw['spi-in']))).toBe(true);
    expect(kb.some((s) => s.src === bAddr && s.dst === aAddr && s.spi === String(healed!.raw['spi-out']))).toBe(true);
    // a, the initiator, installs its two SAs when b's answer arrives: b's outbound SA is a's inbound one.
    const aHeals = await waitFor(async () => {
      const ka = await sad('a');
      const ok = ka.some((s) => s.src === bAddr && s.dst === aAddr && s.spi === String(healed!.raw['spi-out'])) &&
        ka.some((s) => s.src === aAddr && s.dst === bAddr && s.spi === String(healed!.raw['spi-in']));
      return ok ? true : undefined;
    }, 30_000, 500);
    expect(aHeals, "a's kernel never held both new SAs").toBe(true);

    // The next run finds nothing to do, and says so in its metrics.
    const again = expectOk(await lab.exec('b', ['sh', P.script, '--textfile-dir', '/run']));
    expect(again.stdout).toContain('2 CHILD_SA up, 0 cleartext, 0 halfling; 0 initiated, 0 closed');
    const metrics = (await lab.exec('b', ['cat', `/run/${P.metricsFile}`], { check: true })).stdout;
    expect(metrics).toContain(`ipsec_mesh_halfling{mesh="${MESH}",peer="a",family="ipv4",enforcement="use"} 0\n`);
    expect(metrics).toContain(`ipsec_mesh_esp_policy_out{mesh="${MESH}",peer="a",family="ipv4",enforcement="use"} 1\n`);
    expect(metrics).toContain(`ipsec_mesh_monitor_actions_total{mesh="${MESH}",action="terminate"} 1\n`);
  }, 300_000);
});
