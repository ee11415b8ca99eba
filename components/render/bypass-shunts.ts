// Pass (bypass) policies: traffic that must never depend on IPsec. Installed as shunts
// (`mode = pass`, `start_action = trap`) at a fixed priority above every mesh policy.
import ipaddr from 'ipaddr.js';
import type { AddressFamily, BypassRule, Host } from '../inventory/model.js';
import { FAMILY_SUFFIX } from './mesh-connections.js';
import type { RenderContext } from './render-context.js';

/** An ICMP/ICMPv6 message: its type, and its code when only one code is meant. */
export interface IcmpMessage {
  readonly type: number;
  readonly code?: number;
}

/**
 * One pass policy, as typed selectors: the swanctl shunt and the kernel backstop's accept
 * rules (backstop-nft.ts) are both rendered from it, so the two never disagree.
 */
export interface BypassShunt {
  readonly name: string;
  readonly family: AddressFamily;
  /** IANA protocol number; undefined = every protocol. */
  readonly protocol?: number;
  /** TCP/UDP: this host's port (undefined = any). */
  readonly localPort?: number;
  /** TCP/UDP: the other end's ports (undefined or empty = any). */
  readonly remotePorts?: readonly number[];
  /** ICMP/ICMPv6: the one message type (and code) passed, in both directions. */
  readonly icmp?: IcmpMessage;
  /** The other end's addresses (undefined = any address of the family). */
  readonly remoteCidrs?: readonly string[];
  /**
   * The shunt loses to the mesh policies (a lower-precedence priority): traffic of a mesh peer
   * takes its SA, everyone else the shunt. SSH in from any source when mesh.sshFrom is unset.
   */
  readonly yieldsToMesh?: boolean;
  /** swanctl `local_ts`/`remote_ts`, derived from the fields above. */
  readonly localTs: string;
  readonly remoteTs: string;
  /** Why the shunt exists, rendered as a comment. */
  readonly why: string;
}

type ShuntSpec = Omit<BypassShunt, 'localTs' | 'remoteTs'>;

// IANA protocol numbers: numeric, so selectors parse even where /etc/protocols is missing
// (a minbase system without netbase); swanctl --list-pols prints them by name when it can.
export const PROTO = { icmp: 1, tcp: 6, udp: 17, esp: 50, 'ipv6-icmp': 58 } as const;
const ANY: Readonly<Record<AddressFamily, string>> = { ipv4: '0.0.0.0/0', ipv6: '::/0' };

/** ICMPv6 neighbour solicitation / advertisement (RFC 4861). */
export const ND_NEIGHBOR_SOLICITATION = 135;
export const ND_NEIGHBOR_ADVERTISEMENT = 136;
/** ICMPv4 destination unreachable, code "fragmentation needed" (RFC 1191 PMTU discovery). */
export const ICMP_FRAG_NEEDED: IcmpMessage = { type: 3, code: 4 };
/** ICMPv6 packet too big (RFC 8201 PMTU discovery). */
export const ICMPV6_PACKET_TOO_BIG: IcmpMessage = { type: 2 };

/**
 * strongSwan's port field for an ICMP message: below 256 it is a type (any code), from 256 on
 * type << 8 | code (traffic_selector.h). Type 0 alone would read as "any": refused.
 */
export function icmpSelectorPort(m: IcmpMessage): number {
  if (m.code === undefined) {
    if (m.type === 0) throw new Error('ICMP type 0 without a code cannot be a strongSwan selector (0 means any)');
    return m.type;
  }
  return m.type * 256 + m.code;
}

function shunt(spec: ShuntSpec): BypassShunt {
  const any = ANY[spec.family];
  const proto = spec.protocol;
  const sel = (cidr: string, port?: number): string => (proto === undefined ? cidr : port === undefined ? `${cidr}[${proto}]` : `${cidr}[${proto}/${port}]`);
  const remotes = spec.remoteCidrs?.length ? spec.remoteCidrs : [any];
  if (spec.icmp !== undefined) {
    // The type on both selectors, so the inbound and outbound policies both match it.
    const port = icmpSelectorPort(spec.icmp);
    return { ...spec, localTs: sel(any, port), remoteTs: remotes.map((c) => sel(c, port)).join(',') };
  }
  const remotePorts = spec.remotePorts?.length ? spec.remotePorts : [undefined];
  return {
    ...spec,
    localTs: sel(any, spec.localPort),
    remoteTs: remotes.flatMap((c) => remotePorts.map((p) => sel(c, p))).join(','),
  };
}

export function bypassConnectionName(meshName: string): string {
  return `${meshName}_bypass`;
}

export function hostFamilies(host: Host): AddressFamily[] {
  // A roaming host may show up in either family wherever it is.
  if (host.roaming === true) return ['ipv4', 'ipv6'];
  const out: AddressFamily[] = [];
  if (host.addresses.ipv4.length > 0) out.push('ipv4');
  if (host.addresses.ipv6.length > 0) out.push('ipv6');
  return out;
}

/** Every shunt of a host, for the families it has, in output order. */
export function planBypass(ctx: RenderContext, host: Host): BypassShunt[] {
  const m = ctx.mesh.name;
  const out: BypassShunt[] = [];
  for (const family of hostFamilies(host)) {
    const v = FAMILY_SUFFIX[family];
    // SSH into this host's sshd from where delivery comes from: mesh.sshFrom and the host's
    // jump host, ahead of the mesh policies; without sshFrom, any source, behind them (a peer's
    // SSH takes its SA both ways: a shunt that won would answer it in cleartext while the peer
    // expects ESP). Nothing else: SSH from one mesh host to another is mesh traffic.
    const sources = sshSources(ctx, host, family);
    if (sources === undefined || sources.length > 0) {
      out.push(
        shunt({
          name: `${m}_pass_ssh-in_${v}`,
          family,
          protocol: PROTO.tcp,
          localPort: host.ssh.port,
          ...(sources !== undefined ? { remoteCidrs: sources } : { yieldsToMesh: true }),
          why: `SSH to this host (port ${host.ssh.port}) from ${sources === undefined ? 'anywhere' : sources.join(', ')}: the way in to fix things must not depend on IPsec`,
        }),
      );
    }
    // ICMP: only PMTU discovery passes. Every other message between mesh hosts (echo, port
    // unreachable, time exceeded …) is protected like other traffic: an ICMP error quotes the
    // start of the packet that caused it, i.e. decrypted payload. Routers' ICMP (traceroute,
    // PMTU for the ESP packets) is not mesh-peer traffic and needs no shunt.
    if (family === 'ipv4') {
      out.push(
        shunt({
          name: `${m}_pass_frag-needed_${v}`,
          family,
          protocol: PROTO.icmp,
          icmp: ICMP_FRAG_NEEDED,
          why: 'ICMP fragmentation needed (type 3 code 4): PMTU discovery keeps working without an SA',
        }),
      );
    } else {
      out.push(
        shunt({
          name: `${m}_pass_ptb_${v}`,
          family,
          protocol: PROTO['ipv6-icmp'],
          icmp: ICMPV6_PACKET_TOO_BIG,
          why: 'ICMPv6 packet too big (type 2): PMTU discovery keeps working without an SA',
        }),
      );
      // /128 trap policies would otherwise capture unicast NS/NA and ND would never complete.
      for (const [type, label] of [
        [ND_NEIGHBOR_SOLICITATION, 'nd-ns'],
        [ND_NEIGHBOR_ADVERTISEMENT, 'nd-na'],
      ] as const) {
        out.push(
          shunt({
            name: `${m}_pass_${label}_${v}`,
            family,
            protocol: PROTO['ipv6-icmp'],
            icmp: { type },
            why: `ICMPv6 type ${type} (${type === ND_NEIGHBOR_SOLICITATION ? 'neighbour solicitation' : 'neighbour advertisement'})`,
          }),
        );
      }
    }
    for (const rule of ctx.mesh.bypass) out.push(...ruleShunts(m, rule, family));
  }
  return out;
}

/**
 * compact with `site-prefixes`: one shunt per family for the inventory's addresses inside the
 * trapped prefixes that are not this host's `require` peers (mesh-connections.ts), every
 * protocol. More specific than the prefixes and at the shunts' higher priority, so they win.
 */
export function outsideMeshShunts(meshName: string, outsideMesh: Readonly<Record<AddressFamily, readonly string[]>>): BypassShunt[] {
  const out: BypassShunt[] = [];
  for (const family of ['ipv4', 'ipv6'] as const) {
    const addresses = outsideMesh[family];
    if (addresses.length === 0) continue;
    const bits = family === 'ipv4' ? '/32' : '/128';
    out.push(
      shunt({
        name: `${meshName}_pass_outside-mesh_${FAMILY_SUFFIX[family]}`,
        family,
        remoteCidrs: addresses.map((a) => a + bits),
        why: 'addresses inside the trapped site prefixes that are not require peers of this host (itself, hosts it is not paired with)',
      }),
    );
  }
  return out;
}

/** The sources of SSH into `host` in one family; undefined = any (mesh.sshFrom not declared). */
export function sshSources(ctx: RenderContext, host: Host, family: AddressFamily): string[] | undefined {
  const from = ctx.mesh.sshFrom;
  if (from === undefined) return undefined;
  const out = from.filter((c) => (family === 'ipv6') === c.includes(':'));
  const jump = host.ssh.jumpHost?.host;
  if (jump !== undefined && ipaddr.isValid(jump) && (ipaddr.parse(jump).kind() === 'ipv6') === (family === 'ipv6')) {
    out.push(`${ipaddr.parse(jump).toString()}/${family === 'ipv6' ? 128 : 32}`);
  }
  return out;
}

function ruleShunts(meshName: string, rule: BypassRule, family: AddressFamily): BypassShunt[] {
  if (rule.protocol === 'icmp' && family !== 'ipv4') return [];
  if (rule.protocol === 'ipv6-icmp' && family !== 'ipv6') return [];
  let remoteCidrs: string[] | undefined;
  if (rule.cidrs !== undefined && rule.cidrs.length > 0) {
    remoteCidrs = rule.cidrs.filter((c) => (family === 'ipv6') === c.includes(':'));
    if (remoteCidrs.length === 0) return []; // the rule names only the other family
  }
  const base = `${meshName}_rule_${rule.name}`;
  const v = FAMILY_SUFFIX[family];
  const protocol = rule.protocol === 'any' ? undefined : PROTO[rule.protocol];
  const common = { family, ...(protocol !== undefined && { protocol }), ...(remoteCidrs && { remoteCidrs }) };
  const what = `bypass rule "${rule.name}" (${rule.protocol}${rule.port !== undefined ? ` port ${rule.port}` : ''}${rule.cidrs?.length ? ` to/from ${rule.cidrs.join(', ')}` : ''})`;
  if ((rule.protocol === 'tcp' || rule.protocol === 'udp') && rule.port !== undefined) {
    // The port on either side: a service here, and the same service on the remote hosts.
    return [
      shunt({ name: `${base}_in_${v}`, ...common, localPort: rule.port, why: `${what}, local port` }),
      shunt({ name: `${base}_out_${v}`, ...common, remotePorts: [rule.port], why: `${what}, remote port` }),
    ];
  }
  // ICMP: the port field is the message type.
  const icmp = (rule.protocol === 'icmp' || rule.protocol === 'ipv6-icmp') && rule.port !== undefined ? { icmp: { type: rule.port } } : {};
  return [shunt({ name: `${base}_${v}`, ...common, ...icmp, why: what })];
}
