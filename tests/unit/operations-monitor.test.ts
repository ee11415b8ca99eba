import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type LivenessDecision,
  type LivenessInput,
  type LivenessTarget,
  type RetryState,
  decideLiveness,
  discoveredTargets,
  formatLivenessMetrics,
} from '../../components/operations/liveness-check.js';
import { parseXfrmPolicy, parseXfrmStat, parseXfrmState } from '../../components/operations/liveness-xfrm.js';
import { MonitorScriptError, monitorPaths, monitorScript } from '../../components/operations/monitor-script.js';
import { parseMonitoredCertificates } from '../../components/operations/monitor-certificates.js';
import { parseListSas } from '../../components/operations/swanctl-status.js';
import { FAKE_KEY, type IkeFixture, MonitorSandbox, type PolicyFixture, type SaFixture, prettySas, xfrmPolicyText, xfrmStatText, xfrmStateText } from './operations-fixtures.js';

// The rendered monitor script, run for real by dash (and bash) against fixture outputs of
// swanctl and iproute2 through fake tools, compared with the TypeScript decision function on
// the same inputs: same actions, same retry state, same metrics file byte for byte.

const MESH = 'm';
const A4 = '198.51.100.10';
const A6 = '2001:db8:e::10';
const B4 = '198.51.100.11';
const B6 = '2001:db8:e::11';
const C4 = '203.0.113.10';
const D4 = '198.51.100.12';
const E4 = '198.51.100.13';
const F4 = '198.51.100.14';
const G4 = '203.0.113.11';
const H4 = '198.51.100.15';
const I4 = '198.51.100.16';

const t = (peer: string, family: 'ipv4' | 'ipv6', remote: string, role: LivenessTarget['role']): LivenessTarget => ({
  connection: `${MESH}_${peer}_${family === 'ipv4' ? 'v4' : 'v6'}`,
  peer,
  family,
  local: family === 'ipv4' ? A4 : A6,
  remote,
  enforcement: role === 'require' ? 'require' : 'use',
  role,
});

const TARGETS: LivenessTarget[] = [
  t('b', 'ipv4', B4, 'use-initiator'), // healthy
  t('b', 'ipv6', B6, 'use-initiator'), // no IKE_SA: initiate
  t('c', 'ipv4', C4, 'require'), // halfling: inbound SA missing
  t('d', 'ipv4', D4, 'use-responder'), // IKE only: cleartext, nothing to do as responder
  t('e', 'ipv4', E4, 'use-responder'), // nothing at all: only after a load
  t('f', 'ipv4', F4, 'use-initiator'), // IKE only: initiate the child (back-off)
  t('g', 'ipv4', G4, 'require'), // no SA, trap in place: held, not cleartext
  t('h', 'ipv4', H4, 'use-initiator'), // installed in charon, nothing in the SAD (userland ESP): leave alone
  t('i', 'ipv4', I4, 'use-initiator'), // IKE_SA still CONNECTING: charon is at it
];

const child = (conn: string, id: number, remote: string, spiIn: string, spiOut: string, extra: Partial<{ state: string; installTime: number; bytesIn: number; bytesOut: number }> = {}) => ({
  name: conn,
  id,
  spiIn,
  spiOut,
  local: remote.includes(':') ? A6 : A4,
  remote,
  ...extra,
});

const IKES: IkeFixture[] = [
  { name: 'm_b_v4', id: 1, local: A4, remote: B4, initiator: true, established: 300, ppk: true, mlKem: true, children: [child('m_b_v4', 11, B4, 'c1000001', 'c2000001', { installTime: 120, bytesIn: 5_000_000_000, bytesOut: 420 })] },
  { name: 'm_c_v4', id: 2, local: A4, remote: C4, established: 900, ppk: true, remoteId: 'C=CH, O=strongSwan, CN=c', children: [child('m_c_v4', 12, C4, 'c1000002', 'c2000002', { installTime: 800 })] },
  { name: 'm_d_v4', id: 3, local: A4, remote: D4, established: 60 },
  { name: 'm_f_v4', id: 4, local: A4, remote: F4, initiator: true, established: 30 },
  { name: 'm_h_v4', id: 5, local: A4, remote: H4, initiator: true, established: 20, children: [child('m_h_v4', 13, H4, 'c1000003', 'c2000003')] },
  { name: 'm_i_v4', id: 6, state: 'CONNECTING', local: A4, remote: I4, initiator: true },
  // Someone else's SA between the same hosts (an operator's tunnel): never counted.
  { name: 'operator-vpn', id: 7, local: A4, remote: B4, established: 5 },
];

const SAD: SaFixture[] = [
  { src: B4, dst: A4, spi: 'c1000001', bytes: 5_000_000_000 },
  { src: A4, dst: B4, spi: 'c2000001', bytes: 420 },
  { src: A4, dst: C4, spi: 'c2000002' }, // c's inbound SA is gone
  { src: A4, dst: B4, spi: '000000ff', proto: 'comp' },
];

const pfx = (a: string): string => `${a}/${a.includes(':') ? 128 : 32}`;
const POLICIES: PolicyFixture[] = [
  { src: pfx(A4), dst: pfx(B4), dir: 'out', esp: true },
  { src: pfx(B4), dst: pfx(A4), dir: 'in', esp: true },
  { src: pfx(A4), dst: pfx(C4), dir: 'out', esp: true },
  { src: pfx(A4), dst: pfx(G4), dir: 'out', esp: true },
  { src: pfx(A4), dst: pfx(H4), dir: 'out', esp: true },
  // A bypass shunt and a blocking policy never count as protection.
  { src: '0.0.0.0/0', dst: '0.0.0.0/0', dir: 'out', upper: 'proto tcp dport 22', priority: 1000 },
  { src: pfx(A4), dst: pfx(D4), dir: 'out', esp: true, block: true },
];

const NOW = 1_000_000;

interface Fixture {
  readonly sas: string;
  readonly sas2?: string;
  readonly sad: string;
  readonly spd: string;
  readonly stat: string;
}

const FIXTURE: Fixture = {
  sas: prettySas(IKES),
  sad: xfrmStateText(SAD),
  spd: xfrmPolicyText(POLICIES),
  stat: xfrmStatText({ XfrmInNoStates: 17, XfrmOutPolBlock: 3 }),
};

/** What the TypeScript rules decide for one monitor run (both looks when a halfling is suspected). */
function expected(f: Fixture, mode: 'timer' | 'after-load', retries: ReadonlyMap<string, RetryState> = new Map(), over: Partial<LivenessInput> = {}): LivenessDecision {
  const base: LivenessInput = {
    mesh: MESH,
    targets: TARGETS,
    mode,
    now: NOW,
    sas: parseListSas(f.sas),
    sad: parseXfrmState(f.sad),
    spd: parseXfrmPolicy(f.spd),
    retries,
    ...over,
  };
  const first = decideLiveness(base);
  const suspects = first.actions.filter((a) => a.kind === 'suspect').map((a) => (a.kind === 'suspect' ? a.childId : -1));
  if (suspects.length === 0) return first;
  return decideLiveness({ ...base, sas: parseListSas(f.sas2 ?? f.sas), confirmed: new Set(suspects) });
}

function metricsFor(f: Fixture, d: LivenessDecision, totals: { initiate: number; terminate: number }, certificates?: string): string {
  const sad = parseXfrmState(f.sad);
  return formatLivenessMetrics({
    ...(certificates === undefined ? {} : { certificates: parseMonitoredCertificates(certificates, MESH) }),
    mesh: MESH,
    decision: d,
    targets: TARGETS.length,
    sources: { charon: true, xfrmState: true, xfrmPolicy: true, xfrmStat: true },
    espSas: sad.filter((s) => s.proto === 'esp').length,
    xfrmStat: parseXfrmStat(f.stat),
    actionsTotal: totals,
    now: NOW,
  });
}

/** The swanctl commands the decision implies, as the script runs them. */
function commands(d: LivenessDecision): string[] {
  return d.actions.flatMap((a) =>
    a.kind === 'terminate'
      ? [`swanctl --terminate --child-id ${a.childId} --timeout 10`]
      : a.kind === 'initiate'
        ? [`swanctl --initiate --ike ${a.connection} --child ${a.connection} --timeout 5`]
        : [],
  );
}

const SCRIPT = monitorScript({ mesh: MESH, host: 'a', targets: TARGETS });
const STATE = monitorPaths(MESH).stateDir;

let sb: MonitorSandbox;
beforeEach(() => {
  sb = new MonitorSandbox();
  sb.set({ ...FIXTURE, now: NOW });
});
afterEach(() => sb.cleanup());

function actionsRun(): string[] {
  return sb.log().filter((l) => /^swanctl --(initiate|terminate)/.test(l));
}

function retryFile(): Map<string, RetryState> {
  const m = new Map<string, RetryState>();
  let text = '';
  try {
    text = sb.read(`${STATE}/retry`);
  } catch {
    return m;
  }
  for (const line of text.split('\n').filter(Boolean)) {
    const [, conn, tries, last] = line.split(' ');
    m.set(conn!, { tries: Number(tries), last: Number(last) });
  }
  return m;
}

// `swanctl --list-certs --type x509 --utc` as strongSwan prints it (certificate_printer.c): the
// host's own certificate (private key held), a peer's cached one, the mesh CA, another CA.
const LIST_CERTS = `
List of X.509 End Entity Certificates

  subject:  "CN=a.dc1.mesh.example"
  issuer:   "O=ipsec-mesh, CN=m mesh CA ca1"
  validity:  not before Dec 06 05:09:00 UTC 2026, ok
             not after  Mar 01 00:00:00 UTC 2028, ok (expires in 450 days)
  serial:    5f:12
  altNames:  a.dc1.mesh.example, 198.51.100.10
  flags:     
  pubkey:    ECDSA 384 bits, has private key
  keyid:     aa:bb
  subjkey:   cc:dd

  subject:  "CN=b.dc1.mesh.example"
  issuer:   "O=ipsec-mesh, CN=m mesh CA ca1"
  validity:  not before Dec 06 05:09:00 UTC 2026, ok
             not after  Dec 06 05:09:00 UTC 2027, ok (expires in 364 days)
  pubkey:    ECDSA 384 bits

List of X.509 CA Certificates

  subject:  "O=ipsec-mesh, CN=m mesh CA ca1"
  issuer:   "O=ipsec-mesh, CN=m mesh CA ca1"
  validity:  not before Jan 31 23:59:59 UTC 2024, ok
             not after  Feb 29 12:30:45 UTC 2036, ok (expires in 3372 days)
  flags:     CA CRLSign self-signed 
  pubkey:    ECDSA 384 bits

  subject:  "O=Operator \\"old\\", CN=operator CA"
  issuer:   "O=Operator, CN=operator CA"
  validity:  not before Jan 01 00:00:00 UTC 2020, ok
             not after  Jan 01 00:00:00 UTC 2030, ok (expires in 1121 days)
  pubkey:    RSA 2048 bits
`;

describe('certificate expiry in the metrics', () => {
  it('reads the host certificate and the mesh CA (not peers, not other CAs), dates exact to the second', () => {
    expect(parseMonitoredCertificates(LIST_CERTS, MESH)).toEqual([
      { role: 'host', subject: 'CN=a.dc1.mesh.example', notAfter: Date.UTC(2028, 2, 1) / 1000 },
      { role: 'ca', subject: 'O=ipsec-mesh, CN=m mesh CA ca1', notAfter: Date.UTC(2036, 1, 29, 12, 30, 45) / 1000 },
    ]);
    expect(parseMonitoredCertificates(LIST_CERTS, 'other')).toHaveLength(1);
  });

  it.each([['/bin/sh'], ['/bin/bash']])('the script (%s) writes the same expiry lines as formatLivenessMetrics', (shell) => {
    sb.write('../certs.txt', LIST_CERTS);
    const d = expected(FIXTURE, 'timer');
    const r = sb.run(SCRIPT, ['--no-act'], shell);
    expect(r.code, r.stderr).toBe(0);
    const text = sb.read(`metrics/ipsec_mesh_${MESH}.prom`);
    expect(text).toBe(metricsFor(FIXTURE, d, { initiate: 0, terminate: 0 }, LIST_CERTS));
    expect(text).toContain(`ipsec_mesh_certificate_expires_in_seconds{mesh="m",role="host",subject="CN=a.dc1.mesh.example"} ${Date.UTC(2028, 2, 1) / 1000 - NOW}`);
    expect(text).toContain(`ipsec_mesh_certificate_expiry_timestamp_seconds{mesh="m",role="ca",subject="O=ipsec-mesh, CN=m mesh CA ca1"} ${Date.UTC(2036, 1, 29, 12, 30, 45) / 1000}`);
    expect(sb.log()).toContain('swanctl --list-certs --type x509 --utc');
  });
});

describe('monitor script vs decideLiveness on the same fixtures', () => {
  it.each([['/bin/sh'], ['/bin/bash']])('timer run (%s): same actions, retry state, warnings and metrics file', (shell) => {
    const d = expected(FIXTURE, 'timer');
    // The rules themselves, spelled out for this fixture.
    expect(d.actions.map((a) => `${a.kind} ${a.connection}${a.kind === 'initiate' ? ` ${a.reason}` : ''}`)).toEqual([
      'initiate m_b_v6 no-ike',
      'terminate m_c_v4',
      'initiate m_f_v4 no-child',
    ]);
    const r = sb.run(SCRIPT, [], shell);
    expect(r.code, r.stderr).toBe(0);
    expect(actionsRun().sort()).toEqual(commands(d).sort());
    // The halfling was confirmed by a second look after the delay, not acted on at first sight.
    expect(sb.log().filter((l) => l.startsWith('swanctl --list-sas') || l.startsWith('sleep'))).toEqual([
      'swanctl --list-sas --pretty',
      'sleep 2',
      'swanctl --list-sas --pretty',
    ]);
    expect(retryFile()).toEqual(d.retries);
    const metrics = sb.read(`metrics/ipsec_mesh_${MESH}.prom`);
    expect(metrics).toBe(metricsFor(FIXTURE, d, { initiate: 2, terminate: 1 }));
    // What protects each established IKE_SA against a quantum computer; nothing for pairs without one.
    const quantum = metrics.split('\n').filter((l) => /^ipsec_mesh_ike_(ppk|ml_kem)\{/.test(l));
    expect(quantum.map((l) => l.replace(/,enforcement="[a-z]+"/, '').replace('mesh="m",', ''))).toEqual([
      ...['b 1', 'c 1', 'd 0', 'f 0', 'h 0'].map((x) => `ipsec_mesh_ike_ppk{peer="${x.split(' ')[0]}",family="ipv4"} ${x.split(' ')[1]}`),
      ...['b 1', 'c 0', 'd 0', 'f 0', 'h 0'].map((x) => `ipsec_mesh_ike_ml_kem{peer="${x.split(' ')[0]}",family="ipv4"} ${x.split(' ')[1]}`),
    ]);
    const warnings = sb.syslog().filter((l) => l.startsWith('ipsec-mesh daemon.warning '));
    expect(warnings.map((l) => l.replace('ipsec-mesh daemon.warning ', ''))).toEqual(d.warnings);
    expect(d.warnings).toEqual([
      'mesh m: traffic to b (ipv6 2001:db8:e::11) leaves in cleartext: enforcement use, no CHILD_SA',
      'mesh m: traffic to d (ipv4 198.51.100.12) leaves in cleartext: enforcement use, no CHILD_SA',
      'mesh m: traffic to e (ipv4 198.51.100.13) leaves in cleartext: enforcement use, no CHILD_SA',
      'mesh m: traffic to f (ipv4 198.51.100.14) leaves in cleartext: enforcement use, no CHILD_SA',
      'mesh m: traffic to i (ipv4 198.51.100.16) leaves in cleartext: enforcement use, no CHILD_SA',
    ]);
    expect(sb.syslog()).toContainEqual('ipsec-mesh daemon.notice mesh m: closed CHILD_SA m_c_v4{12} to c (ipv4): its in SA is missing from the kernel SAD (sad halfling)');
    expect(r.stdout).toBe('a: mesh m monitor: 9 connection(s): 5 IKE_SA up, 3 CHILD_SA up, 5 cleartext, 1 halfling; 2 initiated, 1 closed\n');
  });

  it('after a load: no back-off, and a use responder with no IKE_SA at all initiates once', () => {
    const retries = new Map([['m_f_v4', { tries: 3, last: NOW - 5 }]]);
    sb.write(`${STATE}/retry`, 'R m_f_v4 3 999995\n');
    const d = expected(FIXTURE, 'after-load', retries);
    expect(d.actions.filter((a) => a.kind === 'initiate').map((a) => a.connection)).toEqual(['m_b_v6', 'm_e_v4', 'm_f_v4']);
    const r = sb.run(SCRIPT, ['--after-load']);
    expect(r.code, r.stderr).toBe(0);
    expect(actionsRun().sort()).toEqual(commands(d).sort());
    expect(retryFile()).toEqual(d.retries);
    expect(d.retries.get('m_f_v4')).toEqual({ tries: 4, last: NOW });
  });

  it('a responder attempt still unanswered after the timeout is withdrawn, so the two ends never race', () => {
    sb.flag('initiate-fails', true);
    const attempt = (state: string): IkeFixture => ({ name: 'm_e_v4', id: 40, state, local: A4, remote: E4, initiator: true });
    // Listings of the run: 1 the first look, 2 the halfling's second look, 3 after the initiations.
    sb.set({ sasByCall: { 3: prettySas([...IKES, attempt('CONNECTING')]) } });
    const r = sb.run(SCRIPT, ['--after-load']);
    expect(r.code, r.stderr).toBe(0);
    expect(sb.log()).toContain('swanctl --initiate --ike m_e_v4 --child m_e_v4 --timeout 5');
    expect(sb.log()).toContain('swanctl --terminate --ike-id 40 --force');
    expect(sb.syslog()).toContain('ipsec-mesh daemon.notice mesh m: withdrew the unanswered attempt m_e_v4[40] (this host only responds for it)');
    // One that came up stays.
    sb.clearLogs();
    sb.set({ sasByCall: { 3: prettySas([...IKES, attempt('ESTABLISHED')]) } });
    sb.run(SCRIPT, ['--after-load']);
    expect(sb.log().filter((l) => l.includes('--ike-id'))).toEqual([]);
  });

  it('back-off: a connection tried 30 s ago is not retried before 60 s have passed (timer)', () => {
    const fresh = new Map([['m_f_v4', { tries: 2, last: NOW - 59 }], ['m_b_v6', { tries: 1, last: NOW - 30 }]]);
    sb.write(`${STATE}/retry`, 'R m_f_v4 2 999941\nR m_b_v6 1 999970\n');
    const d = expected(FIXTURE, 'timer', fresh);
    expect(d.actions.filter((a) => a.kind === 'initiate').map((a) => a.connection)).toEqual(['m_b_v6']);
    const r = sb.run(SCRIPT);
    expect(r.code, r.stderr).toBe(0);
    expect(actionsRun().sort()).toEqual(commands(d).sort());
    expect(retryFile()).toEqual(d.retries);
    expect(retryFile().get('m_f_v4')).toEqual({ tries: 2, last: NOW - 59 });
  });

  it('a connection seen up again forgets its back-off', () => {
    sb.write(`${STATE}/retry`, 'R m_b_v4 5 1\n');
    sb.run(SCRIPT);
    expect(retryFile().has('m_b_v4')).toBe(false);
  });

  it('a half seen once only (a rekey between the reads) is left alone', () => {
    // The second listing shows c's CHILD_SA rekeyed: new SPIs, both in the SAD by then.
    const rekeyed = IKES.map((i) => (i.name === 'm_c_v4' ? { ...i, children: [child('m_c_v4', 14, C4, 'c1000004', 'c2000004')] } : i));
    const f: Fixture = { ...FIXTURE, sas2: prettySas(rekeyed) };
    sb.set({ sasByCall: { 2: f.sas2! } });
    const d = expected(f, 'timer');
    expect(d.actions.some((a) => a.kind === 'terminate')).toBe(false);
    const r = sb.run(SCRIPT);
    expect(r.code, r.stderr).toBe(0);
    expect(actionsRun().filter((l) => l.includes('--terminate'))).toEqual([]);
  });

  it('charon unreadable: exit 1, no action, back-off kept, metrics say so', () => {
    sb.flag('charon-down', true);
    sb.write(`${STATE}/retry`, 'R m_f_v4 2 999941\n');
    const r = sb.run(SCRIPT);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("a: cannot read charon's SAs: connecting to 'unix:///var/run/charon.vici' failed: Connection refused");
    expect(actionsRun()).toEqual([]);
    expect(retryFile()).toEqual(new Map([['m_f_v4', { tries: 2, last: NOW - 59 }]]));
    const d = decideLiveness({ mesh: MESH, targets: TARGETS, mode: 'timer', now: NOW, sas: undefined, sad: parseXfrmState(FIXTURE.sad), spd: parseXfrmPolicy(FIXTURE.spd) });
    const text = formatLivenessMetrics({
      mesh: MESH,
      decision: d,
      targets: TARGETS.length,
      sources: { charon: false, xfrmState: true, xfrmPolicy: true, xfrmStat: true },
      espSas: 3,
      xfrmStat: parseXfrmStat(FIXTURE.stat),
      actionsTotal: { initiate: 0, terminate: 0 },
      now: NOW,
    });
    expect(sb.read(`metrics/ipsec_mesh_${MESH}.prom`)).toBe(text);
    expect(text).toContain('ipsec_mesh_monitor_source_up{mesh="m",source="charon"} 0\n');
  });

  it('kernel tables unreadable: no halfling is looked for, cleartext judged from charon alone', () => {
    sb.flag('ip-fails', true);
    const r = sb.run(SCRIPT);
    expect(r.code, r.stderr).toBe(0);
    const d = decideLiveness({ mesh: MESH, targets: TARGETS, mode: 'timer', now: NOW, sas: parseListSas(FIXTURE.sas), sad: undefined, spd: undefined });
    expect(d.actions.some((a) => a.kind !== 'initiate')).toBe(false);
    expect(actionsRun().sort()).toEqual(commands(d).sort());
    const text = formatLivenessMetrics({
      mesh: MESH,
      decision: d,
      targets: TARGETS.length,
      sources: { charon: true, xfrmState: false, xfrmPolicy: false, xfrmStat: true },
      xfrmStat: parseXfrmStat(FIXTURE.stat),
      actionsTotal: { initiate: 2, terminate: 0 },
      now: NOW,
    });
    expect(sb.read(`metrics/ipsec_mesh_${MESH}.prom`)).toBe(text);
    expect(text).toContain('ipsec_mesh_cleartext{mesh="m",peer="g",family="ipv4",enforcement="require"} 0\n');
  });

  it('--no-act reports and writes metrics only', () => {
    const r = sb.run(SCRIPT, ['--no-act']);
    expect(r.code, r.stderr).toBe(0);
    expect(actionsRun()).toEqual([]);
    expect(sb.log().filter((l) => l.startsWith('sleep'))).toEqual([]);
    expect(sb.read(`metrics/ipsec_mesh_${MESH}.prom`)).toContain('ipsec_mesh_halfling{mesh="m",peer="c",family="ipv4",enforcement="require"} 1\n');
  });

  it('counts its actions across runs (ipsec_mesh_monitor_actions_total)', () => {
    sb.run(SCRIPT);
    sb.set({ now: NOW + 3600 });
    sb.run(SCRIPT);
    const text = sb.read(`metrics/ipsec_mesh_${MESH}.prom`);
    expect(text).toContain('ipsec_mesh_monitor_actions_total{mesh="m",action="initiate"} 4\n');
    expect(text).toContain('ipsec_mesh_monitor_actions_total{mesh="m",action="terminate"} 2\n');
  });

  it('caps initiations per run', () => {
    const capped = monitorScript({ mesh: MESH, host: 'a', targets: TARGETS, settings: { maxInitiations: 1 } });
    const d = expected(FIXTURE, 'timer', new Map(), { settings: { maxInitiations: 1 } });
    sb.run(capped);
    expect(actionsRun().sort()).toEqual(commands(d).sort());
    expect(actionsRun().filter((l) => l.includes('--initiate'))).toHaveLength(1);
  });
});

describe('monitor script hygiene', () => {
  it('writes the metrics 0644 by rename (no temp file left), keeps no key material, removes its scratch space', () => {
    sb.run(SCRIPT);
    const metrics = join(sb.root, `metrics/ipsec_mesh_${MESH}.prom`);
    expect(statSync(metrics).mode & 0o777).toBe(0o644);
    expect(readdirSync(join(sb.root, 'metrics'))).toEqual([`ipsec_mesh_${MESH}.prom`]);
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
    for (const f of walk(sb.root)) expect(readFileSync(f, 'utf8'), f).not.toContain(FAKE_KEY.slice(2, 40));
    expect(readdirSync(join(sb.root, 'run')).sort()).toEqual(['ipsec-mesh.lock', 'ipsec-mesh_m_monitor']);
    expect(readdirSync(join(sb.root, 'run/ipsec-mesh_m_monitor')).sort()).toEqual(['counters', 'metrics-dir', 'retry']);
  });

  it('falls back to its /run directory when the textfile directory does not exist', () => {
    const r = sb.run(SCRIPT, ['--textfile-dir', '/missing']);
    expect(r.code, r.stderr).toBe(0);
    expect(sb.read(`${STATE}/ipsec_mesh_${MESH}.prom`)).toContain('ipsec_mesh_monitor_targets{mesh="m"} 9\n');
    expect(sb.read(`${STATE}/metrics-dir`)).toBe(`${STATE}\n`);
  });

  it('a timer run while a deploy holds the host lock is skipped', async () => {
    const { spawn } = await import('node:child_process');
    const holder = spawn('flock', [join(sb.root, 'run/ipsec-mesh.lock'), 'sleep', '30'], { stdio: 'ignore' });
    try {
      // Wait until flock holds the lock (a non-blocking probe fails).
      const { spawnSync } = await import('node:child_process');
      for (let i = 0; i < 200 && spawnSync('flock', ['-n', join(sb.root, 'run/ipsec-mesh.lock'), 'true']).status === 0; i++) {
        await new Promise((res) => setTimeout(res, 10));
      }
      const r = sb.run(SCRIPT);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`a: mesh m monitor: skipped (a deploy holds ${sb.root}/run/ipsec-mesh.lock)\n`);
      expect(sb.log()).toEqual([]);
    } finally {
      holder.kill();
    }
  });

  it('--every: the service loop runs again and again, each run a fresh shell reading the file; SIGTERM ends it with 0', async () => {
    const child = sb.start(SCRIPT, ['--every', '7']);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const runs = (): number => (out.match(/^a: mesh m monitor: \d+ connection\(s\)/gm) ?? []).length;
    for (let i = 0; i < 500 && runs() < 3; i++) await new Promise((res) => setTimeout(res, 20));
    // The file changes under the running loop: the next run is the new one.
    sb.run(SCRIPT.replace('monitor: $2 connection(s)', 'monitor (edited): $2 connection(s)'), ['--no-act']);
    const edited = (): number => (out.match(/monitor \(edited\)/g) ?? []).length;
    for (let i = 0; i < 500 && edited() < 1; i++) await new Promise((res) => setTimeout(res, 20));
    process.kill(-child.pid!, 'SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/^a: mesh m monitor: running every 7 s\n/);
    expect(runs()).toBeGreaterThanOrEqual(3);
    expect(edited()).toBeGreaterThanOrEqual(1);
    expect(sb.log().filter((l) => l === 'sleep 7').length).toBeGreaterThanOrEqual(3);
  });

  it('--every takes a whole number of seconds', () => {
    for (const bad of [['--every', 'x'], ['--every', '0'], ['--every']]) expect(sb.run(SCRIPT, bad).code, bad.join(' ')).toBe(2);
  });

  it('is deterministic, parses under sh -n, and refuses unsafe inputs', async () => {
    const { spawnSync } = await import('node:child_process');
    expect(monitorScript({ mesh: MESH, host: 'a', targets: TARGETS })).toBe(SCRIPT);
    expect(spawnSync('/bin/sh', ['-n'], { input: SCRIPT }).status).toBe(0);
    expect(SCRIPT).toMatch(/^#!\/bin\/sh\n/);
    expect(() => monitorScript({ mesh: 'm', host: 'a', targets: [{ ...TARGETS[0]!, remote: '1.2.3.4; rm -rf /' }] })).toThrow(MonitorScriptError);
    expect(() => monitorScript({ mesh: 'm_x', host: 'a', targets: [] })).toThrow(/mesh name/);
    expect(() => monitorScript({ mesh: 'm', host: 'a', targets: [], textfileDir: '/var/../etc' })).toThrow(/textfile directory/);
    expect(() => monitorScript({ mesh: 'm', host: 'a', targets: [], settings: { maxInitiations: -1 } })).toThrow(/maxInitiations/);
  });

  it('logs to stderr where no syslog socket exists, and with journal priorities under systemd', async () => {
    const { rmSync } = await import('node:fs');
    rmSync(join(sb.root, 'dev/log'));
    const r = sb.run(SCRIPT);
    expect(sb.syslog()).toEqual([]);
    expect(r.stderr).toContain('a: mesh m: traffic to b (ipv6 2001:db8:e::11) leaves in cleartext: enforcement use, no CHILD_SA\n');
    const { spawnSync } = await import('node:child_process');
    const j = spawnSync('/bin/sh', [join(sb.root, 'etc/swanctl/monitor.sh'), '--root', sb.root, '--textfile-dir', '/metrics'], {
      encoding: 'utf8',
      env: { PATH: `${sb.bin}:/usr/bin:/bin`, SB: sb.dir, LC_ALL: 'C', JOURNAL_STREAM: '8:12345' },
    });
    expect(j.stderr).toContain('<4>mesh m: traffic to b (ipv6 2001:db8:e::11) leaves in cleartext: enforcement use, no CHILD_SA\n');
    expect(j.stderr).toContain('<5>mesh m: closed CHILD_SA m_c_v4{12} to c (ipv4): its in SA is missing from the kernel SAD (sad halfling)\n');
  });

  it('compact site-prefixes: no peer list; it watches the IKE_SAs charon has on the mesh connections, as discoveredTargets does', () => {
    const connections = ['m_c_v4', 'm_b_v4'];
    const found = discoveredTargets(parseListSas(FIXTURE.sas), connections);
    // In charon's order, one per connection and address pair, the peer named by its address.
    expect(found.map((x) => `${x.connection} ${x.peer} ${x.family} ${x.role}`)).toEqual([`m_b_v4 ${B4} ipv4 require`, `m_c_v4 ${C4} ipv4 require`]);
    const d = expected(FIXTURE, 'timer', new Map(), { targets: found });
    expect(d.actions.map((a) => `${a.kind} ${a.connection}`)).toEqual(['terminate m_c_v4']);
    const r = sb.run(monitorScript({ mesh: MESH, host: 'a', targets: [], discover: { connections, locals: [A4, A6] } }));
    expect(r.code, r.stderr).toBe(0);
    expect(actionsRun()).toEqual(commands(d));
    const metrics = sb.read(`metrics/ipsec_mesh_${MESH}.prom`);
    const sad = parseXfrmState(FIXTURE.sad);
    expect(metrics).toBe(
      formatLivenessMetrics({
        mesh: MESH,
        decision: d,
        targets: found.length,
        sources: { charon: true, xfrmState: true, xfrmPolicy: true, xfrmStat: true },
        espSas: sad.filter((x) => x.proto === 'esp').length,
        xfrmStat: parseXfrmStat(FIXTURE.stat),
        actionsTotal: { initiate: 0, terminate: 1 },
        now: NOW,
        certificates: [],
      }),
    );
    expect(metrics).toContain(`ipsec_mesh_halfling{mesh="m",peer="${C4}",family="ipv4",enforcement="require"} 1`);
  });

  it('with no connections to watch (mesh switched off) it still reports the kernel', () => {
    const r = sb.run(monitorScript({ mesh: MESH, host: 'a', targets: [] }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('a: mesh m monitor: 0 connection(s): 0 IKE_SA up, 0 CHILD_SA up, 0 cleartext, 0 halfling; 0 initiated, 0 closed\n');
    expect(sb.read(`metrics/ipsec_mesh_${MESH}.prom`)).toContain('ipsec_mesh_xfrm_stat_total{mesh="m",counter="XfrmInNoStates"} 17\n');
  });
});
