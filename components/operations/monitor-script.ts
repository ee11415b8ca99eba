// The per-host liveness monitor: a POSIX sh script (dash, mawk, coreutils, iproute2, swanctl)
// rendered with the host's expected mesh connections in it. One run reads charon's SAs
// (one `swanctl --list-sas`), the kernel SAD and SPD (one `ip xfrm state`, one `ip xfrm
// policy`) and /proc/net/xfrm_stat; closes CHILD_SAs the kernel holds only half of; re-initiates
// `use` connections this host starts that are not up (with back-off); logs every pair whose
// traffic leaves in cleartext; writes Prometheus metrics. The decision rules are those of
// liveness-check.ts (decideLiveness / formatLivenessMetrics), written in awk: the unit tests
// run both on the same inputs and compare. No secret is in the script, and `ip xfrm state`
// output (which carries the keys) is filtered in a pipe, never stored.
import { meshCaSubjectPrefix } from './monitor-certificates.js';
import { DEFAULT_LIVENESS_SETTINGS, LIVENESS_METRICS, type LivenessSettings, type LivenessTarget } from './liveness-check.js';

/** A monitor cannot be rendered from these inputs (a name or address unsafe in the script). */
export class MonitorScriptError extends Error {
  override readonly name = 'MonitorScriptError';
  constructor(
    readonly mesh: string,
    readonly host: string,
    message: string,
  ) {
    super(`mesh ${mesh}, host ${host}: ${message}`);
  }
}

/** Debian's prometheus-node-exporter reads `*.prom` here (its compiled-in textfile directory). */
export const DEFAULT_TEXTFILE_DIR = '/var/lib/prometheus/node-exporter';
export const DEFAULT_MONITOR_INTERVAL_SECONDS = 30;

export interface MonitorPaths {
  /** The script, beside the swanctl files it watches (private per host in the lab, always present). */
  readonly script: string;
  /** The long-running service (`--every`), restarted by systemd whenever it stops. */
  readonly service: string;
  /** systemd unit name. */
  readonly serviceUnit: string;
  /** Working state (back-off, counters) on tmpfs: reset at boot, like charon's SAs. */
  readonly stateDir: string;
  /** File name of the metrics inside the textfile directory. */
  readonly metricsFile: string;
}

export function monitorPaths(mesh: string): MonitorPaths {
  const base = `ipsec-mesh_${mesh}_monitor`;
  return {
    script: `/etc/swanctl/${base}.sh`,
    service: `/etc/systemd/system/${base}.service`,
    serviceUnit: `${base}.service`,
    stateDir: `/run/${base}`,
    metricsFile: `ipsec_mesh_${mesh}.prom`,
  };
}

export interface MonitorScriptOptions {
  readonly mesh: string;
  readonly host: string;
  readonly targets: readonly LivenessTarget[];
  /** Default DEFAULT_TEXTFILE_DIR; `IPSEC_MESH_TEXTFILE_DIR` or `--textfile-dir` override it on the host. */
  readonly textfileDir?: string;
  /** How long one `swanctl --initiate` waits before detaching (charon carries on). Default 5 s. */
  readonly initiateTimeoutSeconds?: number;
  readonly settings?: Partial<LivenessSettings>;
  /**
   * compact `site-prefixes`: no peer list is rendered (targets empty); each run watches the
   * IKE_SAs charon has on these connections (discoveredTargets), and at charon's start every
   * ESP SA of these local addresses is an orphan.
   */
  readonly discover?: { readonly connections: readonly string[]; readonly locals: readonly string[] };
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const CONN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ADDR = /^[0-9A-Fa-f:.]+$/;
const DIR = /^\/[A-Za-z0-9._/-]*$/;

function check(opts: MonitorScriptOptions): void {
  const fail = (why: string): never => {
    throw new MonitorScriptError(opts.mesh, opts.host, why);
  };
  if (!LABEL.test(opts.mesh)) fail(`mesh name "${opts.mesh}" is not a DNS label`);
  if (!LABEL.test(opts.host)) fail(`host name "${opts.host}" is not a DNS label`);
  const dir = opts.textfileDir ?? DEFAULT_TEXTFILE_DIR;
  if (!DIR.test(dir) || dir.split('/').some((p) => p === '.' || p === '..')) fail(`textfile directory "${dir}" must be an absolute path of [A-Za-z0-9._-] components`);
  const s = { ...DEFAULT_LIVENESS_SETTINGS, ...opts.settings };
  for (const [k, v] of Object.entries({ ...s, initiateTimeoutSeconds: opts.initiateTimeoutSeconds ?? 5 })) {
    if (!Number.isSafeInteger(v) || v < 0) fail(`${k} must be a whole number ≥ 0, got ${String(v)}`);
  }
  for (const c of opts.discover?.connections ?? []) if (!CONN.test(c)) fail(`connection name "${c}" is unsafe`);
  for (const a of opts.discover?.locals ?? []) if (!ADDR.test(a)) fail(`address "${a}" is not an IP address`);
  for (const t of opts.targets) {
    if (!safe(CONN, t.connection)) fail(`connection name "${t.connection}" is unsafe`);
    if (!safe(LABEL, t.peer)) fail(`peer name "${t.peer}" is not a DNS label`);
    if (!safe(ADDR, t.local) || !safe(ADDR, t.remote)) fail(`addresses "${t.local}" / "${t.remote}" of ${t.connection} are not IP addresses`);
  }
}

// Every host's script lists its peers: in a 1000-host mesh the same names and addresses are
// checked ~2000 times each. Remember the ones that passed (bounded by the inventory's size).
const passed = new Map<RegExp, Set<string>>();
function safe(re: RegExp, value: string): boolean {
  let seen = passed.get(re);
  if (seen === undefined) passed.set(re, (seen = new Set()));
  if (seen.has(value)) return true;
  if (!re.test(value)) return false;
  if (seen.size > 100_000) seen.clear();
  seen.add(value);
  return true;
}

let decideAwk: string | undefined;

// `swanctl --list-sas --pretty` → "I <ike id> <name> <state> <local> <remote> <initiator 0|1> <established|-> <ppk 0|1> <ml-kem 0|1>"
// and "C <ike id> <name> <child id> <state> <spi-in> <spi-out> <install-time|-> <bytes-in|-> <bytes-out|->".
const SAS_AWK = String.raw`
function val(k) { return (k in V) && V[k] != "" ? V[k] : "-" }
function reset(   k) { for (k in V) delete V[k] }
function mlkem(   k) { for (k = 1; k <= 7; k++) if (V["ake" k] ~ /^ML_KEM/) return 1; return 0 }
/^[ \t]*$/ { next }
inlist { if ($0 ~ /^[ \t]*\]$/) inlist = 0; next }
/ = \[$/ { inlist = 1; next }
/ \{$/ {
  d++
  name = $0; sub(/^[ \t]+/, "", name); sub(/ \{$/, "", name)
  sect[d] = name
  if (d == 1) msg = name
  if (msg == "list-sa event" && d == 2) { reset(); ike = name }
  if (msg == "list-sa event" && d == 4 && sect[3] == "child-sas") { for (k in IV) delete IV[k]; for (k in V) IV[k] = V[k]; reset() }
  next
}
/^[ \t]*\}$/ {
  if (msg == "list-sa event" && d == 4 && sect[3] == "child-sas") {
    printf "C %s %s %s %s %s %s %s %s %s\n", IV["uniqueid"], val("name"), val("uniqueid"), val("state"), val("spi-in"), val("spi-out"), val("install-time"), val("bytes-in"), val("bytes-out")
    reset(); for (k in IV) V[k] = IV[k]
  } else if (msg == "list-sa event" && d == 2) {
    printf "I %s %s %s %s %s %d %s %d %d\n", val("uniqueid"), ike, val("state"), val("local-host"), val("remote-host"), V["initiator"] == "yes", val("established"), V["ppk"] == "yes", mlkem()
  }
  d--
  next
}
{
  line = $0; sub(/^[ \t]+/, "", line)
  i = index(line, " = ")
  if (i > 0) V[substr(line, 1, i - 1)] = substr(line, i + 3)
  else if (line ~ / =$/) { sub(/ =$/, "", line); V[line] = "" }
}
`;

// `ip xfrm state` → "S <src> <dst> <proto> <spi, 8 hex digits>". Key lines are never printed.
const SAD_AWK = String.raw`
$0 == "IPFAIL" { print "SADFAIL"; next }
/^src / { src = $2; dst = $4; next }
/^[ \t]+proto / && $3 == "spi" {
  spi = $4; sub(/\(.*$/, "", spi); sub(/^0x/, "", spi); spi = tolower(spi)
  while (length(spi) < 8) spi = "0" spi
  print "S", src, dst, $2, spi
}
`;

// `ip xfrm policy` → "P <src sel> <dst sel>" for each outbound, allowing, whole-host (no protocol
// or port) policy with an ESP template: what protects a pair's traffic.
const SPD_AWK = String.raw`
function flush() { if (have && dir == "out" && !upper && esp && !block) print "P", src, dst; have = 0 }
$0 == "IPFAIL" { flush(); print "SPDFAIL"; next }
/^src / { flush(); have = 1; src = $2; dst = $4; upper = (NF > 4 && $5 != "uid"); dir = ""; esp = 0; block = 0; next }
/^[ \t]+dir / { dir = $2; if ($0 ~ / action block/) block = 1; next }
/^[ \t]+socket / { dir = "socket"; next }
/^[ \t]+proto esp / { esp = 1; next }
END { flush() }
`;

function metricsHeaders(): string {
  return LIVENESS_METRICS.map(([name, type, help]) => `  HELP["${name}"] = "${help}"; TYPE["${name}"] = "${type}"`).join('\n');
}

// The decision (OUT=actions) and the metrics file (OUT=metrics) from the merged records:
// T targets, I/C charon, S/SADFAIL, P/SPDFAIL, R retry state, X confirmed suspects,
// XS xfrm_stat counters, K action counters, CE certificates. Mirrors decideLiveness /
// formatLivenessMetrics.
const DECIDE_AWK = String.raw`
BEGIN {
  sadok = 1; spdok = 1
__HEADERS__
}
function num(x) { return x ~ /^[0-9]+$/ }
function hp(a) { return a "/" (index(a, ":") ? 128 : 32) }
function backoff(t,   b) { if (t <= 0) return 0; if (t - 1 > 30) t = 31; b = BASE * 2 ^ (t - 1); return b < MAX ? b : MAX }
function hdr(n) { printf "# HELP %s %s\n# TYPE %s %s\n", n, HELP[n], n, TYPE[n] }
$1 == "T" { tn++; tc[tn] = $2; tp[tn] = $3; tf[tn] = $4; tl[tn] = $5; tr[tn] = $6; te[tn] = $7; trole[tn] = $8; next }
$1 == "I" { ikn++; ikid[ikn] = $2; ikstate[ikn] = $4; ikest[ikn] = $8; ikppk[ikn] = $9; ikml[ikn] = $10; k = $3 " " $5 " " $6; ikeidx[k] = ikeidx[k] " " ikn; next }
$1 == "C" { cn++; cname[cn] = $3; cid[cn] = $4; cstate[cn] = $5; cspiin[cn] = $6; cspiout[cn] = $7; citime[cn] = $8; cbin[cn] = $9; cbout[cn] = $10; childidx[$2] = childidx[$2] " " cn; next }
$1 == "S" { if ($4 == "esp") { sad[$2 " " $3 " " $5] = 1; espn++ } next }
$1 == "SADFAIL" { sadok = 0; next }
$1 == "P" { pol[$2 " " $3] = 1; next }
$1 == "SPDFAIL" { spdok = 0; next }
$1 == "R" { rseen[$2] = 1; rtries[$2] = $3; rlast[$2] = $4; rn++; rconn[rn] = $2; next }
$1 == "X" { conf[$2] = 1; next }
$1 == "XS" { xsn++; xsname[xsn] = $2; xsval[xsn] = $3; next }
$1 == "K" { kcount[$2] = $3; next }
$1 == "CE" { cen++; cerole[cen] = $2; cena[cen] = $3; s = $0; sub(/^CE [a-z]+ [0-9]+ /, "", s); cesubj[cen] = s; next }
END {
  if (!CHARON) {
    if (OUT == "actions") { for (i = 1; i <= rn; i++) print "RS", rconn[i], rtries[rconn[i]], rlast[rconn[i]]; print "SUM", tn + 0, 0, 0, 0, 0 }
    else metrics(0)
    exit
  }
  inits = 0; terms = 0; sumike = 0; sumchild = 0; sumclear = 0; sumhalf = 0
  for (i = 1; i <= tn; i++) {
    conn = tc[i]; nike = 0; nest = 0; ikeage = ""; nc = 0; nppk = 0; nml = 0
    n = split(ikeidx[conn " " tl[i] " " tr[i]], L, " ")
    for (a = 1; a <= n; a++) {
      j = L[a]; nike++
      if (ikstate[j] == "ESTABLISHED") { nest++; nppk += ikppk[j]; nml += ikml[j]; if (num(ikest[j]) && (ikeage == "" || ikest[j] + 0 < ikeage + 0)) ikeage = ikest[j] }
      m = split(childidx[ikid[j]], CL, " ")
      for (b = 1; b <= m; b++) if (cname[CL[b]] == conn) { nc++; CH[nc] = CL[b] }
    }
    up = 0; present = 0; childage = ""; bin = 0; bout = 0; half = ""; terminated = 0
    for (c = 1; c <= nc; c++) {
      k = CH[c]; s = cstate[k]
      if (s == "INSTALLED" || s == "REKEYING" || s == "REKEYED") {
        up++
        if (num(citime[k]) && (childage == "" || citime[k] + 0 < childage + 0)) childage = citime[k]
        if (num(cbin[k])) bin += cbin[k]
        if (num(cbout[k])) bout += cbout[k]
      }
      if (s != "DELETING" && s != "DELETED" && s != "DESTROYING") present = 1
      if (!sadok || s != "INSTALLED") continue
      hasin = ((tr[i] " " tl[i] " " cspiin[k]) in sad)
      hasout = ((tl[i] " " tr[i] " " cspiout[k]) in sad)
      if (hasin == hasout) continue
      missing = hasin ? "out" : "in"
      if (half == "") half = missing
      if (OUT != "actions") continue
      if (PASS == 1) print "A SUSPECT", cid[k], conn, tp[i], tf[i], missing
      else if ((cid[k] in conf) && terms < MAXTERM) { terms++; terminated = 1; print "A TERMINATE", cid[k], conn, tp[i], tf[i], missing }
    }
    reason = ""
    if (terminated) { if (trole[i] == "use-initiator") reason = "halfling" }
    else if (trole[i] == "use-initiator") { if (nike == 0) reason = "no-ike"; else if (nest > 0 && !present) reason = "no-child" }
    else if (trole[i] == "use-responder" && MODE == "after-load") { if (nike == 0) reason = "no-ike" }
    if (reason != "" && reason != "halfling" && MODE == "timer" && (conn in rseen) && NOW - rlast[conn] < backoff(rtries[conn])) reason = ""
    if (reason != "" && inits >= MAXINIT) reason = ""
    if (OUT == "actions") {
      if (reason != "") { inits++; print "A INITIATE", conn, trole[i], tp[i], tf[i], reason; print "RS", conn, ((conn in rseen) ? rtries[conn] : 0) + 1, NOW }
      else if (up == 0 && (conn in rseen) && trole[i] != "require") print "RS", conn, rtries[conn], rlast[conn]
    }
    polout = (hp(tl[i]) " " hp(tr[i])) in pol
    clear = spdok ? !polout : (te[i] == "use" && up == 0)
    if (OUT == "actions" && clear) {
      why = (te[i] == "use" && up == 0) ? "enforcement use, no CHILD_SA" : "no outbound IPsec policy in the kernel"
      printf "W mesh %s: traffic to %s (%s %s) leaves in cleartext: %s\n", MESH, tp[i], tf[i], tr[i], why
    }
    lab[i] = "mesh=\"" MESH "\",peer=\"" tp[i] "\",family=\"" tf[i] "\",enforcement=\"" te[i] "\""
    rike[i] = nest > 0; rnike[i] = nike; rppk[i] = nest > 0 && nppk == nest; rml[i] = nest > 0 && nml == nest; rchild[i] = up > 0; rhalf[i] = half != ""; rclear[i] = clear; rpol[i] = polout
    rikeage[i] = ikeage; rchildage[i] = childage; rbin[i] = bin; rbout[i] = bout
    sumike += rike[i]; sumchild += rchild[i]; sumclear += clear; sumhalf += rhalf[i]
  }
  if (OUT == "actions") print "SUM", tn + 0, sumike, sumchild, sumclear, sumhalf
  else metrics(tn)
}
function metrics(rows,   i, n) {
  n = "ipsec_mesh_ike_established"; hdr(n); for (i = 1; i <= rows; i++) printf "%s{%s} %d\n", n, lab[i], rike[i]
  n = "ipsec_mesh_ike_sas"; hdr(n); for (i = 1; i <= rows; i++) printf "%s{%s} %d\n", n, lab[i], rnike[i]
  n = "ipsec_mesh_ike_ppk"; hdr(n); for (i = 1; i <= rows; i++) if (rike[i]) printf "%s{%s} %d\n", n, lab[i], rppk[i]
  n = "ipsec_mesh_ike_ml_kem"; hdr(n); for (i = 1; i <= rows; i++) if (rike[i]) printf "%s{%s} %d\n", n, lab[i], rml[i]
  n = "ipsec_mesh_child_installed"; hdr(n); for (i = 1; i <= rows; i++) printf "%s{%s} %d\n", n, lab[i], rchild[i]
  n = "ipsec_mesh_halfling"; hdr(n); for (i = 1; i <= rows; i++) printf "%s{%s} %d\n", n, lab[i], rhalf[i]
  n = "ipsec_mesh_cleartext"; hdr(n); for (i = 1; i <= rows; i++) printf "%s{%s} %d\n", n, lab[i], rclear[i]
  n = "ipsec_mesh_esp_policy_out"; hdr(n); if (spdok) for (i = 1; i <= rows; i++) printf "%s{%s} %d\n", n, lab[i], rpol[i]
  n = "ipsec_mesh_ike_established_seconds"; hdr(n); for (i = 1; i <= rows; i++) if (rikeage[i] != "") printf "%s{%s} %s\n", n, lab[i], rikeage[i]
  n = "ipsec_mesh_child_installed_seconds"; hdr(n); for (i = 1; i <= rows; i++) if (rchildage[i] != "") printf "%s{%s} %s\n", n, lab[i], rchildage[i]
  n = "ipsec_mesh_child_bytes_total"; hdr(n)
  for (i = 1; i <= rows; i++) if (rchild[i]) printf "%s{%s,direction=\"in\"} %.0f\n%s{%s,direction=\"out\"} %.0f\n", n, lab[i], rbin[i], n, lab[i], rbout[i]
  n = "ipsec_mesh_monitor_source_up"; hdr(n)
  printf "%s{mesh=\"%s\",source=\"charon\"} %d\n", n, MESH, CHARON ? 1 : 0
  printf "%s{mesh=\"%s\",source=\"xfrm_state\"} %d\n", n, MESH, sadok
  printf "%s{mesh=\"%s\",source=\"xfrm_policy\"} %d\n", n, MESH, spdok
  printf "%s{mesh=\"%s\",source=\"xfrm_stat\"} %d\n", n, MESH, STAT ? 1 : 0
  n = "ipsec_mesh_monitor_targets"; hdr(n); printf "%s{mesh=\"%s\"} %d\n", n, MESH, tn
  n = "ipsec_mesh_kernel_esp_sas"; hdr(n); if (sadok) printf "%s{mesh=\"%s\"} %d\n", n, MESH, espn
  n = "ipsec_mesh_xfrm_stat_total"; hdr(n); for (i = 1; i <= xsn; i++) printf "%s{mesh=\"%s\",counter=\"%s\"} %s\n", n, MESH, xsname[i], xsval[i]
  n = "ipsec_mesh_monitor_actions_total"; hdr(n)
  printf "%s{mesh=\"%s\",action=\"initiate\"} %.0f\n%s{mesh=\"%s\",action=\"terminate\"} %.0f\n", n, MESH, kcount["initiate"] + 0, n, MESH, kcount["terminate"] + 0
  n = "ipsec_mesh_monitor_last_run_timestamp_seconds"; hdr(n); printf "%s{mesh=\"%s\"} %s\n", n, MESH, NOW
  n = "ipsec_mesh_certificate_expiry_timestamp_seconds"; hdr(n)
  for (i = 1; i <= cen; i++) printf "%s{mesh=\"%s\",role=\"%s\",subject=\"%s\"} %s\n", n, MESH, cerole[i], cesubj[i], cena[i]
  n = "ipsec_mesh_certificate_expires_in_seconds"; hdr(n)
  for (i = 1; i <= cen; i++) printf "%s{mesh=\"%s\",role=\"%s\",subject=\"%s\"} %.0f\n", n, MESH, cerole[i], cesubj[i], cena[i] - NOW
}
`;

// `swanctl --list-certs --type x509 --utc` → "CE <host|ca> <notAfter epoch> <subject>" for the
// host's own certificate (end entity with its private key) and the mesh's CAs (subject prefix
// CAPFX). Mirrors parseMonitoredCertificates; dates by days-from-civil (mawk has no mktime).
const CERTS_AWK = String.raw`
function epoch(mon, d, hms, y,   m, t, era, yoe, doy, doe) {
  m = index("JanFebMarAprMayJunJulAugSepOctNovDec", mon)
  if (m == 0 || (m - 1) % 3 != 0 || y !~ /^[0-9][0-9][0-9][0-9]$/ || split(hms, t, ":") != 3) return ""
  m = (m + 2) / 3
  if (m <= 2) y--
  era = int(y / 400); yoe = y - era * 400
  doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
  doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
  return (era * 146097 + doe - 719468) * 86400 + t[1] * 3600 + t[2] * 60 + t[3]
}
function flush(   role) {
  if (subj != "" && na != "") {
    role = ""
    if (ca) { if (index(subj, CAPFX) == 1) role = "ca" } else if (priv) role = "host"
    if (role != "") { gsub(/["\\]/, "", subj); printf "CE %s %.0f %s\n", role, na, subj }
  }
  subj = ""; na = ""
}
/^List of / { flush(); ca = ($0 ~ /CA Certificates$/); next }
/^  subject:  "/ { flush(); subj = substr($0, 14); sub(/"$/, "", subj); priv = 0; next }
/^ +not after  / { if ($6 == "UTC") { y = $7; sub(/,$/, "", y); na = epoch($3, $4 + 0, $5, y) } next }
/has private key/ { priv = 1 }
END { flush() }
`;

const XFRM_STAT_AWK = String.raw`$1 ~ /^[A-Za-z][A-Za-z0-9]*$/ && $2 ~ /^[0-9]+$/ && NF == 2 { print "XS", $1, $2 }`;

function targetLines(targets: readonly LivenessTarget[]): string {
  return targets.map((t) => `T ${t.connection} ${t.peer} ${t.family} ${t.local} ${t.remote} ${t.enforcement} ${t.role}`).join('\n');
}

/** The monitor script text (installed 0644, run as `/bin/sh <script>`). Deterministic; contains no secret. */
export function monitorScript(opts: MonitorScriptOptions): string {
  check(opts);
  const s = { ...DEFAULT_LIVENESS_SETTINGS, ...opts.settings };
  const paths = monitorPaths(opts.mesh);
  const decide = (decideAwk ??= DECIDE_AWK.replace('__HEADERS__', metricsHeaders()));
  return `#!/bin/sh
# ipsec-mesh liveness monitor - mesh ${opts.mesh}, host ${opts.host}. Written by every deploy: do not edit.
# Checks each mesh connection this host expects (listed at the end) against charon's SAs and the
# kernel's SAD/SPD, closes CHILD_SAs the kernel holds only half of, re-initiates the "use"
# connections this host starts that are not up, logs pairs whose traffic leaves in cleartext,
# and writes Prometheus metrics. See docs/operations.md.
#
# usage: sh ${paths.script} [--every SECONDS] [--after-load | --charon-start] [--no-act] [--textfile-dir DIR]
#   --every           the service's main process: one run every SECONDS, each in a fresh
#                     shell reading this file as it is then (a deploy that changed it needs no restart)
#   --after-load      run right after a deploy loaded the configuration (no back-off; a "use"
#                     responder with no IKE_SA to its peer initiates once)
#   --charon-start    run by charon as it starts (strongswan.conf start-scripts): removes the
#                     ESP SAs an earlier charon left in the kernel towards mesh peers, and exits
#   --no-act          report and write metrics only
#   --textfile-dir    where the metrics go (default $IPSEC_MESH_TEXTFILE_DIR, else ${opts.textfileDir ?? DEFAULT_TEXTFILE_DIR};
#                     when that directory does not exist: ${paths.stateDir})
# Exit status: 0, or 1 when charon could not be read at all.
set -u
umask 077
PATH=$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
H=${opts.host}
M=${opts.mesh}
CAPFX='${meshCaSubjectPrefix(opts.mesh)}'
MODE=timer
ACT=1
R=
TEXTFILE_DIR=\${IPSEC_MESH_TEXTFILE_DIR:-${opts.textfileDir ?? DEFAULT_TEXTFILE_DIR}}
CONFIRM_DELAY=\${IPSEC_MESH_CONFIRM_DELAY:-2}
INITIATE_TIMEOUT=${opts.initiateTimeoutSeconds ?? 5}
BACKOFF_BASE=${s.backoffBaseSeconds}
BACKOFF_MAX=${s.backoffMaxSeconds}
MAX_INIT=${s.maxInitiations}
MAX_TERM=${s.maxTerminations}
usage() { echo "usage: $0 [--every SECONDS] [--after-load | --charon-start] [--no-act] [--textfile-dir DIR]" >&2; exit 2; }
# --every N, anywhere: taken out of the arguments the runs get.
EVERY=
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n - 1))
  if [ "$a" = --every ]; then
    [ "$n" -gt 0 ] || usage
    EVERY=$1; shift; n=$((n - 1))
    case $EVERY in ''|*[!0-9]*|0) usage ;; esac
    continue
  fi
  set -- "$@" "$a"
done
if [ -n "$EVERY" ]; then
  # A run that fails (charon down) is logged by the run itself; the loop goes on. Stopping the
  # service (SIGTERM) ends the loop; anything else that ends it, systemd restarts (Restart=always).
  trap "exit 0" TERM INT
  echo "$H: mesh $M monitor: running every $EVERY s"
  while :; do
    /bin/sh "$0" "$@" || :
    sleep "$EVERY" &
    wait $!
  done
fi
while [ "$#" -gt 0 ]; do
  case $1 in
    --after-load) MODE=after-load ;;
    --charon-start) MODE=charon-start ;;
    --no-act) ACT=0 ;;
    --textfile-dir) [ "$#" -ge 2 ] || usage; TEXTFILE_DIR=$2; shift ;;
    --root) [ "$#" -ge 2 ] || usage; R=$2; shift ;; # test hook: prefixes every on-host path
    *) usage ;;
  esac
  shift
done
case $TEXTFILE_DIR in /*) ;; *) echo "$H: --textfile-dir must be absolute" >&2; exit 2 ;; esac
S=$R${paths.stateDir}
say() { printf "%s\\n" "$H: $*" >&2; }
# Under systemd, stderr is the journal: the <N> prefix sets the priority. Elsewhere syslog when
# there is one (logger exits 0 even when no syslog socket takes the line), else stderr.
log() {
  lvl=$1; shift
  case $lvl in warning) n=4 ;; notice) n=5 ;; *) n=6 ;; esac
  if [ -n "\${JOURNAL_STREAM:-}" ]; then printf "<%s>%s\\n" "$n" "$*" >&2; return 0; fi
  if [ -e "$R/dev/log" ] && command -v logger >/dev/null 2>&1 && logger -t ipsec-mesh -p "daemon.$lvl" -- "$*" 2>/dev/null; then
    [ -t 2 ] && say "$*"
    return 0
  fi
  say "$*"
}
run_t() { if command -v timeout >/dev/null 2>&1; then timeout 60 "$@"; else "$@"; fi; }
# The timer's runs wait for no one: a deploy in progress (it holds the host lock) is left alone.
# After a load the deploy itself runs us, holding that lock.
if [ "$MODE" = timer ] && [ -d "$R/run" ] && command -v flock >/dev/null 2>&1; then
  exec 8>"$R/run/ipsec-mesh.lock" || exit 1
  if ! flock -n 8; then echo "$H: mesh $M monitor: skipped (a deploy holds $R/run/ipsec-mesh.lock)"; exit 0; fi
fi
mkdir -p "$S" 2>/dev/null
W=$(mktemp -d "$R/run/ipsec-mesh-monitor.XXXXXX" 2>/dev/null || mktemp -d) || { say "cannot create a scratch directory"; exit 1; }
trap 'rm -rf "$W"' EXIT
trap "exit 130" INT
trap "exit 143" TERM
cat > "$W/sas.awk" <<"AWK"
${SAS_AWK}
AWK
cat > "$W/sad.awk" <<"AWK"
${SAD_AWK}
AWK
cat > "$W/spd.awk" <<"AWK"
${SPD_AWK}
AWK
cat > "$W/certs.awk" <<"AWK"
${CERTS_AWK}
AWK
cat > "$W/decide.awk" <<"AWK"
${decide}
AWK
NOW=$(date +%s)
read_sources() {
  if run_t swanctl --list-sas --pretty > "$W/sas.txt" 2> "$W/sas.err"; then CHARON=1; else CHARON=0; fi
  awk -f "$W/sas.awk" "$W/sas.txt" > "$W/in.sas"
  { run_t ip xfrm state 2>/dev/null || echo IPFAIL; } | awk -f "$W/sad.awk" > "$W/in.sad"
  { run_t ip xfrm policy 2>/dev/null || echo IPFAIL; } | awk -f "$W/spd.awk" > "$W/in.spd"
  STAT=0
  : > "$W/in.stat"
  if [ -r "$R/proc/net/xfrm_stat" ] && awk '${XFRM_STAT_AWK}' "$R/proc/net/xfrm_stat" > "$W/in.stat"; then STAT=1; fi
  { run_t swanctl --list-certs --type x509 --utc 2>/dev/null || :; } | awk -v CAPFX="$CAPFX" -f "$W/certs.awk" > "$W/in.certs"
}
decide() { # $1 = pass (1, or 2 with the confirmed suspects), $2 = actions|metrics, then the record files
  p=$1; o=$2; shift 2
  cat "$W/targets" "$W/in.sas" "$W/in.sad" "$W/in.spd" "$W/in.stat" "$W/in.certs" "$@" |
    awk -v MESH="$M" -v NOW="$NOW" -v MODE="$MODE" -v PASS="$p" -v OUT="$o" -v CHARON="$CHARON" -v STAT="$STAT" \\
      -v BASE="$BACKOFF_BASE" -v MAX="$BACKOFF_MAX" -v MAXINIT="$MAX_INIT" -v MAXTERM="$MAX_TERM" -f "$W/decide.awk"
}
: > "$W/retry"
if [ -f "$S/retry" ]; then grep "^R [A-Za-z0-9._-]* [0-9]* [0-9]*$" "$S/retry" > "$W/retry"; fi
: > "$W/counters"
if [ -f "$S/counters" ]; then grep "^K [a-z]* [0-9]*$" "$S/counters" > "$W/counters"; fi
cat > "$W/targets.rendered" <<"TARGETS"
${targetLines(opts.targets)}
TARGETS
cp "$W/targets.rendered" "$W/targets"
DISCOVER='${(opts.discover?.connections ?? []).join(' ')}'
DISCOVER_LOCALS='${(opts.discover?.locals ?? []).join(' ')}'
# compact site-prefixes: the peers are the IKE_SAs charon has on the mesh connections (mirrors
# discoveredTargets), read again with every look at charon.
discover_targets() {
  [ -n "$DISCOVER" ] || return 0
  cp "$W/targets.rendered" "$W/targets"
  awk -v C="$DISCOVER" 'BEGIN { n = split(C, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
    $1 == "I" && ($3 in want) && !(($3 " " $5 " " $6) in seen) { seen[$3 " " $5 " " $6] = 1; print "T", $3, $6, (index($6, ":") ? "ipv6" : "ipv4"), $5, $6, "require", "require" }
  ' "$W/in.sas" >> "$W/targets"
}

# A charon that just started owns no SA in the kernel. ESP SAs between this host and a mesh peer
# were left by an earlier charon (a SIGKILL leaves them all): charon would never manage them
# (its new traps reuse their reqids, so no acquire ever comes) and the peer's DPD never fires
# while ESP flows. Removed here, traffic hits the traps and charon negotiates SAs it knows; the
# require backstop drops what is sent meanwhile. One SAD read and one ip batch of single deletes
# (a batch of "deleteall" lines acts on the first line only): fast for any number of peers.
if [ "$MODE" = charon-start ]; then
  awk '$1 == "T" { print $5, $6; print $6, $5 }' "$W/targets" > "$W/pairs"
  if [ -n "$DISCOVER_LOCALS" ]; then
    # No peer list: every ESP SA of this host's mesh addresses (charon, just started, owns none).
    ip xfrm state 2>/dev/null | awk -v L="$DISCOVER_LOCALS" 'BEGIN { n = split(L, a, " "); for (i = 1; i <= n; i++) mine[a[i]] = 1 }
      $1 == "src" && (($2 in mine) || ($4 in mine)) { print $2, $4 }' >> "$W/pairs"
  fi
  ip xfrm state 2>/dev/null | awk -v PAIRS="$W/pairs" '
    BEGIN { while ((getline l < PAIRS) > 0) want[l] = 1 }
    $1 == "src" { pair = $2 " " $4; src = $2; dst = $4; next }
    $1 == "proto" && $2 == "esp" && $3 == "spi" && (pair in want) { print "xfrm state delete src", src, "dst", dst, "proto esp spi", $4 }
  ' > "$W/orphans"
  n=$(grep -c . "$W/orphans")
  if [ "$n" -gt 0 ]; then ip -force -batch "$W/orphans" > /dev/null 2>&1; fi
  left=$(ip xfrm state 2>/dev/null | awk -v PAIRS="$W/pairs" 'BEGIN { while ((getline l < PAIRS) > 0) want[l] = 1 } $1 == "src" { p = $2 " " $4 } $1 == "proto" && $2 == "esp" && (p in want) { n++ } END { print n + 0 }')
  echo "$H: mesh $M: charon started: $((n - left)) of $n orphaned ESP SA(s) towards mesh peers removed"
  exit 0
fi

read_sources
discover_targets
decide 1 actions "$W/retry" > "$W/decision"
# A halfling is acted on only when a second look shows the same CHILD_SA half: a rekey in
# flight between our reads of charon and the kernel must not close a healthy SA.
if [ "$ACT" = 1 ] && grep -q "^A SUSPECT " "$W/decision"; then
  awk '$2 == "SUSPECT" { print "X", $3 }' "$W/decision" > "$W/confirmed"
  sleep "$CONFIRM_DELAY"
  read_sources
  discover_targets
  decide 2 actions "$W/retry" "$W/confirmed" > "$W/decision"
fi
if [ "$CHARON" = 0 ]; then
  say "cannot read charon's SAs: $(grep -v "^plugin .*: failed to load - " "$W/sas.err" | tr "\\n" " ")"
fi

initiated=0
closed=0
if [ "$ACT" = 1 ]; then
  grep "^A TERMINATE " "$W/decision" > "$W/terminate"
  while read -r a kind id conn peer fam missing; do
    if swanctl --terminate --child-id "$id" --timeout 10 > "$W/t.out" 2>&1; then
      closed=$((closed + 1))
      log notice "mesh $M: closed CHILD_SA $conn{$id} to $peer ($fam): its $missing SA is missing from the kernel SAD (sad halfling)"
    else
      log warning "mesh $M: could not close CHILD_SA $conn{$id} to $peer ($fam): $(grep -v "^plugin " "$W/t.out" | tail -n 1)"
    fi
  done < "$W/terminate"
  # Initiations run side by side: each waits at most INITIATE_TIMEOUT, then charon carries on alone.
  grep "^A INITIATE " "$W/decision" > "$W/initiate"
  n=0
  while read -r a kind conn role peer fam reason; do
    n=$((n + 1))
    ( swanctl --initiate --ike "$conn" --child "$conn" --timeout "$INITIATE_TIMEOUT" > "$W/i.$n.out" 2>&1; echo "$?" > "$W/i.$n.rc" ) &
  done < "$W/initiate"
  wait
  n=0
  : > "$W/responders"
  while read -r a kind conn role peer fam reason; do
    n=$((n + 1))
    initiated=$((initiated + 1))
    [ "$role" = use-responder ] && echo "$conn" >> "$W/responders"
    if [ "$(cat "$W/i.$n.rc" 2>/dev/null)" = 0 ]; then result="up"
    else result="not up yet ($(grep -v "^plugin " "$W/i.$n.out" | tail -n 1))"; fi
    log notice "mesh $M: initiated $conn to $peer ($fam, $role, $reason): $result"
  done < "$W/initiate"
  # A responder starts once, right after its load: an attempt still unanswered is withdrawn,
  # so the two ends never keep racing each other (the initiator retries on its own).
  if [ -s "$W/responders" ]; then
    run_t swanctl --list-sas --pretty 2>/dev/null | awk -f "$W/sas.awk" |
      awk -v LIST="$W/responders" 'BEGIN { while ((getline c < LIST) > 0) want[c] = 1 } $1 == "I" && ($3 in want) && $4 != "ESTABLISHED" && $7 == 1 { print $2, $3 }' > "$W/withdraw"
    while read -r id conn; do
      swanctl --terminate --ike-id "$id" --force > /dev/null 2>&1 && log notice "mesh $M: withdrew the unanswered attempt $conn[$id] (this host only responds for it)"
    done < "$W/withdraw"
  fi
  grep "^RS " "$W/decision" | sed "s/^RS /R /" > "$W/retry.new" && mv -f "$W/retry.new" "$S/retry" 2>/dev/null
fi

ki=$(awk '$2 == "initiate" { print $3 }' "$W/counters")
kt=$(awk '$2 == "terminate" { print $3 }' "$W/counters")
printf "K initiate %s\\nK terminate %s\\n" "$(( \${ki:-0} + initiated ))" "$(( \${kt:-0} + closed ))" > "$W/counters"
[ "$ACT" = 1 ] && cp "$W/counters" "$S/counters" 2>/dev/null

# Cleartext: one warning per pair and run (at most 20 lines, then a count).
grep "^W " "$W/decision" | sed "s/^W //" > "$W/warnings"
nw=$(grep -c . "$W/warnings")
head -n 20 "$W/warnings" | while read -r line; do log warning "$line"; done
[ "$nw" -gt 20 ] && log warning "mesh $M: $((nw - 20)) more pair(s) leave in cleartext"

decide 2 metrics "$W/counters" > "$W/metrics"
dir=$R$TEXTFILE_DIR
[ -d "$dir" ] || dir=$S
if cp "$W/metrics" "$dir/.ipsec_mesh_$M.prom.$$" && chmod 0644 "$dir/.ipsec_mesh_$M.prom.$$" && mv -f "$dir/.ipsec_mesh_$M.prom.$$" "$dir/${paths.metricsFile}"; then
  printf "%s\\n" "$TEXTFILE_DIR" > "$S/metrics-dir" 2>/dev/null
  [ "$dir" = "$S" ] && printf "%s\\n" "${paths.stateDir}" > "$S/metrics-dir" 2>/dev/null
else
  rm -f "$dir/.ipsec_mesh_$M.prom.$$"
  say "cannot write the metrics to $dir"
fi

set -- $(grep "^SUM " "$W/decision")
echo "$H: mesh $M monitor: $2 connection(s): $3 IKE_SA up, $4 CHILD_SA up, $5 cleartext, $6 halfling; $initiated initiated, $closed closed"
[ "$CHARON" = 1 ] || exit 1
exit 0
`;
}
