import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { LabSpecError, type LabSpecIssue } from './lab-errors.js';

// What a lab looks like: sites (one bridge each, joined by a router) and hosts in them.
// Only the documentation ranges are allowed: 192.0.2.0/24 is the lab machine's own uplink.

export type LabFamily = 'ipv4' | 'ipv6';

export interface LabSiteSpec {
  readonly name: string;
  /** IPv4 subnet of the site's bridge (CIDR), inside 198.51.100.0/24 or 203.0.113.0/24. */
  readonly ipv4?: string;
  /** IPv6 subnet of the site's bridge (CIDR), inside 2001:db8::/32. */
  readonly ipv6?: string;
  /**
   * Puts the site behind 1:1 NAT on the lab router, like a cloud provider: `ipv4` is then
   * the private side. Needs `ipv4`. See LabNatSpec.
   */
  readonly nat?: LabNatSpec;
}

/**
 * 1:1 IPv4 NAT of a site, done by the lab router (nftables in the router namespace).
 * Mapping is by offset: private <site ipv4 base>+k ↔ public <nat ipv4 base>+k.
 */
export interface LabNatSpec {
  /** The PUBLIC IPv4 prefix (CIDR), same length as the site's ipv4 subnet, inside the lab ranges. */
  readonly ipv4: string;
  /** The router drops IP protocol 50 (ESP, IPv4 and IPv6) to and from the site. Default false. */
  readonly dropEsp?: boolean;
}

export interface LabHostSpec {
  readonly name: string;
  readonly site: string;
  /** Addresses (no prefix) in the site's subnet. Omitted: one is assigned (.10+n / ::10+n); [] means none. */
  readonly ipv4?: readonly string[];
  readonly ipv6?: readonly string[];
  /**
   * Which strongSwan the host runs: '5' (default) Debian 12's packaged 5.9.8, '6' upstream
   * 6.0.6 (ML-KEM, RFC 9370 multiple key exchanges) built by scripts/build-strongswan6.sh,
   * made the one in use inside the host's mount namespace (`swanctl` on PATH, /etc/swanctl,
   * /etc/strongswan.d and /run/charon.vici as on a distro-packaged strongSwan 6 host).
   */
  readonly strongswan?: LabStrongswan;
}

/** The strongSwan major version a lab host runs (LabHostSpec.strongswan). */
export type LabStrongswan = '5' | '6';

/** The operator link: a point-to-point subnet between the router and the operator namespace. */
export interface LabOperatorSpec {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

export interface LabSpec {
  /** [a-z][a-z0-9-]{0,19}: prefixes every namespace (`imlab-<name>…`). */
  readonly name: string;
  readonly sites: readonly LabSiteSpec[];
  readonly hosts: readonly LabHostSpec[];
  /** Default: 198.51.100.252/30 and 2001:db8:ffff::/64. */
  readonly operator?: LabOperatorSpec;
}

/** A subnet with the router's address in it (the hosts' gateway). */
export interface ResolvedSubnet {
  readonly cidr: string; // canonical network/prefix
  readonly prefixLength: number;
  readonly gateway: string; // first address of the subnet, on the router
}

export interface ResolvedNat {
  /** The public prefix (canonical network/prefix). */
  readonly ipv4: { readonly cidr: string; readonly prefixLength: number };
  readonly dropEsp: boolean;
}

export interface ResolvedSite {
  readonly name: string;
  readonly index: number;
  readonly ipv4?: ResolvedSubnet;
  readonly ipv6?: ResolvedSubnet;
  /** Set when the site sits behind the router's 1:1 NAT; `ipv4` is then the private side. */
  readonly nat?: ResolvedNat;
}

export interface ResolvedHost {
  readonly name: string;
  readonly index: number;
  readonly site: string;
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  /** The public address of each `ipv4` address, index by index; empty when the site has no nat. */
  readonly publicIpv4: readonly string[];
  /** The strongSwan the host runs ('5' unless the spec said '6'). */
  readonly strongswan: LabStrongswan;
}

export interface ResolvedOperator {
  readonly ipv4?: ResolvedSubnet & { readonly address: string };
  readonly ipv6?: ResolvedSubnet & { readonly address: string };
}

/** The spec with every default filled in and every address canonical. */
export interface ResolvedLabSpec {
  readonly name: string;
  readonly sites: readonly ResolvedSite[];
  readonly hosts: readonly ResolvedHost[];
  readonly operator: ResolvedOperator;
}

export const LAB_RANGES: Readonly<Record<LabFamily, readonly string[]>> = {
  ipv4: ['198.51.100.0/24', '203.0.113.0/24'],
  ipv6: ['2001:db8::/32'],
};
export const DEFAULT_OPERATOR: Required<LabOperatorSpec> = { ipv4: '198.51.100.252/30', ipv6: '2001:db8:ffff::/64' };

const dnsLabel = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a lowercase DNS label');
const specSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'must match [a-z][a-z0-9-]{0,19}'),
  sites: z
    .array(
      z.strictObject({
        name: dnsLabel,
        ipv4: z.string().optional(),
        ipv6: z.string().optional(),
        nat: z.strictObject({ ipv4: z.string(), dropEsp: z.boolean().optional() }).optional(),
      }),
    )
    .min(1),
  hosts: z
    .array(
      z.strictObject({
        name: dnsLabel,
        site: z.string(),
        ipv4: z.array(z.string()).optional(),
        ipv6: z.array(z.string()).optional(),
        strongswan: z.enum(['5', '6'], { message: "must be '5' (Debian's 5.9.8) or '6' (upstream 6.0.6)" }).optional(),
      }),
    )
    .min(1),
  operator: z.strictObject({ ipv4: z.string().optional(), ipv6: z.string().optional() }).optional(),
});

type IP = ipaddr.IPv4 | ipaddr.IPv6;

function toBig(ip: IP): bigint {
  return ip.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}
function fromBig(n: bigint, family: LabFamily): string {
  const len = family === 'ipv4' ? 4 : 16;
  const bytes: number[] = [];
  for (let i = 0; i < len; i++) bytes.unshift(Number((n >> BigInt(8 * i)) & 0xffn));
  const ip = ipaddr.fromByteArray(bytes);
  return ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6).toRFC5952String() : ip.toString();
}
function canonical(ip: IP): string {
  return ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6).toRFC5952String() : ip.toString();
}
const bitsOf = (f: LabFamily): number => (f === 'ipv4' ? 32 : 128);

interface Net {
  readonly family: LabFamily;
  readonly base: bigint;
  readonly prefix: number;
  readonly cidr: string;
}
function sizeOf(n: Net): bigint {
  return 1n << BigInt(bitsOf(n.family) - n.prefix);
}
function contains(n: Net, addr: bigint): boolean {
  return addr >= n.base && addr < n.base + sizeOf(n);
}
function overlaps(a: Net, b: Net): boolean {
  return a.family === b.family && (contains(a, b.base) || contains(b, a.base));
}

const rangeNets: Net[] = (['ipv4', 'ipv6'] as const).flatMap((family) =>
  LAB_RANGES[family].map((cidr) => {
    const [ip, prefix] = ipaddr.parseCIDR(cidr);
    return { family, base: toBig(ip), prefix, cidr };
  }),
);

/** Parses a subnet, checking family, host bits and that it lies inside the lab ranges. */
function parseSubnet(text: string, family: LabFamily, path: string, issues: LabSpecIssue[]): Net | undefined {
  let ip: IP;
  let prefix: number;
  try {
    [ip, prefix] = ipaddr.parseCIDR(text);
  } catch {
    issues.push({ path, message: `"${text}" is not a CIDR subnet` });
    return undefined;
  }
  if (ip.kind() !== family) {
    issues.push({ path, message: `"${text}" is not an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} subnet` });
    return undefined;
  }
  const maxPrefix = family === 'ipv4' ? 30 : 126;
  if (prefix > maxPrefix) {
    issues.push({ path, message: `"${text}" is too small: at most /${maxPrefix} (room for the router and a host)` });
    return undefined;
  }
  const base = toBig(ip);
  const net: Net = { family, base, prefix, cidr: `${canonical(ip)}/${prefix}` };
  if (base % sizeOf(net) !== 0n) {
    issues.push({ path, message: `"${text}" has host bits set` });
    return undefined;
  }
  if (!rangeNets.some((r) => r.family === family && r.prefix <= prefix && contains(r, base))) {
    issues.push({ path, message: `"${text}" is outside the lab ranges (${LAB_RANGES[family].join(', ')})` });
    return undefined;
  }
  return net;
}

function resolvedSubnet(n: Net): ResolvedSubnet {
  return { cidr: n.cidr, prefixLength: n.prefix, gateway: fromBig(n.base + 1n, n.family) };
}

/** Validates a spec (collecting every problem) and fills in the defaults. Throws LabSpecError. */
export function resolveLabSpec(input: unknown): ResolvedLabSpec {
  const parsed = specSchema.safeParse(input);
  if (!parsed.success) {
    throw new LabSpecError(
      parsed.error.issues.map((i) => ({
        path: i.path.map((p, k) => (typeof p === 'number' ? `[${p}]` : `${k ? '.' : ''}${String(p)}`)).join(''),
        message: i.message,
      })),
    );
  }
  const spec = parsed.data;
  const issues: LabSpecIssue[] = [];
  const nets: { net: Net; path: string }[] = [];

  const seenSites = new Set<string>();
  const siteNets = new Map<string, { ipv4?: Net; ipv6?: Net; nat?: Net }>();
  const sites: ResolvedSite[] = spec.sites.map((s, i) => {
    if (seenSites.has(s.name)) issues.push({ path: `sites[${i}].name`, message: `duplicate site "${s.name}"` });
    seenSites.add(s.name);
    if (s.ipv4 === undefined && s.ipv6 === undefined) {
      issues.push({ path: `sites[${i}]`, message: 'a site needs an ipv4 or an ipv6 subnet' });
    }
    const v4 = s.ipv4 === undefined ? undefined : parseSubnet(s.ipv4, 'ipv4', `sites[${i}].ipv4`, issues);
    const v6 = s.ipv6 === undefined ? undefined : parseSubnet(s.ipv6, 'ipv6', `sites[${i}].ipv6`, issues);
    if (v4) nets.push({ net: v4, path: `sites[${i}].ipv4` });
    if (v6) nets.push({ net: v6, path: `sites[${i}].ipv6` });
    let pub: Net | undefined;
    if (s.nat) {
      pub = parseSubnet(s.nat.ipv4, 'ipv4', `sites[${i}].nat.ipv4`, issues);
      if (s.ipv4 === undefined) {
        issues.push({ path: `sites[${i}].nat`, message: 'nat needs the site\'s ipv4 subnet (the private side)' });
        pub = undefined;
      } else if (pub && v4 && pub.prefix !== v4.prefix) {
        issues.push({ path: `sites[${i}].nat.ipv4`, message: `${pub.cidr} must have the prefix length of the site's ipv4 subnet ${v4.cidr} (/${v4.prefix})` });
        pub = undefined;
      }
      // Checked for overlap like a subnet: with every site, the operator link and other public prefixes.
      if (pub) nets.push({ net: pub, path: `sites[${i}].nat.ipv4` });
    }
    if (!siteNets.has(s.name)) siteNets.set(s.name, { ...(v4 && { ipv4: v4 }), ...(v6 && { ipv6: v6 }), ...(pub && { nat: pub }) });
    const nat: ResolvedNat | undefined = pub && s.nat && { ipv4: { cidr: pub.cidr, prefixLength: pub.prefix }, dropEsp: s.nat.dropEsp ?? false };
    return { name: s.name, index: i, ...(v4 && { ipv4: resolvedSubnet(v4) }), ...(v6 && { ipv6: resolvedSubnet(v6) }), ...(nat && { nat }) };
  });

  const op = { ...DEFAULT_OPERATOR, ...spec.operator };
  const opV4 = parseSubnet(op.ipv4, 'ipv4', 'operator.ipv4', issues);
  const opV6 = parseSubnet(op.ipv6, 'ipv6', 'operator.ipv6', issues);
  if (opV4) nets.push({ net: opV4, path: 'operator.ipv4' });
  if (opV6) nets.push({ net: opV6, path: 'operator.ipv6' });
  for (let i = 0; i < nets.length; i++) {
    for (let j = i + 1; j < nets.length; j++) {
      const a = nets[i]!;
      const b = nets[j]!;
      if (overlaps(a.net, b.net)) {
        issues.push({ path: b.path, message: `${b.net.cidr} overlaps ${a.net.cidr} (${a.path})` });
      }
    }
  }

  const seenHosts = new Set<string>();
  const seenAddrs = new Map<string, string>();
  const perSite = new Map<string, number>();
  const hosts: ResolvedHost[] = spec.hosts.map((h, i) => {
    const issuesBefore = issues.length;
    if (seenHosts.has(h.name)) issues.push({ path: `hosts[${i}].name`, message: `duplicate host "${h.name}"` });
    seenHosts.add(h.name);
    const nets4and6 = siteNets.get(h.site);
    if (!seenSites.has(h.site)) issues.push({ path: `hosts[${i}].site`, message: `unknown site "${h.site}"` });
    const k = perSite.get(h.site) ?? 0;
    perSite.set(h.site, k + 1);
    const pick = (family: LabFamily, given: readonly string[] | undefined): string[] => {
      const net = nets4and6?.[family];
      if (given === undefined) {
        if (!net) return [];
        const offset = family === 'ipv4' ? 10n + BigInt(k) : 0x10n + BigInt(k);
        if (offset >= sizeOf(net) - 1n) {
          issues.push({ path: `hosts[${i}].${family}`, message: `site "${h.site}" (${net.cidr}) is too small to assign an address` });
          return [];
        }
        return [fromBig(net.base + offset, family)];
      }
      return given.flatMap((text, j) => {
        const path = `hosts[${i}].${family}[${j}]`;
        if (!ipaddr.isValid(text) || ipaddr.parse(text).kind() !== family) {
          issues.push({ path, message: `"${text}" is not an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address` });
          return [];
        }
        if (!net) {
          issues.push({ path, message: `site "${h.site}" has no ${family} subnet` });
          return [];
        }
        const ip = ipaddr.parse(text);
        const n = toBig(ip);
        if (!contains(net, n)) {
          issues.push({ path, message: `${text} is not in site "${h.site}" subnet ${net.cidr}` });
          return [];
        }
        const last = net.base + sizeOf(net) - 1n;
        if (n === net.base || n === net.base + 1n || (family === 'ipv4' && n === last)) {
          issues.push({ path, message: `${text} is reserved (network, broadcast or the router's ${fromBig(net.base + 1n, family)})` });
          return [];
        }
        return [canonical(ip)];
      });
    };
    const ipv4 = pick('ipv4', h.ipv4);
    const ipv6 = pick('ipv6', h.ipv6);
    for (const [fam, list] of [['ipv4', ipv4], ['ipv6', ipv6]] as const) {
      list.forEach((a, j) => {
        const prev = seenAddrs.get(a);
        if (prev) issues.push({ path: `hosts[${i}].${fam}[${j}]`, message: `${a} is already used by ${prev}` });
        seenAddrs.set(a, `hosts[${i}] (${h.name})`);
      });
    }
    if (nets4and6 && issues.length === issuesBefore && ipv4.length + ipv6.length === 0) {
      issues.push({ path: `hosts[${i}]`, message: `host "${h.name}" has no address` });
    }
    const priv = nets4and6?.ipv4;
    const pub = nets4and6?.nat;
    const publicIpv4 = priv && pub ? ipv4.map((a) => fromBig(pub.base + (toBig(ipaddr.parse(a)) - priv.base), 'ipv4')) : [];
    return { name: h.name, index: i, site: h.site, ipv4, ipv6, publicIpv4, strongswan: h.strongswan ?? '5' };
  });

  if (issues.length > 0) throw new LabSpecError(issues, spec.name);
  const opResolved = (n: Net | undefined): (ResolvedSubnet & { address: string }) | undefined =>
    n && { ...resolvedSubnet(n), address: fromBig(n.base + 2n, n.family) };
  const o4 = opResolved(opV4);
  const o6 = opResolved(opV6);
  return { name: spec.name, sites, hosts, operator: { ...(o4 && { ipv4: o4 }), ...(o6 && { ipv6: o6 }) } };
}
