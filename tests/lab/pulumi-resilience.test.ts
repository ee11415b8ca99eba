// End to end with the real Pulumi engine and the upstream plugins (docs/e2e.md): a host that
// cannot be reached during an update, SSH under `require` (also with charon stopped on a host),
// the off switch and destroy. One lab, steps in file order; each step puts back what it broke
// (in a `finally`), so one failure reads as one failure.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProcessRecord } from '../../lab/netns/index.js';
import {
  E2eMesh,
  anySas,
  backstopDrops,
  backstopRuleset,
  contentOf,
  establishedSas,
  hostFiles,
  isMeshPath,
  expectedPairKeys,
  installPeerSsh,
  keysSeen,
  keysUpOnBothEnds,
  negotiate,
  requireE2ePrerequisites,
  saIdentity,
  hostToHostSshFailures,
  sshFailures,
  sshSessions,
  NO_DRIFT_CHECK,
} from './pulumi-support.js';
import { expectNothingLeft, threeHostSpec } from './lab-test-support.js';
import { sendDatagrams } from '../../lab/pair-traffic.js';
import { join } from 'node:path';
import { validateMesh } from '../../components/cli/validate-mesh.js';
import { collectPairStatus } from '../../components/operations/index.js';
import { PROJECT_DIR } from '../../lab/lab-pulumi.js';

const LAB = 'e2e-res';
const MESH = LAB;
const HOSTS = ['a', 'b', 'c']; // a, b in east; c in west; one full mesh

let mesh: E2eMesh;
let processes: readonly ProcessRecord[] = [];

/** A missing prerequisite or a lab that does not come up fails every test (never skips one). */
let setupError: unknown;

beforeAll(async () => {
  try {
    requireE2ePrerequisites();
    // Few, short dials: an unreachable host fails in seconds, not minutes (docs/engine.md).
    mesh = await E2eMesh.start(threeHostSpec(LAB), {}, { sshDialErrorLimit: '2', sshPerDialTimeout: '5', ...NO_DRIFT_CHECK });
    processes = mesh.processes;
    installPeerSsh(mesh.lab);
  } catch (e) {
    setupError = e;
  }
});

beforeEach(() => {
  if (setupError !== undefined) throw setupError;
});

afterAll(async () => {
  if (mesh) await mesh.lab.down();
  expectNothingLeft(LAB, processes);
});

describe('ipsec-mesh stack on a lab when things go wrong', () => {
  it('an unreachable host fails with an error naming it while the other hosts converge', async () => {
    // The mesh is up everywhere first; then c's sshd goes away and a change is pushed.
    await mesh.up();
    const { pairs, hosts } = await mesh.pairs();
    const expected = expectedPairKeys(pairs);
    expect(keysUpOnBothEnds(await negotiate(mesh.lab, hosts, expected))).toEqual(expected);
    const conf = `/etc/swanctl/conf.d/ipsec-mesh_${MESH}.conf`;
    const changed = '\trekey_time = 7200s';
    expect(mesh.lab.readHostFile('a', conf)).not.toContain(changed);

    const c = mesh.lab.host('c');
    await mesh.lab.stopSshd('c');
    try {
      mesh.writeInventory({ mesh: { lifetimes: { ikeRekeySeconds: 7200 } } });
      // Without --continue-on-error the engine starts no new step after the first error.
      const r = await mesh.up(['--continue-on-error'], { allowFailure: true });
      const output = `${r.stdout}\n${r.stderr}`;
      expect(r.code, output).not.toBe(0);
      // Upstream pulumi-resource-command words it as `after N failed attempts: dial tcp
      // ADDRESS:22: connect: connection refused`, reported under the resource's name, which
      // names the host (docs/engine.md: what a user sees).
      const diagnostics = diagnosticsByResource(output);
      const cPush = `command:remote:Command (${MESH}-c-push)`;
      const stack = 'pulumi:pulumi:Stack (ipsec-mesh-lab)';
      expect([...diagnostics.keys()].sort(), output).toEqual([cPush, stack]);
      expect(diagnostics.get(cPush)).toBe(`error: after 2 failed attempts: dial tcp ${c.ipv4[0]}:22: connect: connection refused\n`);
      expect(diagnostics.get(stack)).toBe('error: update failed\n');
      // No other host's resource, name or address shows up in an error.
      const errorLines = output.split('\n').filter((l) => /\berror:/.test(l));
      const others = ['a', 'b'].flatMap((h) => [`${MESH}-${h}-`, ...mesh.lab.host(h).ipv4, ...mesh.lab.host(h).ipv6]);
      expect(errorLines.filter((l) => others.some((o) => l.includes(o))), 'errors about other hosts').toEqual([]);
      // a and b have the change, c still the old configuration; the SAs stay up.
      expect(mesh.lab.readHostFile('a', conf), output).toContain(changed);
      expect(mesh.lab.readHostFile('b', conf), output).toContain(changed);
      expect(mesh.lab.readHostFile('c', conf)).not.toContain(changed);
      expect(keysUpOnBothEnds(await negotiate(mesh.lab, hosts, expected))).toEqual(expected);
    } finally {
      // c back whatever happened above, so the next steps start from a whole mesh.
      if (mesh.lab.sshdPid('c') === undefined) await mesh.lab.startSshd('c');
    }

    // Once c is back, the next up finishes the job.
    await mesh.up();
    expect(mesh.lab.readHostFile('c', conf)).toContain(changed);
    expect(keysUpOnBothEnds(await negotiate(mesh.lab, hosts, expected))).toEqual(expected);
  });

  it('SSH host keys are pinned: scan prints them; a host presenting another key is refused by up and status, named, and nothing is pushed to it', async () => {
    // `ipsec-mesh hostkeys scan` from where the operator stands prints each host's real key.
    const scan = await mesh.lab.execOperator(['node', join(PROJECT_DIR, 'dist/components/cli/main.js'), 'hostkeys', 'scan', mesh.inventoryPath]);
    expect(scan.code, scan.stderr).toBe(0);
    for (const h of HOSTS) expect(scan.stdout).toContain(`  - name: ${h}\n    ssh: { hostKey: "${mesh.lab.host(h).sshHostKey}" }`);
    expect(scan.stderr).toMatch(new RegExp(`ipsec-mesh: hostkeys scan: ${HOSTS.length}/${HOSTS.length} answer\\(s\\) from ${HOSTS.length} host\\(s\\)`));

    // c's pinned key is now another host's: whoever answers at c's address is not c.
    const conf = `/etc/swanctl/conf.d/ipsec-mesh_${MESH}.conf`;
    const before = contentOf(hostFiles(mesh.lab, 'c'));
    const sessions = sshSessions(mesh.lab, 'c');
    mesh.writeInventory({ mesh: { lifetimes: { ikeRekeySeconds: 5400 } }, sshHostKeys: { c: mesh.lab.host('a').sshHostKey } });
    try {
      const r = await mesh.up(['--continue-on-error'], { allowFailure: true });
      const output = `${r.stdout}\n${r.stderr}`;
      expect(r.code, output).not.toBe(0);
      const diagnostics = diagnosticsByResource(output);
      // Every failure is c's: its push (the key step does not re-run for a new pin: the key
      // on the host is the same) is refused at the SSH handshake.
      const failed = [...diagnostics.keys()].filter((k) => !k.startsWith('pulumi:pulumi:Stack'));
      expect(failed, output).toEqual([`command:remote:Command (${MESH}-c-push)`]);
      expect(diagnostics.get(`command:remote:Command (${MESH}-c-push)`)).toBe('error: after 2 failed attempts: ssh: handshake failed: ssh: host key mismatch\n');
      // Nothing reached c (no file changed, no SSH session accepted); a and b got the change.
      expect(contentOf(hostFiles(mesh.lab, 'c'))).toEqual(before);
      expect(sshSessions(mesh.lab, 'c')).toBe(sessions);
      expect(mesh.lab.readHostFile('a', conf)).toContain('rekey_time = 5400s');
      // `ipsec-mesh status` applies the same pin and refuses c as well.
      const inventory = await mesh.inventory();
      const { reports } = await collectPairStatus(inventory, validateMesh(inventory), { identityFile: mesh.lab.sshKeyPath, wrapper: ['ip', 'netns', 'exec', mesh.lab.operator.netns] });
      expect(reports.find((x) => x.host === 'c')?.error).toMatch(/Host key verification failed/);
      expect(reports.filter((x) => x.host !== 'c').map((x) => x.error)).toEqual([undefined, undefined]);
    } finally {
      mesh.writeInventory({});
    }
    await mesh.up();
    expect(mesh.lab.readHostFile('c', conf)).not.toContain('rekey_time = 5400s');
  });

  it('SSH from the operator reaches every host with enforcement require; SSH between mesh hosts is not bypassed', async () => {
    const { pairs, hosts } = await mesh.pairs();
    expect(pairs.pairs.map((p) => p.enforcement)).toEqual(['require', 'require', 'require']);
    // The trap policies are in place: without the SSH bypass, the operator's SSH would be held.
    for (const h of hosts) {
      const pols = await mesh.lab.listPols(h);
      expect(pols.filter((p) => p.mode === 'TRANSPORT').length, `trap policies on ${h}`).toBe(4);
      expect(pols.some((p) => p.mode === 'PASS' && p.name.includes('ssh')), `SSH bypass on ${h}`).toBe(true);
      // And the kernel backstop, with both peers' addresses in each family.
      const ruleset = await backstopRuleset(mesh.lab, h, MESH);
      expect(ruleset, `require backstop on ${h}`).toBeDefined();
      for (const peer of hosts.filter((x) => x !== h)) {
        for (const address of [...mesh.lab.host(peer).ipv4, ...mesh.lab.host(peer).ipv6]) expect(ruleset).toContain(address);
      }
    }
    expect(await sshFailures(mesh.lab, hosts, { operatorOnly: true })).toEqual([]);
    // Host to host, SSH is mesh traffic like any other: it needs the pair's CHILD_SA, which this
    // kernel (no ESP) cannot install, so every attempt is held (the vm tier shows it over ESP).
    expect((await hostToHostSshFailures(mesh.lab, hosts)).length).toBe(hosts.length * (hosts.length - 1) * 2);
  });

  it('SSH from the operator still reaches every host with charon stopped on one', async () => {
    await mesh.lab.stopCharon('c');
    try {
      // a and b still hold their trap policies towards c: c's IKE is gone, SSH must not care.
      for (const h of ['a', 'b']) {
        const traps = (await mesh.lab.listPols(h)).filter((p) => p.mode === 'TRANSPORT' && p.name.includes('_c_'));
        expect(traps.length, `trap policies of ${h} towards c`).toBe(2);
      }
      expect(await sshFailures(mesh.lab, HOSTS, { operatorOnly: true })).toEqual([]);
      // c's charon took every XFRM policy with it (SIGTERM), yet c sends nothing to its require
      // peers in cleartext: the backstop drops it in c's kernel, and counts it.
      expect((await mesh.lab.exec('c', ['ip', 'xfrm', 'policy'], { check: true })).stdout.trim(), "c's XFRM policies").toBe('');
      const before = backstopDrops((await backstopRuleset(mesh.lab, 'c', MESH))!);
      const wire = await mesh.lab.capture({ host: 'c', filter: ['udp', 'port', '9'] });
      const peers = ['a', 'b'].flatMap((h) => [...mesh.lab.host(h).ipv4, ...mesh.lab.host(h).ipv6]);
      for (let i = 0; i < 3; i++) await sendDatagrams(mesh.lab, 'c', peers);
      await new Promise((r) => setTimeout(r, 500));
      expect(await wire.stop(), 'cleartext datagrams from c on the wire').toEqual([]);
      expect(backstopDrops((await backstopRuleset(mesh.lab, 'c', MESH))!) - before).toBeGreaterThanOrEqual(3 * peers.length);
    } finally {
      // charon back (as its service would start it: daemon, then swanctl --load-all).
      if (mesh.lab.charonPid('c') === undefined) await mesh.lab.startCharon('c');
      await mesh.lab.swanctl('c', ['--load-all', '--noprompt'], { check: true });
    }
    // The mesh heals.
    const { pairs, hosts } = await mesh.pairs();
    const expected = expectedPairKeys(pairs);
    const sas = await negotiate(mesh.lab, hosts, expected);
    expect(keysUpOnBothEnds(sas)).toEqual(expected);
  });

  it('enabled: false unloads the mesh, keeps the bypass, and SSH works; enabling again brings the SAs back', async () => {
    expect((await establishedSas(mesh.lab, HOSTS)).length).toBeGreaterThan(0);
    await mesh.setConfig('enabled', 'false');
    try {
      await mesh.up();
      for (const h of HOSTS) {
        const conns = await mesh.lab.listConns(h);
        expect(conns.map((c) => c.name), `connections of ${h}`).toEqual([`${MESH}_bypass`]);
        expect(conns[0]!.children.every((child) => child.mode === 'PASS')).toBe(true);
        const pols = await mesh.lab.listPols(h);
        expect(pols.filter((p) => p.mode !== 'PASS').map((p) => p.name), `non-bypass policies on ${h}`).toEqual([]);
        expect(pols.some((p) => p.name.includes('ssh'))).toBe(true);
      }
      // Switched off: no require pair is left, so no backstop either.
      for (const h of HOSTS) expect(await backstopRuleset(mesh.lab, h, MESH), `backstop on ${h}`).toBeUndefined();
      // The push closed the IKE_SAs of the connections it unloaded.
      expect((await anySas(mesh.lab, HOSTS)).map(saIdentity)).toEqual([]);
      expect(await sshFailures(mesh.lab, HOSTS)).toEqual([]);
      // Traffic now negotiates nothing.
      await negotiate(mesh.lab, HOSTS, [], { timeoutMs: 0 });
      await new Promise((r) => setTimeout(r, 1000));
      expect(keysSeen(await anySas(mesh.lab, HOSTS))).toEqual([]);
    } finally {
      await mesh.setConfig('enabled', 'true');
    }

    await mesh.up();
    for (const h of HOSTS) expect(await backstopRuleset(mesh.lab, h, MESH), `backstop on ${h}`).toBeDefined();
    const { pairs, hosts } = await mesh.pairs();
    const expected = expectedPairKeys(pairs);
    const sas = await negotiate(mesh.lab, hosts, expected);
    expect(keysUpOnBothEnds(sas)).toEqual(expected);
  });

  it('pulumi destroy with the upstream provider removes the mesh from every host and keeps SSH working', async () => {
    await mesh.destroy();
    for (const h of HOSTS) {
      expect([...hostFiles(mesh.lab, h).keys()].filter(isMeshPath), `mesh files left on ${h}`).toEqual([]);
      expect((await mesh.lab.listConns(h)).map((c) => c.name), `connections of ${h}`).toEqual([]);
      expect((await mesh.lab.listPols(h)).map((p) => p.name), `policies on ${h}`).toEqual([]);
      expect(await backstopRuleset(mesh.lab, h, MESH), `backstop on ${h}`).toBeUndefined();
    }
    expect((await anySas(mesh.lab, HOSTS)).map(saIdentity)).toEqual([]);
    expect(await sshFailures(mesh.lab, HOSTS)).toEqual([]);
  });
});

/**
 * The engine's "Diagnostics:" section as `type (name)` → its lines:
 *   command:remote:Command (NAME):
 *     error: …
 */
function diagnosticsByResource(output: string): Map<string, string> {
  const out = new Map<string, string>();
  const section = output.slice(output.indexOf('Diagnostics:'));
  let current: string | undefined;
  for (const line of section.split('\n').slice(1)) {
    const head = /^ {2}(\S+ \([^)]+\)):$/.exec(line);
    if (head) current = head[1]!;
    else if (/^\S/.test(line)) current = undefined;
    else if (current !== undefined && line.trim() !== '' && /^ {4}/.test(line)) out.set(current, `${out.get(current) ?? ''}${line.trim()}\n`);
  }
  // Resources with only warnings/info are not failures.
  for (const [k, v] of out) if (!/\berror:/.test(v)) out.delete(k);
  return out;
}
