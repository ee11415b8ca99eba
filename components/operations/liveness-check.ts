// The CHILD_SA liveness check: what one monitor run concludes from charon's SAs and the
// kernel's SAD/SPD for every mesh connection this host expects, and what it does about it.
// Pure. The on-host monitor (monitor-script.ts) implements the same rules in awk; the unit
// tests run both on the same fixtures and compare actions and metrics line for line.
import type { AddressFamily } from '../inventory/model.js';
import { hostPrefix, type XfrmPolicy, type XfrmState } from './liveness-xfrm.js';
import type { MonitoredCertificate } from './monitor-certificates.js';
import { quantumProtection, type IkeSaStatus } from './swanctl-status.js';

/** How the connection starts (docs/render.md): traps, the one `use` initiator, or its responder. */
export type LivenessRole = 'require' | 'use-initiator' | 'use-responder';

/** One mesh connection (per peer and family) the host is expected to have. Rendered into the monitor. */
export interface LivenessTarget {
  /** IKE and CHILD config name (one child of the same name). Compact layout: shared by every peer. */
  readonly connection: string;
  readonly peer: string;
  readonly family: AddressFamily;
  readonly local: string;
  readonly remote: string;
  readonly enforcement: 'use' | 'require';
  readonly role: LivenessRole;
}

/**
 * `timer`: the periodic run. `after-load`: the run right after a push loaded the config —
 * re-initiation ignores the back-off, and a `use` responder with no IKE_SA at all to its
 * peer initiates once itself (the initiator's attempt may have been refused while this host
 * had not loaded the connection yet: NO_PROPOSAL_CHOSEN, never retried).
 */
export type MonitorMode = 'timer' | 'after-load';

export interface RetryState {
  /** Initiations since the connection was last seen up. */
  readonly tries: number;
  /** Epoch seconds of the last one. */
  readonly last: number;
}

export interface LivenessSettings {
  /** Back-off between re-initiations of one connection: base · 2^(tries−1), at most max. */
  readonly backoffBaseSeconds: number;
  readonly backoffMaxSeconds: number;
  /** Per run. */
  readonly maxInitiations: number;
  readonly maxTerminations: number;
}

export const DEFAULT_LIVENESS_SETTINGS: LivenessSettings = {
  backoffBaseSeconds: 30,
  backoffMaxSeconds: 1800,
  maxInitiations: 32,
  maxTerminations: 16,
};

export interface LivenessInput {
  readonly mesh: string;
  readonly targets: readonly LivenessTarget[];
  readonly mode: MonitorMode;
  /** Epoch seconds. */
  readonly now: number;
  /** `undefined`: charon could not be read (no decision is made). */
  readonly sas: readonly IkeSaStatus[] | undefined;
  /** `undefined`: the SAD could not be read (no halfling is looked for). */
  readonly sad: readonly XfrmState[] | undefined;
  /** `undefined`: the SPD could not be read (cleartext is then judged from charon alone). */
  readonly spd: readonly XfrmPolicy[] | undefined;
  readonly retries?: ReadonlyMap<string, RetryState>;
  /**
   * Halflings are acted on only when seen twice: the first look (`undefined`) reports
   * suspects; the second look gets the suspects' CHILD_SA ids and closes those still half.
   * A rekey in flight between the two reads can look half once, never twice.
   */
  readonly confirmed?: ReadonlySet<number>;
  readonly settings?: Partial<LivenessSettings>;
}

export type HalfDirection = 'in' | 'out';

export interface LivenessRow {
  readonly target: LivenessTarget;
  readonly ikeEstablished: boolean;
  /** IKE_SAs of this connection to this peer, any state (more than one ESTABLISHED = duplicates). */
  readonly ikeSas: number;
  /** With an ESTABLISHED IKE_SA: every one mixes in a post-quantum preshared key (RFC 8784). */
  readonly ikePpk?: boolean;
  /** With an ESTABLISHED IKE_SA: every one ran an ML-KEM additional key exchange (RFC 9370). */
  readonly ikeMlKem?: boolean;
  readonly childInstalled: boolean;
  /** An INSTALLED CHILD_SA one of whose two kernel SAs is missing: which one. */
  readonly halfling: HalfDirection | undefined;
  /** An outbound ESP policy for exactly this pair in the SPD; undefined when the SPD was not read. */
  readonly espPolicyOut: boolean | undefined;
  /** Traffic to the peer leaves unprotected now. */
  readonly cleartext: boolean;
  /** Seconds since the youngest ESTABLISHED IKE_SA was established. */
  readonly ikeAgeSeconds?: number;
  /** Seconds since the youngest installed CHILD_SA was installed. */
  readonly childAgeSeconds?: number;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
}

export type InitiateReason = 'no-ike' | 'no-child' | 'halfling';

export type LivenessAction =
  | { readonly kind: 'suspect'; readonly childId: number; readonly connection: string; readonly peer: string; readonly family: AddressFamily; readonly missing: HalfDirection }
  | { readonly kind: 'terminate'; readonly childId: number; readonly connection: string; readonly peer: string; readonly family: AddressFamily; readonly missing: HalfDirection }
  | { readonly kind: 'initiate'; readonly connection: string; readonly peer: string; readonly family: AddressFamily; readonly role: LivenessRole; readonly reason: InitiateReason };

export interface LivenessDecision {
  readonly rows: readonly LivenessRow[];
  readonly actions: readonly LivenessAction[];
  /** Retry state to keep for the next run (connections seen up are dropped). */
  readonly retries: ReadonlyMap<string, RetryState>;
  /** One warning per connection whose traffic leaves in cleartext. */
  readonly warnings: readonly string[];
}

/** CHILD_SA states in which the SA carries traffic. */
export const CHILD_UP_STATES: ReadonlySet<string> = new Set(['INSTALLED', 'REKEYING', 'REKEYED']);
/** CHILD_SA states of an SA on its way out: not a reason to hold back a re-initiation. */
const CHILD_GONE_STATES: ReadonlySet<string> = new Set(['DELETING', 'DELETED', 'DESTROYING']);

function num(v: unknown): number | undefined {
  return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * compact `site-prefixes`: the host's files name no peer, so the monitor watches the peers
 * charon has IKE_SAs with on the mesh's connections, one target per connection and address
 * pair, in the order charon lists them; the peer label is the peer's address. A pair with no
 * IKE_SA at all is not seen here (`ipsec-mesh status`/`check` judge it from the inventory).
 */
export function discoveredTargets(sas: readonly IkeSaStatus[], connections: readonly string[]): LivenessTarget[] {
  const want = new Set(connections);
  const seen = new Set<string>();
  const out: LivenessTarget[] = [];
  for (const sa of sas) {
    if (!want.has(sa.name)) continue;
    const key = `${sa.name} ${sa.localHost} ${sa.remoteHost}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      connection: sa.name,
      peer: sa.remoteHost,
      family: sa.remoteHost.includes(':') ? 'ipv6' : 'ipv4',
      local: sa.localHost,
      remote: sa.remoteHost,
      enforcement: 'require',
      role: 'require',
    });
  }
  return out;
}

export function backoffSeconds(tries: number, s: LivenessSettings): number {
  if (tries <= 0) return 0;
  return Math.min(s.backoffBaseSeconds * 2 ** Math.min(tries - 1, 30), s.backoffMaxSeconds);
}

export function cleartextWarning(mesh: string, row: LivenessRow): string {
  const t = row.target;
  const why = t.enforcement === 'use' && !row.childInstalled ? 'enforcement use, no CHILD_SA' : 'no outbound IPsec policy in the kernel';
  return `mesh ${mesh}: traffic to ${t.peer} (${t.family} ${t.remote}) leaves in cleartext: ${why}`;
}

export function decideLiveness(input: LivenessInput): LivenessDecision {
  const s: LivenessSettings = { ...DEFAULT_LIVENESS_SETTINGS, ...input.settings };
  const retriesIn = input.retries ?? new Map<string, RetryState>();
  const retries = new Map<string, RetryState>();
  if (input.sas === undefined) {
    // Nothing is known: keep the back-off as it was, decide nothing.
    for (const [k, v] of retriesIn) retries.set(k, v);
    return { rows: [], actions: [], retries, warnings: [] };
  }
  const sadKeys = input.sad === undefined ? undefined : new Set(input.sad.filter((x) => x.proto === 'esp').map((x) => `${x.src} ${x.dst} ${x.spi}`));
  const rows: LivenessRow[] = [];
  const actions: LivenessAction[] = [];
  const warnings: string[] = [];
  let initiations = 0;
  let terminations = 0;

  for (const t of input.targets) {
    const ikes = input.sas.filter((sa) => sa.name === t.connection && sa.localHost === t.local && sa.remoteHost === t.remote);
    const established = ikes.filter((sa) => sa.state === 'ESTABLISHED');
    const children = ikes.flatMap((sa) => sa.children.filter((c) => c.name === t.connection));
    const up = children.filter((c) => CHILD_UP_STATES.has(c.state));
    let halfling: HalfDirection | undefined;
    const halfActions: LivenessAction[] = [];
    if (sadKeys !== undefined) {
      for (const c of children) {
        if (c.state !== 'INSTALLED') continue;
        const spiIn = String(c.raw['spi-in'] ?? '');
        const spiOut = String(c.raw['spi-out'] ?? '');
        const hasIn = sadKeys.has(`${t.remote} ${t.local} ${spiIn}`);
        const hasOut = sadKeys.has(`${t.local} ${t.remote} ${spiOut}`);
        // Neither half in the SAD: not a halfling the kernel shows (e.g. a userland ESP
        // backend, or no ESP at all); acting on it would tear down working SAs in a loop.
        if (hasIn === hasOut) continue;
        const missing: HalfDirection = hasIn ? 'out' : 'in';
        halfling ??= missing;
        const base = { childId: c.uniqueId, connection: t.connection, peer: t.peer, family: t.family, missing };
        if (input.confirmed === undefined) halfActions.push({ kind: 'suspect', ...base });
        else if (input.confirmed.has(c.uniqueId) && terminations < s.maxTerminations) {
          terminations++;
          halfActions.push({ kind: 'terminate', ...base });
        }
      }
    }
    actions.push(...halfActions);
    const terminated = halfActions.some((a) => a.kind === 'terminate');

    let reason: InitiateReason | undefined;
    const childPresent = children.some((c) => !CHILD_GONE_STATES.has(c.state));
    if (terminated) reason = t.role === 'use-initiator' ? 'halfling' : undefined;
    else if (t.role === 'use-initiator') reason = ikes.length === 0 ? 'no-ike' : established.length > 0 && !childPresent ? 'no-child' : undefined;
    else if (t.role === 'use-responder' && input.mode === 'after-load') reason = ikes.length === 0 ? 'no-ike' : undefined;
    const prev = retriesIn.get(t.connection);
    if (reason !== undefined && reason !== 'halfling' && input.mode === 'timer' && prev !== undefined && input.now - prev.last < backoffSeconds(prev.tries, s)) {
      reason = undefined;
    }
    if (reason !== undefined && initiations >= s.maxInitiations) reason = undefined;
    if (reason !== undefined) {
      initiations++;
      actions.push({ kind: 'initiate', connection: t.connection, peer: t.peer, family: t.family, role: t.role, reason });
      retries.set(t.connection, { tries: (prev?.tries ?? 0) + 1, last: input.now });
    } else if (up.length === 0 && prev !== undefined && t.role !== 'require') {
      retries.set(t.connection, prev);
    }

    const espPolicyOut =
      input.spd === undefined
        ? undefined
        : input.spd.some(
            (p) =>
              p.dir === 'out' &&
              p.upper === '' &&
              p.action !== 'block' &&
              p.src === hostPrefix(t.local) &&
              p.dst === hostPrefix(t.remote) &&
              p.templates.some((x) => x.proto === 'esp'),
          );
    const childInstalled = up.length > 0;
    const ikeAges = established.map((sa) => num(sa.raw['established'])).filter((x): x is number => x !== undefined);
    const childAges = up.map((c) => num(c.raw['install-time'])).filter((x): x is number => x !== undefined);
    const sum = (key: string): number => up.reduce((acc, c) => acc + (num(c.raw[key]) ?? 0), 0);
    const row: LivenessRow = {
      target: t,
      ikeEstablished: established.length > 0,
      ikeSas: ikes.length,
      ...(established.length > 0
        ? {
            ikePpk: established.every((sa) => quantumProtection(sa).startsWith('ppk')),
            ikeMlKem: established.every((sa) => quantumProtection(sa).endsWith('ml-kem')),
          }
        : {}),
      childInstalled,
      halfling,
      espPolicyOut,
      cleartext: espPolicyOut !== undefined ? !espPolicyOut : t.enforcement === 'use' && !childInstalled,
      ...(ikeAges.length > 0 ? { ikeAgeSeconds: Math.min(...ikeAges) } : {}),
      ...(childAges.length > 0 ? { childAgeSeconds: Math.min(...childAges) } : {}),
      ...(childInstalled ? { bytesIn: sum('bytes-in'), bytesOut: sum('bytes-out') } : {}),
    };
    rows.push(row);
    if (row.cleartext) warnings.push(cleartextWarning(input.mesh, row));
  }
  return { rows, actions, retries, warnings };
}

export interface MonitorSources {
  readonly charon: boolean;
  readonly xfrmState: boolean;
  readonly xfrmPolicy: boolean;
  readonly xfrmStat: boolean;
}

export interface LivenessMetricsInput {
  readonly mesh: string;
  readonly decision: LivenessDecision;
  readonly targets: number;
  readonly sources: MonitorSources;
  /** ESP SAs in the kernel SAD (when it was read). */
  readonly espSas?: number;
  readonly xfrmStat?: ReadonlyMap<string, number>;
  /** Actions taken since the counters were last reset (the monitor keeps them in /run). */
  readonly actionsTotal: { readonly initiate: number; readonly terminate: number };
  readonly now: number;
  /** The host's certificate and the mesh CAs charon holds (certificate mode; none with PSKs). */
  readonly certificates?: readonly MonitoredCertificate[];
}

/** The metric families the monitor writes, in file order: name, type, help. */
export const LIVENESS_METRICS: readonly (readonly [string, 'gauge' | 'counter', string])[] = [
  ['ipsec_mesh_ike_established', 'gauge', 'An IKE_SA with the peer is ESTABLISHED (1) or not (0).'],
  ['ipsec_mesh_ike_sas', 'gauge', 'IKE_SAs of this connection with the peer, any state (above 1: duplicates).'],
  ['ipsec_mesh_ike_ppk', 'gauge', 'Every ESTABLISHED IKE_SA with the peer mixes a post-quantum preshared key into its keys (RFC 8784).'],
  ['ipsec_mesh_ike_ml_kem', 'gauge', 'Every ESTABLISHED IKE_SA with the peer ran an ML-KEM additional key exchange (RFC 9370).'],
  ['ipsec_mesh_child_installed', 'gauge', 'A CHILD_SA with the peer is installed (1) or not (0).'],
  ['ipsec_mesh_halfling', 'gauge', 'An installed CHILD_SA has only one of its two SAs in the kernel SAD.'],
  ['ipsec_mesh_cleartext', 'gauge', 'Traffic to the peer leaves unprotected now (no outbound IPsec policy).'],
  ['ipsec_mesh_esp_policy_out', 'gauge', 'An outbound ESP policy for the pair is in the kernel SPD.'],
  ['ipsec_mesh_ike_established_seconds', 'gauge', 'Age of the youngest ESTABLISHED IKE_SA with the peer.'],
  ['ipsec_mesh_child_installed_seconds', 'gauge', 'Age of the youngest installed CHILD_SA with the peer.'],
  ['ipsec_mesh_child_bytes_total', 'counter', 'Bytes through the installed CHILD_SAs with the peer (resets on rekey).'],
  ['ipsec_mesh_monitor_source_up', 'gauge', 'The monitor could read this source on its last run.'],
  ['ipsec_mesh_monitor_targets', 'gauge', 'Mesh connections (per peer and family) the host is expected to have.'],
  ['ipsec_mesh_kernel_esp_sas', 'gauge', 'ESP SAs in the kernel SAD (all of the host, not only this mesh).'],
  ['ipsec_mesh_xfrm_stat_total', 'counter', 'Counters of /proc/net/xfrm_stat (host-wide).'],
  ['ipsec_mesh_monitor_actions_total', 'counter', 'CHILD_SAs initiated and halflings closed by the monitor since boot.'],
  ['ipsec_mesh_monitor_last_run_timestamp_seconds', 'gauge', 'When the monitor last ran (epoch seconds).'],
  ['ipsec_mesh_certificate_expiry_timestamp_seconds', 'gauge', 'notAfter of the host certificate and of each mesh CA charon holds (epoch seconds).'],
  ['ipsec_mesh_certificate_expires_in_seconds', 'gauge', 'Seconds until that certificate expires (negative once expired).'],
];

/** Prometheus text exposition of one monitor run (what the on-host script writes, byte for byte). */
export function formatLivenessMetrics(m: LivenessMetricsInput): string {
  const out: string[] = [];
  const b = (v: boolean): string => (v ? '1' : '0');
  const labels = (r: LivenessRow): string => `mesh="${m.mesh}",peer="${r.target.peer}",family="${r.target.family}",enforcement="${r.target.enforcement}"`;
  const rows = m.decision.rows;
  const certs = m.certificates ?? [];
  const certLabels = (c: MonitoredCertificate): string => `mesh="${m.mesh}",role="${c.role}",subject="${c.subject}"`;
  const samples: Record<string, string[]> = {
    ipsec_mesh_ike_established: rows.map((r) => `{${labels(r)}} ${b(r.ikeEstablished)}`),
    ipsec_mesh_ike_sas: rows.map((r) => `{${labels(r)}} ${r.ikeSas}`),
    ipsec_mesh_ike_ppk: rows.filter((r) => r.ikePpk !== undefined).map((r) => `{${labels(r)}} ${b(r.ikePpk === true)}`),
    ipsec_mesh_ike_ml_kem: rows.filter((r) => r.ikeMlKem !== undefined).map((r) => `{${labels(r)}} ${b(r.ikeMlKem === true)}`),
    ipsec_mesh_child_installed: rows.map((r) => `{${labels(r)}} ${b(r.childInstalled)}`),
    ipsec_mesh_halfling: rows.map((r) => `{${labels(r)}} ${b(r.halfling !== undefined)}`),
    ipsec_mesh_cleartext: rows.map((r) => `{${labels(r)}} ${b(r.cleartext)}`),
    ipsec_mesh_esp_policy_out: rows.filter((r) => r.espPolicyOut !== undefined).map((r) => `{${labels(r)}} ${b(r.espPolicyOut === true)}`),
    ipsec_mesh_ike_established_seconds: rows.filter((r) => r.ikeAgeSeconds !== undefined).map((r) => `{${labels(r)}} ${r.ikeAgeSeconds}`),
    ipsec_mesh_child_installed_seconds: rows.filter((r) => r.childAgeSeconds !== undefined).map((r) => `{${labels(r)}} ${r.childAgeSeconds}`),
    ipsec_mesh_child_bytes_total: rows
      .filter((r) => r.bytesIn !== undefined)
      .flatMap((r) => [`{${labels(r)},direction="in"} ${r.bytesIn}`, `{${labels(r)},direction="out"} ${r.bytesOut}`]),
    ipsec_mesh_monitor_source_up: (
      [
        ['charon', m.sources.charon],
        ['xfrm_state', m.sources.xfrmState],
        ['xfrm_policy', m.sources.xfrmPolicy],
        ['xfrm_stat', m.sources.xfrmStat],
      ] as const
    ).map(([k, v]) => `{mesh="${m.mesh}",source="${k}"} ${b(v)}`),
    ipsec_mesh_monitor_targets: [`{mesh="${m.mesh}"} ${m.targets}`],
    ipsec_mesh_kernel_esp_sas: m.espSas === undefined ? [] : [`{mesh="${m.mesh}"} ${m.espSas}`],
    ipsec_mesh_xfrm_stat_total: [...(m.xfrmStat ?? new Map<string, number>())].map(([k, v]) => `{mesh="${m.mesh}",counter="${k}"} ${v}`),
    ipsec_mesh_monitor_actions_total: [`{mesh="${m.mesh}",action="initiate"} ${m.actionsTotal.initiate}`, `{mesh="${m.mesh}",action="terminate"} ${m.actionsTotal.terminate}`],
    ipsec_mesh_monitor_last_run_timestamp_seconds: [`{mesh="${m.mesh}"} ${m.now}`],
    ipsec_mesh_certificate_expiry_timestamp_seconds: certs.map((c) => `{${certLabels(c)}} ${c.notAfter}`),
    ipsec_mesh_certificate_expires_in_seconds: certs.map((c) => `{${certLabels(c)}} ${c.notAfter - m.now}`),
  };
  for (const [name, type, help] of LIVENESS_METRICS) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const sm of samples[name] ?? []) out.push(`${name}${sm}`);
  }
  return `${out.join('\n')}\n`;
}
