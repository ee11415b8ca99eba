// Host-wide charon tuning. strongswan.conf has a single `charon` section per daemon, so this
// cannot be scoped to a mesh: it holds only settings every mesh on the host agrees on, and
// its content depends on the host (mode, link MTUs), not on per-mesh secrets or names.
import { CHARON_LOG_PATH } from './file-paths.js';

/** Every mesh's monitor script on a host (operations/monitor-script.ts monitorPaths). */
export const MONITOR_SCRIPT_GLOB = '/etc/swanctl/ipsec-mesh_*_monitor.sh';

/** IKE fragments never exceed this (IPv6's minimum MTU, strongSwan's own default). */
export const IKE_FRAGMENT_SIZE_MAX = 1280;

/**
 * Retransmission: timeout × base^n for n = 0..tries, i.e. 2 + 3 + 4.5 + 6.75 + 10.1 ≈ 26 s
 * before a peer is declared dead (strongSwan's default 4 s/1.8/5 tries waits ≈ 165 s), so
 * DPD notices a rebooted peer within dpd_delay + 26 s. Jitter spreads the retransmits of
 * many SAs that time out together (a rebooted host with hundreds of peers).
 */
export const RETRANSMIT = { tries: 4, timeout: '2.0', base: '1.5', jitter: 20 } as const;

/**
 * IKE denial-of-service settings (strongswan.conf charon.*). Half-open IKE_SAs (IKE_SA_INITs
 * answered, not yet authenticated) each cost the responder a Diffie-Hellman and memory;
 * mesh peers complete theirs within a round trip, a flood never does.
 */
export const IKE_DOS = {
  /** Cookies (RFC 7296 §2.6) for every initiator past this many half-open IKE_SAs: spoofed sources cannot answer them. */
  cookieThreshold: 30,
  /** …and for one source address past this many. */
  cookieThresholdIp: 3,
  /** IKE_SA_INITs of one source address past this many half-open are dropped unanswered. */
  blockThreshold: 5,
  /** Any new IKE_SA_INIT is dropped past this many half-open in all (strongSwan's default is unlimited). */
  initLimitHalfOpen: 1000,
  /** Seconds a half-open IKE_SA waits for its IKE_AUTH (default 30): a mesh peer needs one round trip. */
  halfOpenTimeout: 10,
} as const;

export interface CharonConfInput {
  readonly installRoutes: boolean;
  /** Smallest link MTU towards any peer (and the host's own site). */
  readonly minLinkMtu: number;
}

export function renderCharonConf(input: CharonConfInput): string {
  const fragmentSize = Math.min(IKE_FRAGMENT_SIZE_MAX, input.minLinkMtu);
  const lines = [
    '# Managed by ipsec-mesh. Host-wide: strongswan.conf cannot scope charon settings to one mesh.',
    '# Changes apply with `swanctl --reload-settings` (loggers, timing); the IKE_SA table size at the next charon start.',
    'charon {',
    '\t# Only matters if IKE reauthentication ever runs (the mesh sets reauth_time = 0): new SAs before old ones go.',
    '\tmake_before_break = yes',
    `\tretransmit_tries = ${RETRANSMIT.tries}`,
    `\tretransmit_timeout = ${RETRANSMIT.timeout}`,
    `\tretransmit_base = ${RETRANSMIT.base}`,
    `\tretransmit_jitter = ${RETRANSMIT.jitter}`,
  ];
  if (!input.installRoutes) {
    lines.push('\t# Transport mode needs no routes (the packets already go to the peer).', '\tinstall_routes = no');
  }
  lines.push(
    `\t# IKE fragments (certificates) fit the smallest link MTU towards any peer (${input.minLinkMtu}).`,
    `\tfragment_size = ${fragmentSize}`,
    '\t# IKE denial of service: cookies, per-source blocking, a global cap and a short half-open',
    '\t# timeout keep a stranger\'s IKE_SA_INIT flood from starving the mesh (docs/render.md).',
    '\tdos_protection = yes',
    `\tcookie_threshold = ${IKE_DOS.cookieThreshold}`,
    `\tcookie_threshold_ip = ${IKE_DOS.cookieThresholdIp}`,
    `\tblock_threshold = ${IKE_DOS.blockThreshold}`,
    `\tinit_limit_half_open = ${IKE_DOS.initLimitHalfOpen}`,
    `\thalf_open_timeout = ${IKE_DOS.halfOpenTimeout}`,
    '\t# Hundreds of IKE_SAs: hash them instead of one linear list (the default table size is 1).',
    '\tikesa_table_size = 1024',
    '\tikesa_table_segments = 16',
    '\tfilelog {',
    '\t\tipsec-mesh {',
    `\t\t\tpath = ${CHARON_LOG_PATH}`,
    '\t\t\ttime_format = "%Y-%m-%dT%H:%M:%S"',
    '\t\t\ttime_add_ms = yes',
    '\t\t\tike_name = yes',
    '\t\t\tappend = yes',
    '\t\t\tflush_line = yes',
    '\t\t\tdefault = 1',
    '\t\t}',
    '\t}',
    '\t# A (re)started charon owns no kernel SA: each mesh\'s monitor removes the ESP SAs an earlier',
    '\t# charon left towards mesh peers (after a SIGKILL), so the traps negotiate SAs charon manages.',
    '\tstart-scripts {',
    `\t\tipsec-mesh = "for f in ${MONITOR_SCRIPT_GLOB}; do [ -f $f ] && /bin/sh $f --charon-start; done"`,
    '\t}',
    '\t# Any configured logger disables charon\'s built-in syslog default; keep it.',
    '\tsyslog {',
    '\t\tdaemon {',
    '\t\t\tdefault = 1',
    '\t\t}',
    '\t}',
    '}',
    '',
  );
  return lines.join('\n');
}
