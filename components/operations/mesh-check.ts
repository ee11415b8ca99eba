// The Nagios/Icinga check: the pair matrix, the hosts' reachability and their certificates
// judged into one plugin state (exit 0/1/2/3), one status line with perfdata, and a line per
// problem (the plugin guidelines' long output). Pure: collecting over SSH is the CLI's job.
import type { HostCertificateReport } from './certificate-expiry.js';
import type { HostSaReport, PairFamilyStatus, SideStatus } from './pair-status.js';

export type CheckState = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';

/** The plugin guidelines' exit codes. */
export const CHECK_EXIT_CODES: Readonly<Record<CheckState, number>> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

export interface MeshCheckThresholds {
  /** What a pair must reach to count as up: `encrypted` (CHILD_SAs on both ends) or `ike` (IKE_SAs suffice). */
  readonly expect: 'ike' | 'encrypted';
  /** Pair rows down from which the state is WARNING / CRITICAL. */
  readonly downWarning: number;
  readonly downCritical: number;
  /** Days left on the soonest-expiring host or CA certificate below which it is WARNING / CRITICAL. */
  readonly certWarningDays: number;
  readonly certCriticalDays: number;
}

/** A pair down pages; certificates page a week before they expire (renewal starts 30 days before). */
export const DEFAULT_CHECK_THRESHOLDS: MeshCheckThresholds = { expect: 'encrypted', downWarning: 1, downCritical: 1, certWarningDays: 14, certCriticalDays: 7 };

export interface MeshCheckInput {
  readonly mesh: string;
  readonly rows: readonly PairFamilyStatus[];
  readonly reports: readonly HostSaReport[];
  /** Read only in certificate mode; absent: no certificate perfdata. */
  readonly certificates?: readonly HostCertificateReport[];
  readonly thresholds: MeshCheckThresholds;
  /** Judge only the pairs of this host (per-host service checks). */
  readonly host?: string;
}

export interface PerfDatum {
  readonly label: string;
  readonly value: number;
  readonly uom?: string;
  readonly warn?: number;
  readonly crit?: number;
  readonly min?: number;
  readonly max?: number;
}

export interface MeshCheckResult {
  readonly state: CheckState;
  readonly exitCode: number;
  readonly summary: string;
  readonly perfdata: readonly PerfDatum[];
  /** One line per problem, worst first. */
  readonly details: readonly string[];
}

const DAY = 86_400;
const SHOWN = 4;

function names(rows: readonly PairFamilyStatus[]): string {
  const shown = rows.slice(0, SHOWN).map((r) => `${r.pair} ${r.family}`);
  return rows.length > SHOWN ? `${shown.join(', ')} and ${rows.length - SHOWN} more` : shown.join(', ');
}

function sideText(s: SideStatus): string {
  return `${s.host} ${s.ike}/${s.child}${s.sad !== undefined ? ` sad ${s.sad}` : ''}`;
}

export function evaluateMeshCheck(input: MeshCheckInput): MeshCheckResult {
  const t = input.thresholds;
  const rows = input.rows.filter((r) => r.enforcement !== 'off' && (input.host === undefined || r.a.host === input.host || r.b.host === input.host));
  const unreachable = input.reports.filter((r) => r.sas === undefined && r.unreachable === true);
  // SSH worked but swanctl did not answer: charon is down there, its pairs are down, not unknown.
  const charonDown = input.reports.filter((r) => r.sas === undefined && r.unreachable !== true);
  const unreachableNames = new Set(unreachable.map((r) => r.host));
  const up: PairFamilyStatus[] = [];
  const down: PairFamilyStatus[] = [];
  const half: PairFamilyStatus[] = [];
  const idle: PairFamilyStatus[] = [];
  const unknown: PairFamilyStatus[] = [];
  const good = t.expect === 'encrypted' ? ['encrypted'] : ['encrypted', 'ike-only'];
  const quiet = (s: SideStatus): boolean => s.ike === 'none' || s.ike === 'unmanaged';
  for (const r of rows) {
    if (unreachableNames.has(r.a.host) || unreachableNames.has(r.b.host)) unknown.push(r);
    else if (good.includes(r.health)) up.push(r);
    else if (r.health === 'half') half.push(r);
    // A require pair starts on its first packet (trap): no SA on either end is an idle pair.
    else if (r.enforcement === 'require' && r.health === 'down' && quiet(r.a) && quiet(r.b)) idle.push(r);
    else down.push(r);
  }
  const certs = (input.certificates ?? []).filter((c) => input.host === undefined || c.host === input.host);
  const held = certs.flatMap((c) => (c.certificates ?? []).filter((x) => x.role !== 'peer').map((x) => ({ host: c.host, ...x })));
  held.sort((x, y) => x.secondsLeft - y.secondsLeft);
  const soonest = held[0];
  const certDays = soonest === undefined ? undefined : soonest.secondsLeft / DAY;
  const certUnread = certs.filter((c) => c.certificates === undefined);

  const critical: string[] = [];
  const unknownParts: string[] = [];
  const warning: string[] = [];
  const expected = rows.length - idle.length;
  if (down.length >= t.downCritical) critical.push(`${down.length} of ${expected} pair rows down (${names(down)})`);
  else if (down.length >= t.downWarning) warning.push(`${down.length} of ${expected} pair rows down (${names(down)})`);
  if (charonDown.length > 0) critical.push(`charon not answering on ${charonDown.map((r) => r.host).join(', ')}`);
  if (certDays !== undefined && soonest !== undefined) {
    const text = `${soonest.role} certificate of ${soonest.host} ${certDays <= 0 ? 'EXPIRED' : `expires in ${certDays.toFixed(1)} days`}`;
    if (certDays < t.certCriticalDays) critical.push(text);
    else if (certDays < t.certWarningDays) warning.push(text);
  }
  if (unreachable.length > 0) unknownParts.push(`${unreachable.length} host(s) unreachable over SSH (${unreachable.map((r) => r.host).join(', ')})`);
  if (certUnread.length > 0 && unreachable.length === 0) unknownParts.push(`certificates of ${certUnread.map((c) => c.host).join(', ')} not readable`);
  if (half.length > 0) warning.push(`${half.length} halfling(s) (${names(half)})`);

  const state: CheckState = critical.length > 0 ? 'CRITICAL' : unknownParts.length > 0 ? 'UNKNOWN' : warning.length > 0 ? 'WARNING' : 'OK';
  const parts = [...critical, ...unknownParts, ...warning];
  const scope = input.host === undefined ? `mesh ${input.mesh}` : `${input.host} in mesh ${input.mesh}`;
  const okText = `${scope}: ${up.length} of ${expected} pair rows up${idle.length > 0 ? ` (${idle.length} idle require)` : ''}${certDays !== undefined ? `, certificates good for ${certDays.toFixed(0)} more days` : ''}`;
  const summary = state === 'OK' ? okText : `${scope}: ${parts.join('; ')}`;

  const details: string[] = [];
  for (const r of down) details.push(`DOWN ${r.pair} ${r.family} (${r.enforcement}): ${sideText(r.a)}, ${sideText(r.b)}${r.cleartext ? ' — traffic in CLEARTEXT' : ''}`);
  for (const r of charonDown) details.push(`CHARON ${r.host}: ${r.error ?? 'swanctl failed'}`);
  for (const r of unreachable) details.push(`UNREACHABLE ${r.host}: ${r.error ?? 'ssh failed'}`);
  for (const r of unknown) details.push(`UNKNOWN ${r.pair} ${r.family}: an end could not be read`);
  for (const r of half) details.push(`HALF ${r.pair} ${r.family} (${r.enforcement}): ${sideText(r.a)}, ${sideText(r.b)}`);
  for (const c of held.filter((x) => x.secondsLeft / DAY < t.certWarningDays)) details.push(`CERT ${c.host} ${c.role} ${c.subject}: notAfter ${c.notAfter}`);
  for (const c of certUnread) details.push(`CERT ${c.host}: not read: ${c.error ?? ''}`);

  const perfdata: PerfDatum[] = [
    { label: 'pairs_up', value: up.length, min: 0, max: expected },
    { label: 'pairs_expected', value: expected, min: 0 },
    { label: 'pairs_down', value: down.length, warn: t.downWarning, crit: t.downCritical, min: 0, max: expected },
    { label: 'pairs_idle', value: idle.length, min: 0 },
    { label: 'halflings', value: half.length, warn: 1, min: 0 },
    { label: 'cleartext', value: rows.filter((r) => r.cleartext && !unknown.includes(r)).length, min: 0 },
    { label: 'hosts_unreachable', value: unreachable.length, min: 0 },
  ];
  if (certDays !== undefined) perfdata.push({ label: 'cert_days_left', value: Math.floor(certDays * 10) / 10, warn: t.certWarningDays, crit: t.certCriticalDays });
  return { state, exitCode: CHECK_EXIT_CODES[state], summary, perfdata, details };
}

function perfText(p: PerfDatum): string {
  const f = (v: number | undefined): string => (v === undefined ? '' : String(v));
  return `${p.label}=${p.value}${p.uom ?? ''};${f(p.warn)};${f(p.crit)};${f(p.min)};${f(p.max)}`.replace(/;+$/, '');
}

/** The plugin output: `IPSEC-MESH STATE - summary | perfdata`, then the long output. */
export function formatMeshCheck(r: MeshCheckResult): string {
  // `|` separates perfdata in the plugin protocol: never inside the text.
  const clean = (s: string): string => s.replace(/\|/g, '/');
  return [`IPSEC-MESH ${r.state} - ${clean(r.summary)} | ${r.perfdata.map(perfText).join(' ')}`, ...r.details.map(clean)].join('\n') + '\n';
}

/** For failures before anything was judged (bad inventory, bad flags): state UNKNOWN. */
export function meshCheckUnknown(why: string): string {
  return `IPSEC-MESH UNKNOWN - ${why.replace(/\|/g, '/').split('\n')[0]}\n`;
}
