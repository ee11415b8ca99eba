// The mesh's nftables table (docs/render.md, "Fail closed" and "MTU"). Two jobs, one table,
// replaced whole by one `nft -f`:
//
// - The kernel backstop for `require`: traffic between this host and its `require` peers is
//   dropped unless IPsec protects it. charon's trap policies vanish when charon stops (SIGTERM
//   removes every policy it installed) and are not there before it starts at boot; this table
//   does not depend on charon at all. Outbound, `rt ipsec exists` is true when the route of
//   the packet carries an XFRM bundle (an SA will encrypt it); inbound, `meta ipsec exists`
//   when the packet was decrypted (it has a secpath). IKE, ESP itself and every bypass shunt
//   are accepted first, from the same typed plan the pass policies are rendered from.
// - The TCP MSS clamp (mss-clamp.ts): SYN and SYN-ACK to and from peers on clamped links carry
//   at most the MSS that fits the link with ESP. Both directions: the peer's SYN sets what this
//   host sends, so one managed end protects both ways.
import type { AddressFamily, Host } from '../inventory/model.js';
import { remoteAddress, roams, type HostPair } from '../topology/host-pair.js';
import { PROTO, type BypassShunt } from './bypass-shunts.js';
import { FAMILY_SUFFIX } from './mesh-connections.js';
import type { MssClamp } from './mss-clamp.js';

/** UDP ports of IKE: 500, and 4500 for NAT traversal (also carries ESP-in-UDP). */
export const IKE_PORTS = [500, 4500] as const;

/** `inet ipsec-mesh_<mesh>`: the table's family and name (mesh names are DNS labels). */
export function backstopTable(meshName: string): string {
  return `inet ipsec-mesh_${meshName}`;
}

export interface BackstopInput {
  readonly meshName: string;
  readonly host: Host;
  /** The pairs involving this host; only `require` ones are backstopped. */
  readonly pairs: readonly HostPair[];
  readonly bypass: readonly BypassShunt[];
  /** TCP MSS clamps towards peers (planMssClamp); none: no clamp rules. */
  readonly mssClamps?: readonly MssClamp[];
  /**
   * compact `site-prefixes`: the prefixes held to `require` instead of the peers' addresses
   * (what remote_ts traps); the bypass then holds the addresses inside them that are not peers.
   */
  readonly requireSelectors?: Readonly<Record<AddressFamily, readonly string[]>>;
}

/** Per family, the addresses of this host's `require` peers (sorted, unique). */
export function requirePeerAddresses(host: string, pairs: readonly HostPair[]): Record<AddressFamily, string[]> {
  const out: Record<AddressFamily, Set<string>> = { ipv4: new Set(), ipv6: new Set() };
  for (const pair of pairs) {
    if (pair.enforcement !== 'require' || (pair.a !== host && pair.b !== host)) continue;
    // A roaming peer has no address to hold traffic for (it is not trapped either).
    for (const ep of pair.families) if (!roams(ep)) out[ep.family].add(remoteAddress(ep, pair.a === host));
  }
  return { ipv4: [...out.ipv4].sort(), ipv6: [...out.ipv6].sort() };
}

const IP: Readonly<Record<AddressFamily, string>> = { ipv4: 'ip', ipv6: 'ip6' };
const ADDR_TYPE: Readonly<Record<AddressFamily, string>> = { ipv4: 'ipv4_addr', ipv6: 'ipv6_addr' };

/** Prefixes in a set need the interval flag; plain addresses keep the hash set they always had. */
function setFlags(elements: readonly string[]): string[] {
  return elements.some((e) => e.includes('/')) ? ['\t\tflags interval'] : [];
}

function list(values: readonly (string | number)[]): string {
  return values.length === 1 ? String(values[0]) : `{ ${values.join(', ')} }`;
}

/** The nft match of one shunt, for packets to the peer (`out`) or from it (`in`). */
function shuntMatch(s: BypassShunt, direction: 'out' | 'in'): string {
  const parts: string[] = [];
  if (s.remoteCidrs?.length) parts.push(`${IP[s.family]} ${direction === 'out' ? 'daddr' : 'saddr'} ${list(s.remoteCidrs)}`);
  if (s.icmp !== undefined) {
    const kw = s.protocol === PROTO.icmp ? 'icmp' : 'icmpv6';
    parts.push(`${kw} type ${s.icmp.type}`);
    if (s.icmp.code !== undefined) parts.push(`${kw} code ${s.icmp.code}`);
  } else if (s.protocol === PROTO.tcp || s.protocol === PROTO.udp) {
    const kw = s.protocol === PROTO.tcp ? 'tcp' : 'udp';
    const local = s.localPort === undefined ? undefined : `${kw} ${direction === 'out' ? 'sport' : 'dport'} ${s.localPort}`;
    const remote = s.remotePorts?.length ? `${kw} ${direction === 'out' ? 'dport' : 'sport'} ${list(s.remotePorts)}` : undefined;
    if (local === undefined && remote === undefined) parts.push(`meta l4proto ${kw}`);
    if (local !== undefined) parts.push(local);
    if (remote !== undefined) parts.push(remote);
  } else if (s.protocol !== undefined) {
    parts.push(`meta l4proto ${s.protocol}`);
  }
  return parts.join(' ');
}

/** The name of the set of peers clamped to `mss` in one family. */
function clampSet(c: MssClamp): string {
  return `mss_${FAMILY_SUFFIX[c.family]}_${c.mss}`;
}

/** SYN and SYN-ACK (not RST) whose MSS option exceeds the clamp get it lowered, never raised. */
function clampRule(c: MssClamp, direction: 'out' | 'in'): string {
  const peer = `${IP[c.family]} ${direction === 'out' ? 'daddr' : 'saddr'} @${clampSet(c)}`;
  return `\t\t${peer} tcp flags & (syn | rst) == syn tcp option maxseg size > ${c.mss} counter tcp option maxseg size set ${c.mss} comment "link MTU ${c.linkMtu}"`;
}

/**
 * The mesh's table for one host, as an `nft -f` script that replaces the table atomically;
 * undefined when the host has neither a `require` peer nor a clamped link (no table is needed:
 * the push deletes one).
 */
export function renderBackstopNft(input: BackstopInput): string | undefined {
  const peers = input.requireSelectors ?? requirePeerAddresses(input.host.name, input.pairs);
  const families = (['ipv4', 'ipv6'] as const).filter((f) => peers[f].length > 0);
  const clamps = input.mssClamps ?? [];
  if (families.length === 0 && clamps.length === 0) return undefined;
  const table = backstopTable(input.meshName);
  const out = [`# Managed by ipsec-mesh (mesh ${input.meshName}, host ${input.host.name}). Do not edit: every deploy overwrites this file.`];
  if (families.length > 0) {
    out.push(
      '# Kernel backstop for `require`: traffic to or from a require peer that IPsec does not protect',
      '# is dropped here, whether charon runs or not.',
    );
  }
  if (clamps.length > 0) out.push('# TCP MSS clamp: SYNs to and from peers carry at most the MSS that fits the link with ESP.');
  out.push(
    '# Applied with `nft -f` (atomic: the table is replaced whole);',
    `# \`nft delete table ${table}\` removes it (enabled: false and destroy do).`,
    `table ${table} {}`,
    `delete table ${table}`,
    `table ${table} {`,
  );
  for (const f of families) {
    out.push(`\tset require_${FAMILY_SUFFIX[f]} {`, `\t\ttype ${ADDR_TYPE[f]}`, ...setFlags(peers[f]), `\t\telements = { ${peers[f].join(', ')} }`, '\t}');
  }
  for (const c of clamps) {
    out.push(`\tset ${clampSet(c)} {`, `\t\ttype ${ADDR_TYPE[c.family]}`, ...setFlags(c.peers), `\t\telements = { ${c.peers.join(', ')} }`, '\t}');
  }
  // Clamps first: a require chain ends in a verdict, and the SYN must be clamped before it.
  out.push('\tchain output {', '\t\ttype filter hook output priority filter; policy accept;');
  for (const c of clamps) out.push(clampRule(c, 'out'));
  for (const f of families) out.push(`\t\t${IP[f]} daddr @require_${FAMILY_SUFFIX[f]} jump to_peer_${FAMILY_SUFFIX[f]}`);
  out.push('\t}', '\tchain input {', '\t\ttype filter hook input priority filter; policy accept;');
  for (const c of clamps) out.push(clampRule(c, 'in'));
  for (const f of families) out.push(`\t\t${IP[f]} saddr @require_${FAMILY_SUFFIX[f]} jump from_peer_${FAMILY_SUFFIX[f]}`);
  out.push('\t}');
  const ike = list([...IKE_PORTS]);
  for (const f of families) {
    const v = FAMILY_SUFFIX[f];
    // A shunt that yields to the mesh never applies to a peer's traffic: not accepted here.
    const shunts = input.bypass.filter((s) => s.family === f && !s.yieldsToMesh);
    for (const direction of ['out', 'in'] as const) {
      out.push(
        `\tchain ${direction === 'out' ? 'to_peer' : 'from_peer'}_${v} {`,
        '\t\t# IKE and ESP themselves (ESP-in-UDP on 4500)',
        '\t\tmeta l4proto esp accept',
        `\t\tudp sport ${ike} accept`,
        `\t\tudp dport ${ike} accept`,
      );
      for (const s of shunts) out.push(`\t\t${shuntMatch(s, direction)} accept comment "${s.name}"`);
      out.push(
        direction === 'out' ? '\t\trt ipsec exists accept' : '\t\tmeta ipsec exists accept',
        `\t\tcounter drop comment "${direction === 'out' ? 'not encrypted' : 'not decrypted'}: require"`,
        '\t}',
      );
    }
  }
  out.push('}', '');
  return out.join('\n');
}

/**
 * The boot unit: loads the table before the network comes up and before strongSwan starts,
 * so `require` holds (and SYNs are clamped) from the first packet. No ExecStop: stopping the unit (or shutting
 * down) leaves the table in place; only the delivery's delete removes it.
 */
export function renderBackstopUnit(meshName: string, nftPath: string): string {
  return `# Managed by ipsec-mesh (mesh ${meshName}). Do not edit: every deploy overwrites this file.
[Unit]
Description=ipsec-mesh nftables table: require backstop and MSS clamp (mesh ${meshName})
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target strongswan.service strongswan-starter.service
After=local-fs.target
ConditionPathExists=${nftPath}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f ${nftPath}

[Install]
WantedBy=sysinit.target
`;
}
