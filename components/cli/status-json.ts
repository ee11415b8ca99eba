// The stable JSON of `ipsec-mesh status --json` and `status --drift --json`, for scripts.
// Versioned by `schema`: fields are only ever added within a version; a removal or a change
// of meaning gets a new one. docs/operations.md, *JSON*, documents every field.
import type { CertificateExpiry, HostCertificateReport } from '../operations/certificate-expiry.js';
import { summarisePairStatus, type HostSaReport, type MatrixSummary, type PairFamilyStatus } from '../operations/pair-status.js';

export const STATUS_JSON_SCHEMA = 'ipsec-mesh.status/v1';
export const DRIFT_JSON_SCHEMA = 'ipsec-mesh.drift/v1';

export interface StatusJsonHost {
  readonly host: string;
  /** swanctl answered. */
  readonly read: boolean;
  /** SSH itself failed (false when the host answered but charon did not). */
  readonly unreachable: boolean;
  readonly error?: string;
  /** With --kernel: /proc/net/xfrm_stat. */
  readonly xfrmStat?: Readonly<Record<string, number>>;
}

export interface StatusJsonCertificates {
  readonly host: string;
  readonly certificates?: readonly CertificateExpiry[];
  readonly error?: string;
}

export interface StatusJson {
  readonly schema: typeof STATUS_JSON_SCHEMA;
  readonly mesh: string;
  readonly generatedAt: string;
  /** The --expect given, or null. */
  readonly expect: 'ike' | 'encrypted' | null;
  /** Rows below --expect (0 without it); the exit code is 1 when above 0. */
  readonly belowExpect: number;
  readonly summary: MatrixSummary;
  readonly rows: readonly PairFamilyStatus[];
  readonly hosts: readonly StatusJsonHost[];
  /** With --certificates only. */
  readonly certificates?: readonly StatusJsonCertificates[];
}

export interface StatusJsonInput {
  readonly mesh: string;
  readonly expect: string | undefined;
  readonly rows: readonly PairFamilyStatus[];
  readonly reports: readonly HostSaReport[];
  readonly kernel: boolean;
  readonly certificates?: readonly HostCertificateReport[];
  readonly now?: Date;
}

/** Rows below `status --expect` (none without one): `off` rows are never below. */
export function rowsBelowExpect(rows: readonly PairFamilyStatus[], expect: 'ike' | 'encrypted' | undefined): PairFamilyStatus[] {
  if (expect === undefined) return [];
  const good = expect === 'encrypted' ? ['encrypted', 'off'] : ['encrypted', 'ike-only', 'off'];
  return rows.filter((r) => !good.includes(r.health));
}

export function statusJson(i: StatusJsonInput): StatusJson {
  const expect = i.expect === 'ike' || i.expect === 'encrypted' ? i.expect : null;
  return {
    schema: STATUS_JSON_SCHEMA,
    mesh: i.mesh,
    generatedAt: (i.now ?? new Date()).toISOString(),
    expect,
    belowExpect: rowsBelowExpect(i.rows, expect ?? undefined).length,
    summary: summarisePairStatus(i.rows),
    rows: i.rows,
    hosts: i.reports.map((r) => ({
      host: r.host,
      read: r.sas !== undefined,
      unreachable: r.unreachable === true,
      ...(r.error !== undefined ? { error: r.error } : {}),
      ...(i.kernel && r.xfrmStat !== undefined ? { xfrmStat: Object.fromEntries(r.xfrmStat) } : {}),
    })),
    ...(i.certificates
      ? { certificates: i.certificates.map((c) => ({ host: c.host, ...(c.certificates ? { certificates: c.certificates } : {}), ...(c.error !== undefined ? { error: c.error } : {}) })) }
      : {}),
  };
}
