// The model as resources, with the real engine (docs/components.md, "The model as
// resources"): a stack made by the previous release layout (hosts directly under the mesh)
// upgrades to sites, host pairs and site pairs without replacing anything or running any
// remote command (the one local command it adds signs the CA's revocation list); `pulumi stack export` then holds one Site per site and one HostPair per
// pair (per-peer) or one SitePair per pair of sites (compact), with their outputs and no secret.
// Upgrading onto this release, a mesh that pins quantumResistance: off changes only the push
// program and monitor; one that sets nothing takes the new default (post-quantum preshared keys
// on every pair) and keeps every PSK.
import { LOGROTATE_CONF_PATH } from '../../components/render/file-paths.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labPulumi } from '../../lab/lab-pulumi.js';
import { buildPreviousRelease } from '../../lab/previous-release.js';
import { threeHostSpec } from './lab-test-support.js';
import { rolloutGatePath } from '../../components/operations/rollout-gate-script.js';
import { monitorPaths } from '../../components/operations/monitor-script.js';
import { quantumProtection } from '../../components/operations/swanctl-status.js';
import { NO_DRIFT_CHECK, e2eMeshForFile, expectedPairKeys, hostFiles, keysUpOnBothEnds, negotiate, sshSessions } from './pulumi-support.js';

const LAB = 'e2e-model';
/** The last commit before sites and pairs became resources (MeshHost directly under IpsecMesh). */
const PREVIOUS_LAYOUT = '6ad16e51cef7039d2fa31ef8b459969b70b689fd';
/**
 * The release that moved the model into resources (sites, pairs), with the push program and
 * monitor of its day: the move itself is checked from PREVIOUS_LAYOUT to it; the step from it
 * to this checkout carries the later releases' changes (push renewal, monitor, CRL command,
 * reviews, the push's hash records).
 */
const MODEL_RELEASE = '1b64ad9618cde419cc57dc0d5cba226a619814b8';
const HOSTS = ['a', 'b', 'c'];
const T = {
  mesh: 'ipsec-mesh:index:IpsecMesh',
  site: 'ipsec-mesh:index:Site',
  host: 'ipsec-mesh:index:MeshHost',
  hostPair: 'ipsec-mesh:index:HostPair',
  sitePair: 'ipsec-mesh:index:SitePair',
  command: 'command:remote:Command',
} as const;
const CERT = 'tls:index/locallySignedCert:LocallySignedCert';
/** How the engine marks a secret value in a checkpoint. */
const SECRET_SIG = '4dabf18193072939515e22adb298388d';

interface StateResource {
  readonly urn: string;
  readonly type: string;
  readonly parent?: string;
  readonly inputs?: Record<string, unknown>;
  readonly outputs?: Record<string, unknown>;
}

interface UpStep {
  readonly op: string;
  readonly urn: string;
  /** Input keys whose change made an update (engine event metadata). */
  readonly diffs?: readonly string[];
}

const PUSH_INPUTS = new Set(['create', 'update', 'delete', 'stdin']);
const MONITOR_SCRIPT = monitorPaths(LAB).script;
/**
 * The push's own bookkeeping, which this release extends: the state file now records each
 * file's hash (for the drift check) and the previous state is kept (for the rollout gate).
 */
const PUSH_BOOKKEEPING = [`/etc/swanctl/.ipsec-mesh-state.${LAB}`, `/etc/swanctl/.ipsec-mesh-before.${LAB}`];
/** A file this release adds beside the monitor: the rollout gate's script (idle without a rollout). */
const GATE_SCRIPT = rolloutGatePath(LAB);
/** And the rotation of the charon log its drop-in writes. */
const LOGROTATE_FILE = LOGROTATE_CONF_PATH;
/** What this release adds per host without touching it: the inert review command. */
const reviewsOf = (hosts: readonly string[]): string[] => hosts.map((h) => `command:local:Command::${LAB}-${h}-review`);

/**
 * What a host holds and runs, to compare across an upgrade: the mesh files (content and inode),
 * charon's PID and its IKE_SAs by unique id.
 */
async function hostState(host: string, except: readonly string[] = []): Promise<string> {
  // Every file the same, unwritten (same inode); the push's own state file is rewritten by
  // every push, with the same content.
  const files = [...hostFiles(mesh().lab, host)]
    .filter(([p]) => !except.includes(p))
    .map(([p, f]) => `${p} ${p.includes('.ipsec-mesh-state.') ? '' : f.ino} ${f.sha256}`)
    .sort();
  const sas = (await mesh().lab.listSas(host)).map((sa) => `${sa.name}[${sa.uniqueId}]`).sort();
  return JSON.stringify({ files, charon: mesh().lab.charonPid(host), sas });
}

/**
 * An upgrade's steps besides creates: the certificates' renewal window (state only), and — with
 * `pushes` — each host's push, updated because this release changed the push program (changed
 * connections renewed make-before-break) and the monitor it carries (certificate expiry), and
 * each host-key command, whose shared shell prologue this release extends (a new delivery root):
 * it runs again and prints the CSR it stored, so no certificate changes (the caller checks).
 * The caller checks on the hosts that nothing else changed and no SA was closed.
 */
function unexpectedUpgradeSteps(changed: readonly UpStep[], pushes = false): string[] {
  return changed
    .filter((s) => s.op !== 'create')
    .filter((s) => !(s.op === 'update' && typeOf(s.urn) === CERT))
    .filter((s) => !(pushes && s.op === 'update' && typeOf(s.urn) === T.command && nameOf(s.urn).endsWith('-push') && (s.diffs ?? []).length > 0 && s.diffs!.every((d) => PUSH_INPUTS.has(d))))
    .filter((s) => !(pushes && s.op === 'update' && typeOf(s.urn) === T.command && nameOf(s.urn).endsWith('-host-key') && (s.diffs ?? []).length > 0 && s.diffs!.every((d) => d === 'create' || d === 'delete')))
    .map((s) => `${s.op} ${s.urn} ${JSON.stringify(s.diffs ?? [])}`);
}

let scratch: string | undefined;
let previous: string;
let modelRelease: string;
const mesh = e2eMeshForFile(
  threeHostSpec(LAB),
  {},
  NO_DRIFT_CHECK,
  {
    prepare: () => {
      scratch = mkdtempSync(join(tmpdir(), 'ipsec-mesh-previous-'));
      previous = buildPreviousRelease(PREVIOUS_LAYOUT, join(scratch, 'ipsec-mesh'));
      modelRelease = buildPreviousRelease(MODEL_RELEASE, join(scratch, 'ipsec-mesh-model'));
    },
    cleanup: () => {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    },
    setupTimeoutMs: 600_000,
  },
);

/** The steps of an `up --json --skip-preview` (one engine event per line), one per resource. */
function engineSteps(stdout: string): UpStep[] {
  const steps = new Map<string, UpStep>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as { resourcePreEvent?: { metadata?: UpStep } };
    const m = e.resourcePreEvent?.metadata;
    if (m) steps.set(`${m.op} ${m.urn}`, { op: m.op, urn: m.urn, ...(m.diffs ? { diffs: m.diffs } : {}) });
  }
  return [...steps.values()];
}

async function exportState(): Promise<StateResource[]> {
  const r = await labPulumi(mesh().lab, ['stack', 'export']);
  return (JSON.parse(r.stdout) as { deployment: { resources?: StateResource[] } }).deployment.resources ?? [];
}

/** Resources of one type, sorted by URN (the checkpoint's order follows registration timing). */
const ofType = (rs: readonly StateResource[], type: string): StateResource[] =>
  rs.filter((r) => r.type === type).sort((x, y) => (x.urn < y.urn ? -1 : x.urn > y.urn ? 1 : 0));
const nameOf = (urn: string): string => urn.slice(urn.lastIndexOf('::') + 2);
/** The resource's own type: the last of the URN's parent type chain (`a$b$c`). */
const typeOf = (urn: string): string => urn.split('::')[2]!.split('$').pop()!;

describe('the model as resources (real engine)', () => {
  it('a stack made by the previous release upgrades with 0 replacements and 0 remote commands; hosts move under their sites; this release then changes only the push program and monitor (the host-key commands re-run for their new prologue and print their stored CSRs: same certificates)', async () => {
    await labPulumi(mesh().lab, ['up', '--yes', '--skip-preview'], { programDir: previous });
    const old = await exportState();
    expect(ofType(old, T.site), 'the previous layout has no Site').toEqual([]);
    const oldMesh = ofType(old, T.mesh)[0]!.urn;
    for (const h of ofType(old, T.host)) expect(h.parent, nameOf(h.urn)).toBe(oldMesh);
    const commandsBefore = ofType(old, T.command).map((c) => nameOf(c.urn)).sort();
    expect(commandsBefore.length).toBeGreaterThanOrEqual(HOSTS.length * 2);

    const sessions = new Map(HOSTS.map((h) => [h, sshSessions(mesh().lab, h)]));
    const hostsBefore = new Map(await Promise.all(HOSTS.map(async (h) => [h, await hostState(h)] as const)));
    const steps = engineSteps((await labPulumi(mesh().lab, ['up', '--yes', '--skip-preview', '--json'], { programDir: modelRelease })).stdout);
    expect(steps.length, 'steps the engine reported').toBeGreaterThan(10);
    const changed = steps.filter((s) => s.op !== 'same');
    const byOp = (op: string): string[] => changed.filter((s) => s.op === op).map((s) => `${typeOf(s.urn)}::${nameOf(s.urn)}`);
    // The new model components are created. The one other step allowed: the certificates'
    // new renewal window (earlyRenewalHours) is an in-place update of state — no replacement, no
    // new certificate (checked below), nothing on a host. No command changes in any way.
    expect(unexpectedUpgradeSteps(changed), 'steps other than create').toEqual([]);
    expect(byOp('create').sort()).toEqual(
      [`${T.site}::e2e-model-site-east`, `${T.site}::e2e-model-site-west`, ...['a~b', 'a~c', 'b~c'].map((k) => `${T.hostPair}::e2e-model-pair-${k}`)].sort(),
    );
    for (const h of HOSTS) expect(sshSessions(mesh().lab, h), `ssh sessions on ${h}`).toBe(sessions.get(h));
    for (const h of HOSTS) expect(await hostState(h), `${h}: files, charon and IKE_SAs`).toBe(hostsBefore.get(h));

    const now = await exportState();
    const sites = new Map(ofType(now, T.site).map((s) => [nameOf(s.urn), s.urn]));
    for (const h of ofType(now, T.host)) {
      const site = nameOf(h.urn) === 'e2e-model-c' ? 'west' : 'east';
      expect(h.parent, nameOf(h.urn)).toBe(sites.get(`e2e-model-site-${site}`));
    }
    // The same commands, carried over under their new URNs; the same certificates.
    expect(ofType(now, T.command).map((c) => nameOf(c.urn)).sort()).toEqual(commandsBefore);
    const pems = (rs: readonly StateResource[]) => ofType(rs, CERT).map((c) => `${nameOf(c.urn)} ${String(c.outputs?.['certPem'])}`).sort();
    expect(pems(now)).toEqual(pems(old));

    // This checkout on top, for a team that pins post-quantum keys off for now (this release
    // turns them on by default; the PSK case below takes the default): the CA's revocation
    // list command and each host's review (both local, on this machine) are new; each push runs
    // once for the new push program and monitor; nothing else changes on a host but the push's
    // own bookkeeping.
    mesh().writeInventory({ mesh: { quantumResistance: 'off' } });
    const except = [MONITOR_SCRIPT, GATE_SCRIPT, LOGROTATE_FILE, ...PUSH_BOOKKEEPING];
    const beforeThis = new Map(await Promise.all(HOSTS.map(async (h) => [h, await hostState(h, except)] as const)));
    const pemsBefore = ofType(await exportState(), CERT).map((c) => `${nameOf(c.urn)} ${String(c.outputs?.['certPem'])}`).sort();
    const next = engineSteps((await mesh().up(['--json'])).stdout).filter((s) => s.op !== 'same');
    expect(unexpectedUpgradeSteps(next, true), 'steps other than create and push updates').toEqual([]);
    expect(ofType(await exportState(), CERT).map((c) => `${nameOf(c.urn)} ${String(c.outputs?.['certPem'])}`).sort(), 'the same certificates').toEqual(pemsBefore);
    expect(next.filter((s) => s.op === 'create').map((s) => `${typeOf(s.urn)}::${nameOf(s.urn)}`).sort()).toEqual(['command:local:Command::e2e-model-crl', ...reviewsOf(HOSTS)].sort());
    for (const h of HOSTS) expect(await hostState(h, except), `${h}: files but the monitor and bookkeeping, charon and IKE_SAs`).toBe(beforeThis.get(h));
    // And a further up has nothing to do.
    expect((await mesh().up(['--expect-no-changes'])).code).toBe(0);
  }, 600_000);

  it('PSK mode, the default: a stack made by the previous release upgrades with 0 replacements; its master becomes generation 0\'s, every PSK stays, and every pair moves onto its PPK', async () => {
    mesh().writeInventory({ mesh: { auth: 'psk' } });
    await labPulumi(mesh().lab, ['up', '--yes', '--skip-preview'], { programDir: previous });
    const old = await exportState();
    const PASSWORD = 'random:index/randomPassword:RandomPassword';
    expect(ofType(old, PASSWORD).map((r) => nameOf(r.urn))).toEqual(['e2e-model-psk-master']);
    const secrets = new Map(HOSTS.map((h) => [h, mesh().lab.readHostFile(h, '/etc/swanctl/conf.d/ipsec-mesh_e2e-model_secrets.conf')]));
    const charons = new Map(HOSTS.map((h) => [h, mesh().lab.charonPid(h)]));

    const changed = engineSteps((await mesh().up(['--json'])).stdout).filter((s) => s.op !== 'same');
    // The pushes run once, for this release's push program and monitor and the PPKs.
    expect(unexpectedUpgradeSteps(changed, true), 'steps other than create and push updates').toEqual([]);
    const created = changed.filter((s) => s.op === 'create').map((s) => `${typeOf(s.urn)}::${nameOf(s.urn)}`);
    expect(created.filter((c) => !c.startsWith(`${T.site}::`) && !c.startsWith(`${T.hostPair}::`)).sort(), 'created besides the model').toEqual(
      [...reviewsOf(HOSTS), `${PASSWORD}::e2e-model-ppk-master`].sort(),
    );
    const now = await exportState();
    const master = ofType(now, PASSWORD);
    expect(master.map((r) => nameOf(r.urn))).toEqual(['e2e-model-ppk-master', 'e2e-model-psk-master-g0']);
    // Reloaded, never restarted; every pair's IKE_SA now mixes in its PPK, on both ends.
    for (const h of HOSTS) expect(mesh().lab.charonPid(h), `charon on ${h}`).toBe(charons.get(h));
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    expect(keysUpOnBothEnds(await negotiate(mesh().lab, HOSTS, expected))).toEqual(expected);
    for (const h of HOSTS) {
      const sas = (await mesh().lab.listSas(h)).filter((sa) => sa.state === 'ESTABLISHED');
      expect(sas.map((sa) => quantumProtection(sa)), h).toEqual(sas.map(() => 'ppk'));
      expect(sas.length, h).toBeGreaterThanOrEqual(4);
    }
    // The same secret carried over (its state ciphertext is re-encrypted each time): every host's keys unchanged.
    for (const h of HOSTS) expect(mesh().lab.readHostFile(h, '/etc/swanctl/conf.d/ipsec-mesh_e2e-model_secrets.conf'), h).toBe(secrets.get(h));
    expect((await mesh().up(['--expect-no-changes'])).code).toBe(0);
  }, 600_000);

  it('PSK mode, per-peer: stack export holds a Site per site and a HostPair per pair with their outputs, and no secret in any of them', async () => {
    mesh().writeInventory({ mesh: { auth: 'psk' } });
    await mesh().up();
    const state = await exportState();
    const sites = ofType(state, T.site);
    expect(sites.map((s) => [nameOf(s.urn), s.outputs])).toEqual([
      ['e2e-model-site-east', { siteName: 'east', mtu: 1500, prefixes: { ipv4: ['198.51.100.0/26'], ipv6: ['2001:db8:e::/64'] }, hosts: ['a', 'b'] }],
      ['e2e-model-site-west', { siteName: 'west', mtu: 1500, prefixes: { ipv4: ['203.0.113.0/26'], ipv6: ['2001:db8:f::/64'] }, hosts: ['c'] }],
    ]);
    const pairs = ofType(state, T.hostPair);
    expect(pairs.map((p) => nameOf(p.urn))).toEqual(['e2e-model-pair-a~b', 'e2e-model-pair-a~c', 'e2e-model-pair-b~c']);
    const prints = new Set<string>();
    for (const p of pairs) {
      const out = p.outputs!;
      expect(Object.keys(out).sort()).toEqual(['auth', 'enforcement', 'espProposals', 'families', 'hostA', 'hostB', 'layout', 'proposals', 'pskFingerprint', 'siteA', 'siteB']);
      expect(out).toMatchObject({ enforcement: 'require', layout: 'per-peer', auth: 'psk' });
      expect((out['families'] as unknown[]).length, nameOf(p.urn)).toBe(2);
      expect(out['pskFingerprint']).toMatch(/^[0-9a-f]{16}$/);
      prints.add(out['pskFingerprint'] as string);
    }
    expect(prints.size).toBe(3);
    for (const r of [...sites, ...pairs]) {
      expect(JSON.stringify(r), `${nameOf(r.urn)}: a secret in state`).not.toContain(SECRET_SIG);
      expect(r.inputs ?? {}, `${nameOf(r.urn)}: inputs`).toEqual({});
    }
  }, 600_000);

  it('compact layout: SitePairs (one per pair of sites) instead of HostPairs', async () => {
    mesh().writeInventory({ mesh: { layout: 'compact' } });
    await mesh().up();
    const state = await exportState();
    expect(ofType(state, T.hostPair)).toEqual([]);
    const sitePairs = ofType(state, T.sitePair);
    expect(sitePairs.map((p) => [nameOf(p.urn), p.outputs!['pairs'], p.outputs!['enforcement']])).toEqual([
      ['e2e-model-sites-east~east', 1, { off: 0, use: 0, require: 1 }],
      ['e2e-model-sites-east~west', 2, { off: 0, use: 0, require: 2 }],
    ]);
    expect(sitePairs[1]!.outputs).toMatchObject({ siteA: 'east', siteB: 'west', families: ['ipv4', 'ipv6'], layout: 'compact', auth: 'certificate' });
    for (const r of sitePairs) expect(JSON.stringify(r)).not.toContain(SECRET_SIG);
  }, 600_000);
});
