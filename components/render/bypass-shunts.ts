// Pass (bypass) policies: traffic that must never depend on IPsec. Installed as shunts
// (`mode = pass`, `start_action = trap`) at a fixed priority above every mesh policy.
import type { AddressFamily, BypassRule, Host } from '../inventory/model.js';
import { FAMILY_SUFFIX } from './mesh-connections.js';
import type { RenderContext } from './render-context.js';

export interface BypassShunt {
  readonly name: string;
  readonly family: AddressFamily;
  readonly localTs: string;
  readonly remoteTs: string;
  /** Why the shunt exists, rendered as a comment. */
  readonly why: string;
}

// IANA protocol numbers: numeric, so selectors parse even where /etc/protocols is missing
// (a minbase system without netbase); swanctl --list-pols prints them by name when it can.
const PROTO = { icmp: 1, tcp: 6, udp: 17, esp: 50, 'ipv6-icmp': 58 } as const;
const ANY: Readonly<Record<AddressFamily, string>> = { ipv4: '0.0.0.0/0', ipv6: '::/0' };

/** ICMPv6 neighbour solicitation / advertisement (RFC 4861). */
export const ND_NEIGHBOR_SOLICITATION = 135;
export const ND_NEIGHBOR_ADVERTISEMENT = 136;

export function bypassConnectionName(meshName: string): string {
  return `${meshName}_bypass`;
}

export function hostFamilies(host: Host): AddressFamily[] {
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
    const any = ANY[family];
    const v = FAMILY_SUFFIX[family];
    // SSH both ways: into this host's sshd, and out to any mesh host's sshd.
    out.push({
      name: `${m}_pass_ssh-in_${v}`,
      family,
      localTs: `${any}[${PROTO.tcp}/${host.ssh.port}]`,
      remoteTs: `${any}[${PROTO.tcp}]`,
      why: `SSH to this host (port ${host.ssh.port}): the way in to fix things must not depend on IPsec`,
    });
    out.push({
      name: `${m}_pass_ssh-out_${v}`,
      family,
      localTs: `${any}[${PROTO.tcp}]`,
      remoteTs: ctx.sshPorts.map((p) => `${any}[${PROTO.tcp}/${p}]`).join(','),
      why: `SSH from this host to mesh hosts (port${ctx.sshPorts.length > 1 ? 's' : ''} ${ctx.sshPorts.join(', ')})`,
    });
    if (family === 'ipv4') {
      out.push({
        name: `${m}_pass_icmp_${v}`,
        family,
        localTs: `${any}[${PROTO.icmp}]`,
        remoteTs: `${any}[${PROTO.icmp}]`,
        why: 'ICMP: ping, traceroute and PMTU discovery (fragmentation needed) keep working without an SA',
      });
    } else {
      out.push({
        name: `${m}_pass_icmpv6_${v}`,
        family,
        localTs: `${any}[${PROTO['ipv6-icmp']}]`,
        remoteTs: `${any}[${PROTO['ipv6-icmp']}]`,
        why: 'ICMPv6: ping, traceroute and PMTU discovery (packet too big) keep working without an SA',
      });
      // Explicit, so neighbour discovery never depends on the general ICMPv6 shunt: /128 trap
      // policies would otherwise capture unicast NS/NA and ND would never complete. The port
      // field carries the ICMP type (a value below 256 is a type, any code); both selectors
      // carry it so the inbound and outbound policies match the type.
      for (const [type, label] of [
        [ND_NEIGHBOR_SOLICITATION, 'nd-ns'],
        [ND_NEIGHBOR_ADVERTISEMENT, 'nd-na'],
      ] as const) {
        out.push({
          name: `${m}_pass_${label}_${v}`,
          family,
          localTs: `${any}[${PROTO['ipv6-icmp']}/${type}]`,
          remoteTs: `${any}[${PROTO['ipv6-icmp']}/${type}]`,
          why: `ICMPv6 type ${type} (${type === ND_NEIGHBOR_SOLICITATION ? 'neighbour solicitation' : 'neighbour advertisement'})`,
        });
      }
    }
    for (const rule of ctx.mesh.bypass) out.push(...ruleShunts(m, rule, family));
  }
  return out;
}

function ruleShunts(meshName: string, rule: BypassRule, family: AddressFamily): BypassShunt[] {
  if (rule.protocol === 'icmp' && family !== 'ipv4') return [];
  if (rule.protocol === 'ipv6-icmp' && family !== 'ipv6') return [];
  let remotes: string[];
  if (rule.cidrs !== undefined && rule.cidrs.length > 0) {
    remotes = rule.cidrs.filter((c) => (family === 'ipv6') === c.includes(':'));
    if (remotes.length === 0) return []; // the rule names only the other family
  } else {
    remotes = [ANY[family]];
  }
  const any = ANY[family];
  const base = `${meshName}_rule_${rule.name}`;
  const v = FAMILY_SUFFIX[family];
  const proto = rule.protocol === 'any' ? undefined : PROTO[rule.protocol];
  const sel = (cidr: string, port?: number): string =>
    proto === undefined ? cidr : port === undefined ? `${cidr}[${proto}]` : `${cidr}[${proto}/${port}]`;
  const what = `bypass rule "${rule.name}" (${rule.protocol}${rule.port !== undefined ? ` port ${rule.port}` : ''}${rule.cidrs?.length ? ` to/from ${rule.cidrs.join(', ')}` : ''})`;
  if ((rule.protocol === 'tcp' || rule.protocol === 'udp') && rule.port !== undefined) {
    // The port on either side: a service here, and the same service on the remote hosts.
    return [
      { name: `${base}_in_${v}`, family, localTs: sel(any, rule.port), remoteTs: remotes.map((c) => sel(c)).join(','), why: `${what}, local port` },
      { name: `${base}_out_${v}`, family, localTs: sel(any), remoteTs: remotes.map((c) => sel(c, rule.port)).join(','), why: `${what}, remote port` },
    ];
  }
  // ICMP: the port field is the message type; both selectors carry it (see ND above).
  const icmpType = (rule.protocol === 'icmp' || rule.protocol === 'ipv6-icmp') ? rule.port : undefined;
  return [{ name: `${base}_${v}`, family, localTs: sel(any, icmpType), remoteTs: remotes.map((c) => sel(c, icmpType)).join(','), why: what }];
}
