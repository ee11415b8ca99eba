// Reads the classic pcap files tcpdump writes (`-w`, Ethernet link type) and says, per frame,
// what the lab's wire checks need: IP family, protocol, addresses, UDP/TCP ports, what UDP 4500
// carries (ESP-in-UDP, IKE or a NAT keepalive), and whether the frame's bytes contain a given
// payload anywhere (header, ESP body, ICMP quote…).
import ipaddr from 'ipaddr.js';

export class PcapError extends Error {
  override readonly name = 'PcapError';
}

export interface PcapFrame {
  readonly index: number;
  readonly length: number;
  readonly family?: 'ipv4' | 'ipv6';
  /** IP protocol / IPv6 next header (50 = ESP, 17 = UDP, 1 = ICMP, 58 = ICMPv6). */
  readonly protocol?: number;
  readonly src?: string;
  readonly dst?: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  /** A UDP frame's payload (after the 8-byte header, up to the UDP length: no Ethernet padding). */
  readonly udpPayload?: Buffer;
  readonly data: Buffer;
}

export const IP_PROTO = { icmp: 1, tcp: 6, udp: 17, esp: 50, icmpv6: 58 } as const;
const LINKTYPE_ETHERNET = 1;

export function parsePcap(buf: Buffer): PcapFrame[] {
  if (buf.length < 24) throw new PcapError(`not a pcap file (${buf.length} bytes)`);
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new PcapError(`not a pcap file (magic 0x${magic.toString(16)})`);
  const u32 = (off: number): number => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const linktype = u32(20);
  if (linktype !== LINKTYPE_ETHERNET) throw new PcapError(`link type ${linktype}, expected Ethernet (1)`);
  const frames: PcapFrame[] = [];
  let off = 24;
  // A capture stopped mid-write may end in a partial record: ignore it.
  while (off + 16 <= buf.length) {
    const incl = u32(off + 8);
    const start = off + 16;
    if (start + incl > buf.length) break;
    frames.push(decodeEthernet(frames.length, buf.subarray(start, start + incl)));
    off = start + incl;
  }
  return frames;
}

function decodeEthernet(index: number, data: Buffer): PcapFrame {
  const base = { index, length: data.length, data };
  if (data.length < 14) return base;
  let type = data.readUInt16BE(12);
  let l3 = 14;
  if (type === 0x8100 && data.length >= 18) {
    type = data.readUInt16BE(16);
    l3 = 18;
  }
  if (type === 0x0800 && data.length >= l3 + 20) {
    const ihl = (data[l3]! & 0x0f) * 4;
    const protocol = data[l3 + 9]!;
    const src = ipaddr.fromByteArray([...data.subarray(l3 + 12, l3 + 16)]).toString();
    const dst = ipaddr.fromByteArray([...data.subarray(l3 + 16, l3 + 20)]).toString();
    return { ...base, family: 'ipv4', protocol, src, dst, ...ports(data, l3 + ihl, protocol) };
  }
  if (type === 0x86dd && data.length >= l3 + 40) {
    const protocol = data[l3 + 6]!;
    const v6 = (o: number): string => (ipaddr.fromByteArray([...data.subarray(o, o + 16)]) as ipaddr.IPv6).toRFC5952String();
    return { ...base, family: 'ipv6', protocol, src: v6(l3 + 8), dst: v6(l3 + 24), ...ports(data, l3 + 40, protocol) };
  }
  return base;
}

function ports(data: Buffer, l4: number, protocol: number): { srcPort?: number; dstPort?: number; udpPayload?: Buffer } {
  if ((protocol !== IP_PROTO.udp && protocol !== IP_PROTO.tcp) || data.length < l4 + 4) return {};
  const p = { srcPort: data.readUInt16BE(l4), dstPort: data.readUInt16BE(l4 + 2) };
  if (protocol !== IP_PROTO.udp || data.length < l4 + 8) return p;
  // The UDP length bounds the payload: a short frame is padded to 60 bytes on Ethernet.
  const udpLength = data.readUInt16BE(l4 + 4);
  const end = udpLength >= 8 ? Math.min(data.length, l4 + udpLength) : data.length;
  return { ...p, udpPayload: data.subarray(l4 + 8, end) };
}

/** NAT-T's port (RFC 3948): ESP-in-UDP, IKE and NAT keepalives share it. */
export const NAT_T_PORT = 4500;

/**
 * What a UDP frame to or from port 4500 carries (RFC 3948): `esp` when its first four bytes
 * (the SPI) are not zero and an ESP header (SPI, sequence number) fits; `ike` when they are
 * the zero non-ESP marker; `keepalive` for the one-byte 0xFF NAT keepalive. Undefined for
 * anything else (not UDP 4500, or too short to say).
 */
export function natTKind(f: PcapFrame): 'esp' | 'ike' | 'keepalive' | undefined {
  if (f.protocol !== IP_PROTO.udp || (f.srcPort !== NAT_T_PORT && f.dstPort !== NAT_T_PORT) || !f.udpPayload) return undefined;
  const p = f.udpPayload;
  if (p.length === 1 && p[0] === 0xff) return 'keepalive';
  if (p.length < 4) return undefined;
  if (p.readUInt32BE(0) === 0) return 'ike';
  return p.length >= 8 ? 'esp' : undefined;
}

/** How many times `needle` occurs in the frame's bytes. */
export function occurrences(data: Buffer, needle: Buffer): number {
  if (needle.length === 0) return 0;
  let n = 0;
  for (let i = data.indexOf(needle); i !== -1; i = data.indexOf(needle, i + 1)) n++;
  return n;
}

export interface WireSummary {
  readonly frames: number;
  /** ESP frames between the two addresses (either direction). */
  readonly esp: number;
  /** UDP frames to port 500 or 4500 between them, by port alone (ESP-in-UDP to 4500 included). */
  readonly ike: number;
  /** ESP-in-UDP frames between them (UDP 4500, non-zero SPI where IKE has its zero marker: natTKind 'esp'). */
  readonly espInUdp: number;
  /** IKE on UDP 4500 between them (the zero non-ESP marker: natTKind 'ike'), apart from ESP-in-UDP. */
  readonly ikeOn4500: number;
  /** Frames whose bytes contain the payload, and in how many places in all. */
  readonly plaintextFrames: number;
  readonly plaintextOccurrences: number;
  /** One line per frame that carries the payload in cleartext (what leaked, and how). */
  readonly leaks: readonly string[];
}

/** Sums up a capture for the traffic between addresses `a` and `b` carrying `payload`. */
export function summariseWire(frames: readonly PcapFrame[], a: string, b: string, payload: string): WireSummary {
  const needle = Buffer.from(payload);
  const between = (f: PcapFrame): boolean => (f.src === a && f.dst === b) || (f.src === b && f.dst === a);
  let esp = 0;
  let ike = 0;
  let espInUdp = 0;
  let ikeOn4500 = 0;
  let plaintextFrames = 0;
  let plaintextOccurrences = 0;
  const leaks: string[] = [];
  for (const f of frames) {
    if (between(f) && f.protocol === IP_PROTO.esp) esp++;
    if (between(f) && f.protocol === IP_PROTO.udp && [500, 4500].includes(f.dstPort ?? -1)) ike++;
    if (between(f)) {
      const kind = natTKind(f);
      if (kind === 'esp') espInUdp++;
      else if (kind === 'ike') ikeOn4500++;
    }
    const n = occurrences(f.data, needle);
    if (n > 0) {
      plaintextFrames++;
      plaintextOccurrences += n;
      leaks.push(`frame ${f.index}: ${f.family ?? 'non-IP'} proto ${f.protocol ?? '?'} ${f.src ?? '?'}${f.srcPort ? `:${f.srcPort}` : ''} → ${f.dst ?? '?'}${f.dstPort ? `:${f.dstPort}` : ''}, ${f.length} bytes`);
    }
  }
  return { frames: frames.length, esp, ike, espInUdp, ikeOn4500, plaintextFrames, plaintextOccurrences, leaks };
}
