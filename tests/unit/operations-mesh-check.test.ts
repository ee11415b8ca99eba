// The Nagios/Icinga check's judgement: every plugin state from rows, reports and certificates.
import { describe, expect, it } from 'vitest';
import {
  CHECK_EXIT_CODES,
  DEFAULT_CHECK_THRESHOLDS,
  evaluateMeshCheck,
  formatMeshCheck,
  meshCheckUnknown,
  type HostCertificateReport,
  type HostSaReport,
  type MeshCheckInput,
  type PairFamilyStatus,
  type PairHealth,
  type SideStatus,
} from '../../components/operations/index.js';
import { startProgressLine } from '../../components/cli/progress-line.js';
import { STATUS_JSON_SCHEMA, statusJson } from '../../components/cli/status-json.js';

const up = (host: string, child = 'INSTALLED'): SideStatus => ({ host, ike: 'ESTABLISHED', child });
const none = (host: string): SideStatus => ({ host, ike: 'none', child: 'none' });
const lost = (host: string): SideStatus => ({ host, ike: 'unreachable', child: 'unknown' });

function row(a: SideStatus, b: SideStatus, health: PairHealth, enforcement: 'use' | 'require' | 'off' = 'use', family: 'ipv4' | 'ipv6' = 'ipv4'): PairFamilyStatus {
  return { pair: `${a.host}~${b.host}`, family, enforcement, a, b, health, cleartext: enforcement === 'use' && health !== 'encrypted' };
}
const read = (host: string): HostSaReport => ({ host, sas: [] });
const reports = ['a', 'b', 'c'].map(read);
const allUp = [row(up('a'), up('b'), 'encrypted'), row(up('a'), up('c'), 'encrypted'), row(up('b'), up('c'), 'encrypted', 'require')];
const cert = (host: string, days: number, role: 'host' | 'ca' | 'peer' = 'host'): HostCertificateReport => ({
  host,
  certificates: [{ subject: `CN=${host}`, ca: role === 'ca', role, notAfter: '2027-01-01T00:00:00.000Z', secondsLeft: Math.round(days * 86_400) }],
});
const judge = (over: Partial<MeshCheckInput>) => evaluateMeshCheck({ mesh: 'm', rows: allUp, reports, thresholds: DEFAULT_CHECK_THRESHOLDS, ...over });
const perf = (text: string): Record<string, string> => Object.fromEntries(text.split('\n')[0]!.split(' | ')[1]!.split(' ').map((p) => p.split('=') as [string, string]));

describe('evaluateMeshCheck', () => {
  it('OK: every pair up, certificates far off; one status line with perfdata', () => {
    const r = judge({ certificates: ['a', 'b', 'c'].map((h) => cert(h, 300)) });
    expect(r.state).toBe('OK');
    expect(r.exitCode).toBe(0);
    const text = formatMeshCheck(r);
    expect(text).toBe('IPSEC-MESH OK - mesh m: 3 of 3 pair rows up, certificates good for 300 more days | pairs_up=3;;;0;3 pairs_expected=3;;;0 pairs_down=0;1;1;0;3 pairs_idle=0;;;0 halflings=0;1;;0 cleartext=0;;;0 hosts_unreachable=0;;;0 cert_days_left=300;14;7\n');
  });

  it('CRITICAL: a pair down, named in the line and in the long output', () => {
    const r = judge({ rows: [row(up('a'), none('b'), 'down'), ...allUp.slice(1)] });
    expect([r.state, r.exitCode]).toEqual(['CRITICAL', 2]);
    expect(r.summary).toBe('mesh m: 1 of 3 pair rows down (a~b ipv4)');
    expect(r.details).toEqual(['DOWN a~b ipv4 (use): a ESTABLISHED/INSTALLED, b none/none — traffic in CLEARTEXT']);
    expect(perf(formatMeshCheck(r))).toMatchObject({ pairs_up: '2;;;0;3', pairs_down: '1;1;1;0;3', cleartext: '1;;;0' });
  });

  it('down thresholds: below --down-critical it only warns', () => {
    const rows = [row(up('a'), none('b'), 'down'), ...allUp.slice(1)];
    expect(judge({ rows, thresholds: { ...DEFAULT_CHECK_THRESHOLDS, downCritical: 2 } }).state).toBe('WARNING');
    expect(judge({ rows: [row(none('a'), none('b'), 'down'), row(up('a'), none('c'), 'down'), allUp[2]!], thresholds: { ...DEFAULT_CHECK_THRESHOLDS, downCritical: 2 } }).state).toBe('CRITICAL');
  });

  it('expect ike: IKE_SAs without CHILD_SAs are up; expect encrypted: down', () => {
    const rows = allUp.map((r) => ({ ...r, a: up(r.a.host, 'none'), b: up(r.b.host, 'none'), health: 'ike-only' as const }));
    expect(judge({ rows, thresholds: { ...DEFAULT_CHECK_THRESHOLDS, expect: 'ike' } }).state).toBe('OK');
    expect(judge({ rows }).state).toBe('CRITICAL');
  });

  it('an idle require pair (no SA on either end, the trap waits) is not down; a require pair half up is', () => {
    const idle = judge({ rows: [...allUp.slice(0, 2), row(none('b'), none('c'), 'down', 'require')] });
    expect(idle.state).toBe('OK');
    expect(idle.summary).toBe('mesh m: 2 of 2 pair rows up (1 idle require)');
    expect(judge({ rows: [...allUp.slice(0, 2), row({ host: 'b', ike: 'CONNECTING', child: 'none' }, none('c'), 'down', 'require')] }).state).toBe('CRITICAL');
  });

  it('enforcement off rows are not judged', () => {
    expect(judge({ rows: [...allUp, row(none('a'), none('b'), 'off', 'off', 'ipv6')] }).summary).toBe('mesh m: 3 of 3 pair rows up');
  });

  it('WARNING: a halfling; a certificate inside the warning days', () => {
    const half = judge({ rows: [row(up('a'), up('b', 'none'), 'half'), ...allUp.slice(1)] });
    expect([half.state, half.exitCode]).toEqual(['WARNING', 1]);
    expect(half.details).toEqual(['HALF a~b ipv4 (use): a ESTABLISHED/INSTALLED, b ESTABLISHED/none']);
    const soon = judge({ certificates: [cert('a', 300), cert('b', 10), cert('c', 2, 'peer')] });
    expect([soon.state, soon.exitCode]).toEqual(['WARNING', 1]);
    expect(soon.summary).toBe('mesh m: host certificate of b expires in 10.0 days');
    expect(perf(formatMeshCheck(soon)).cert_days_left).toBe('10;14;7');
  });

  it('CRITICAL: a certificate inside the critical days, or expired', () => {
    expect(judge({ certificates: [cert('a', 3, 'ca')] }).summary).toBe('mesh m: ca certificate of a expires in 3.0 days');
    expect(judge({ certificates: [cert('a', -1)] }).summary).toBe('mesh m: host certificate of a EXPIRED');
    expect(judge({ certificates: [cert('a', 3)], thresholds: { ...DEFAULT_CHECK_THRESHOLDS, certCriticalDays: 2 } }).state).toBe('WARNING');
  });

  it('UNKNOWN: a host SSH cannot reach; its pairs are unknown, not down', () => {
    const r = judge({
      reports: [read('a'), read('b'), { host: 'c', sas: undefined, unreachable: true, error: 'ssh: connect to host 203.0.113.9 port 22: Connection timed out' }],
      rows: [allUp[0]!, row(up('a'), lost('c'), 'down'), row(up('b'), lost('c'), 'down', 'require')],
    });
    expect([r.state, r.exitCode]).toEqual(['UNKNOWN', 3]);
    expect(r.summary).toBe('mesh m: 1 host(s) unreachable over SSH (c)');
    expect(perf(formatMeshCheck(r))).toMatchObject({ pairs_down: '0;1;1;0;3', hosts_unreachable: '1;;;0', cleartext: '0;;;0' });
  });

  it('charon not answering where SSH works is CRITICAL, not UNKNOWN', () => {
    const r = judge({
      reports: [read('a'), read('b'), { host: 'c', sas: undefined, error: "connecting to 'unix:///var/run/charon.vici' failed: No such file or directory" }],
      rows: [allUp[0]!, row(up('a'), lost('c'), 'down'), row(up('b'), lost('c'), 'down', 'require')],
    });
    expect(r.state).toBe('CRITICAL');
    expect(r.summary).toBe('mesh m: 2 of 3 pair rows down (a~c ipv4, b~c ipv4); charon not answering on c');
  });

  it('CRITICAL outranks UNKNOWN, UNKNOWN outranks WARNING', () => {
    const unreachable: HostSaReport = { host: 'c', sas: undefined, unreachable: true, error: 'timeout' };
    const withDown = judge({ reports: [read('a'), read('b'), unreachable], rows: [row(up('a'), none('b'), 'down'), row(up('a'), lost('c'), 'down')] });
    expect(withDown.state).toBe('CRITICAL');
    const withHalf = judge({ reports: [read('a'), read('b'), unreachable], rows: [row(up('a'), up('b', 'none'), 'half'), row(up('a'), lost('c'), 'down')] });
    expect(withHalf.state).toBe('UNKNOWN');
  });

  it('per host: only the pairs and certificates of that host', () => {
    const rows = [row(up('a'), up('b'), 'encrypted'), row(up('a'), up('c'), 'encrypted'), row(none('b'), up('c', 'none'), 'down')];
    expect(judge({ rows, host: 'a', certificates: [cert('a', 300), cert('b', 1)] }).summary).toBe('a in mesh m: 2 of 2 pair rows up, certificates good for 300 more days');
    expect(judge({ rows, host: 'b' }).state).toBe('CRITICAL');
  });

  it('never lets a | into the text (it starts the perfdata)', () => {
    const r = judge({ reports: [read('a'), read('b'), { host: 'c', sas: undefined, error: 'a|b' }], rows: [row(up('a'), lost('c'), 'down')] });
    expect(formatMeshCheck(r).split('\n')[0]!.split('|')).toHaveLength(2);
    expect(meshCheckUnknown('bad | input\nsecond line')).toBe('IPSEC-MESH UNKNOWN - bad / input\n');
  });

  it('exit codes are the plugin guidelines\'', () => {
    expect(CHECK_EXIT_CODES).toEqual({ OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 });
  });
});

describe('progress lines', () => {
  it('not on a terminal: a start line and an end line with counts', () => {
    const out: string[] = [];
    let t = 1000;
    const p = startProgressLine('status', 3, { write: (s) => out.push(s), isTty: false, now: () => t });
    p.hostDone('a');
    p.hostDone('b');
    p.hostDone('c');
    t = 2500;
    p.finish();
    expect(out).toEqual(['ipsec-mesh: status: querying 3 host(s) over SSH\n', 'ipsec-mesh: status: 3/3 answer(s) from 3 host(s) (1.5 s)\n']);
  });

  it('on a terminal: one line redrawn per answer', () => {
    const out: string[] = [];
    const p = startProgressLine('check', 1, { write: (s) => out.push(s), isTty: true, now: () => 0, readsPerHost: 2 });
    p.hostDone('a');
    p.finish();
    expect(out).toEqual(['\ripsec-mesh: check: 0/2 answer(s) from 1 host(s) (0.0 s)', '\ripsec-mesh: check: 1/2 answer(s) from 1 host(s) (0.0 s)', '\ripsec-mesh: check: 1/2 answer(s) from 1 host(s) (0.0 s)\n']);
  });
});

describe('status --json', () => {
  it('is one versioned object: summary, rows, hosts (reachability), certificates only when read', () => {
    const rows = [row(up('a'), up('b'), 'encrypted'), row(up('a'), lost('c'), 'down')];
    const j = statusJson({
      mesh: 'm',
      expect: 'encrypted',
      rows,
      kernel: true,
      reports: [{ host: 'a', sas: [], xfrmStat: new Map([['XfrmInNoStates', 2]]) }, read('b'), { host: 'c', sas: undefined, unreachable: true, error: 'timeout' }],
      now: new Date('2026-12-06T00:00:00Z'),
    });
    expect(j).toEqual({
      schema: STATUS_JSON_SCHEMA,
      mesh: 'm',
      generatedAt: '2026-12-06T00:00:00.000Z',
      expect: 'encrypted',
      belowExpect: 1,
      summary: { rows: 2, byHealth: { encrypted: 1, half: 0, 'ike-only': 0, down: 1, off: 0 }, cleartext: 1 },
      rows,
      hosts: [
        { host: 'a', read: true, unreachable: false, xfrmStat: { XfrmInNoStates: 2 } },
        { host: 'b', read: true, unreachable: false },
        { host: 'c', read: false, unreachable: true, error: 'timeout' },
      ],
    });
    expect(STATUS_JSON_SCHEMA).toBe('ipsec-mesh.status/v1');
  });
});
