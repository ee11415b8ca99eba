// Address and CIDR parsing for the inventory, all through ipaddr.js (no address regexes here).
import ipaddr from 'ipaddr.js';
import type { AddressFamily } from './model.js';

export type IpValue = ipaddr.IPv4 | ipaddr.IPv6;

export interface ParsedAddress {
  readonly family: AddressFamily;
  /** Canonical text: dotted quad, or RFC 5952 for IPv6. */
  readonly canonical: string;
  readonly ip: IpValue;
}

export interface ParsedPrefix {
  readonly family: AddressFamily;
  /** Canonical `address/length`. */
  readonly canonical: string;
  readonly ip: IpValue;
  readonly length: number;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

const FAMILY_LABEL: Record<AddressFamily, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

/** Ranges that can never be a mesh host's address. */
const UNUSABLE_RANGES: ReadonlyMap<string, string> = new Map([
  ['unspecified', 'the unspecified address'],
  ['loopback', 'a loopback address'],
  ['multicast', 'a multicast address'],
  ['broadcast', 'the broadcast address'],
  ['linkLocal', 'a link-local address (it needs a zone; use a global address)'],
]);

/** Parses any address, strictly: IPv4 only as four decimal parts (ipaddr.js also accepts `127.1` or hex). */
export function parseAddress(text: string): Parsed<ParsedAddress> {
  const t = text.trim();
  if (t !== text || t === '') return { ok: false, message: `${JSON.stringify(text)} is not a valid IP address` };
  if (ipaddr.IPv4.isValidFourPartDecimal(t)) {
    const ip = ipaddr.IPv4.parse(t);
    return { ok: true, value: { family: 'ipv4', canonical: ip.toString(), ip } };
  }
  if (ipaddr.IPv6.isValid(t)) {
    const ip = ipaddr.IPv6.parse(t);
    if (ip.zoneId !== undefined) {
      return { ok: false, message: `${JSON.stringify(text)} has a zone index (%${ip.zoneId}); host addresses must be global` };
    }
    // An embedded dotted tail must itself be a plain dotted quad.
    const lastColon = t.lastIndexOf(':');
    if (t.includes('.') && !ipaddr.IPv4.isValidFourPartDecimal(t.slice(lastColon + 1))) {
      return { ok: false, message: `${JSON.stringify(text)} is not a valid IPv6 address` };
    }
    return { ok: true, value: { family: 'ipv6', canonical: ip.toRFC5952String(), ip } };
  }
  return { ok: false, message: `${JSON.stringify(text)} is not a valid IP address` };
}

/** A host address of the given family: valid, of that family, and usable as a unicast endpoint. */
export function parseHostAddress(text: string, family: AddressFamily): Parsed<ParsedAddress> {
  const parsed = parseAddress(text);
  if (!parsed.ok) {
    return parsed.message.endsWith('is not a valid IP address')
      ? { ok: false, message: `${JSON.stringify(text)} is not a valid ${FAMILY_LABEL[family]} address` }
      : parsed;
  }
  const a = parsed.value;
  if (a.ip.kind() === 'ipv6' && (a.ip as ipaddr.IPv6).isIPv4MappedAddress()) {
    const v4 = (a.ip as ipaddr.IPv6).toIPv4Address().toString();
    return { ok: false, message: `${JSON.stringify(text)} is an IPv4-mapped IPv6 address; list ${v4} under ipv4 instead` };
  }
  if (a.family !== family) {
    return { ok: false, message: `${JSON.stringify(text)} is an ${FAMILY_LABEL[a.family]} address, listed under ${family}` };
  }
  const unusable = UNUSABLE_RANGES.get(a.ip.range());
  if (unusable !== undefined) return { ok: false, message: `${JSON.stringify(text)} is ${unusable}, not a host address` };
  return parsed;
}

/** A CIDR prefix `address/length` with no host bits set. */
export function parsePrefix(text: string, family?: AddressFamily): Parsed<ParsedPrefix> {
  const slash = text.indexOf('/');
  if (slash < 0) {
    return { ok: false, message: `${JSON.stringify(text)} is not a CIDR prefix (expected address/length, e.g. 198.51.100.0/24)` };
  }
  const addr = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const bad = { ok: false as const, message: `${JSON.stringify(text)} is not a valid CIDR prefix` };
  const length = Number(lenText);
  // String(length) === lenText rejects '', '024', '+24', '24.0' and spaces.
  if (!addr.ok || !Number.isInteger(length) || String(length) !== lenText) return bad;
  const { ip, family: got } = addr.value;
  if (length > (got === 'ipv4' ? 32 : 128)) return bad;
  if (got === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
    return { ok: false, message: `${JSON.stringify(text)} is an IPv4-mapped IPv6 prefix; write it as an IPv4 prefix` };
  }
  if (family !== undefined && got !== family) {
    return { ok: false, message: `${JSON.stringify(text)} is an ${FAMILY_LABEL[got]} prefix, expected ${FAMILY_LABEL[family]}` };
  }
  const network = networkOf(ip, length);
  if (network.toString() !== ip.toString()) {
    return { ok: false, message: `${JSON.stringify(text)} has host bits set (the prefix is ${network.toString()}/${length})` };
  }
  return { ok: true, value: { family: got, canonical: `${network.toString()}/${length}`, ip: network, length } };
}

function networkOf(ip: IpValue, length: number): IpValue {
  const bytes = ip.toByteArray();
  for (let bit = length; bit < bytes.length * 8; bit++) {
    bytes[bit >> 3] = bytes[bit >> 3]! & ~(0x80 >> (bit & 7));
  }
  return ipaddr.fromByteArray(bytes);
}

/** True when `address` lies inside `prefix` (same family required). */
export function prefixContains(prefix: ParsedPrefix, address: ParsedAddress): boolean {
  if (prefix.family !== address.family) return false;
  return address.ip.match([prefix.ip, prefix.length] as [IpValue, number]);
}

/** True when two prefixes of the same family overlap (one contains the other's network). */
export function prefixesOverlap(a: ParsedPrefix, b: ParsedPrefix): boolean {
  if (a.family !== b.family) return false;
  const shorter = a.length <= b.length ? a : b;
  const longer = shorter === a ? b : a;
  return longer.ip.match([shorter.ip, shorter.length] as [IpValue, number]);
}
