// Per-packet ESP overhead of a proposal, and the largest inner packet that still fits a link.
//
// An ESP packet is: [outer IP (tunnel)] [UDP 8 (NAT-T)] SPI 4 + sequence 4, IV, the encrypted
// payload followed by padding, pad-length 1 and next-header 1, then the ICV. The payload plus
// the 2 trailer bytes is padded to the cipher's block size (at least 4: RFC 4303 aligns the
// trailer to 32 bits), so padding is 0..align-1 bytes depending on the payload length.
//
// The largest inner packet uses the same formula as Linux (esp4_get_mtu/esp6_get_mtu):
//   ((mtu - header_len - icv - net_adj) & ~(align - 1)) + net_adj - 2
// where header_len = ESP header + IV [+ UDP] [+ outer IP], and net_adj is the IP header in
// transport mode (the original header stays outside the encryption) and 0 in tunnel mode.
import type { AddressFamily, IpsecMode } from '../inventory/model.js';
import { RenderError } from './render-error.js';

/** SPI + sequence number. */
export const ESP_HEADER_BYTES = 8;
/** Pad length + next header. */
export const ESP_TRAILER_BYTES = 2;
export const UDP_ENCAP_BYTES = 8;
export const IP_HEADER_BYTES: Readonly<Record<AddressFamily, number>> = { ipv4: 20, ipv6: 40 };
export const TCP_HEADER_BYTES = 20;

/** One cipher/integrity combination a proposal may end up negotiating. */
export interface EspTransform {
  readonly encryption: string;
  readonly integrity: string | undefined; // undefined for AEAD
  readonly ivBytes: number;
  readonly icvBytes: number;
  /** Padding boundary of payload + trailer: the cipher block size, at least 4. */
  readonly alignBytes: number;
}

export interface EspOverhead {
  readonly transform: EspTransform;
  readonly mode: IpsecMode;
  readonly natT: boolean;
  readonly family: AddressFamily;
  /** Outer IP header (tunnel) + UDP (NAT-T) + ESP header + IV + trailer + ICV, without padding. */
  readonly minBytes: number;
  /** minBytes + the largest padding (align - 1). */
  readonly maxBytes: number;
}

interface Cipher {
  readonly ivBytes: number;
  readonly blockBytes: number;
  /** AEAD ICV length; undefined for ciphers that need a separate integrity algorithm. */
  readonly aeadIcvBytes?: number;
}

// strongSwan proposal keywords (proposal_keywords_static.txt). Key sizes do not change the
// overhead, only the cipher family and the ICV length do.
const KEY_SIZE = '(?:128|192|256)?';
const CIPHERS: readonly (readonly [RegExp, (m: RegExpExecArray) => Cipher])[] = [
  [new RegExp(`^aes${KEY_SIZE}$`), () => ({ ivBytes: 16, blockBytes: 16 })], // CBC
  [new RegExp(`^aes${KEY_SIZE}ctr$`), () => ({ ivBytes: 8, blockBytes: 1 })],
  [new RegExp(`^aes${KEY_SIZE}(?:gcm|ccm)(8|12|16|64|96|128)?$`), (m) => ({ ivBytes: 8, blockBytes: 1, aeadIcvBytes: icvFromSuffix(m[1]) })],
  [new RegExp(`^aes${KEY_SIZE}gmac$`), () => ({ ivBytes: 8, blockBytes: 1, aeadIcvBytes: 16 })], // NULL_AUTH_AES_GMAC
  [new RegExp(`^camellia${KEY_SIZE}$`), () => ({ ivBytes: 16, blockBytes: 16 })],
  [new RegExp(`^camellia${KEY_SIZE}ctr$`), () => ({ ivBytes: 8, blockBytes: 1 })],
  [new RegExp(`^camellia${KEY_SIZE}ccm(8|12|16|64|96|128)?$`), (m) => ({ ivBytes: 8, blockBytes: 1, aeadIcvBytes: icvFromSuffix(m[1]) })],
  [/^chacha20poly1305$/, () => ({ ivBytes: 8, blockBytes: 1, aeadIcvBytes: 16 })],
  [/^(?:3des|cast128|blowfish(?:128|192|256)?)$/, () => ({ ivBytes: 8, blockBytes: 8 })],
  [/^null$/, () => ({ ivBytes: 0, blockBytes: 1 })],
];

/** ICV bytes of each integrity keyword (the truncation IPsec uses, RFC 4868 for SHA-2). */
const INTEGRITY_ICV: Readonly<Record<string, number>> = {
  md5: 12,
  md5_128: 16,
  sha: 12,
  sha1: 12,
  sha1_160: 20,
  sha256: 16,
  sha2_256: 16,
  sha256_96: 12,
  sha2_256_96: 12,
  sha384: 24,
  sha2_384: 24,
  sha512: 32,
  sha2_512: 32,
  aesxcbc: 12,
  aescmac: 12,
};

// Key-exchange groups, ESN flags and PRFs do not change the packet size.
const NO_OVERHEAD = /^(?:modp\d+(?:s\d+)?|ecp\d+(?:bp)?|curve25519|x25519|curve448|x448|ntru\d+|newhope\d*|mlkem\d+|ke\d+_[a-z0-9_]+|esn|noesn|prf[a-z0-9_]*|none)$/;

function icvFromSuffix(suffix: string | undefined): number {
  if (suffix === undefined) return 16;
  const n = Number(suffix);
  return n > 16 ? n / 8 : n; // gcm16 and gcm128 both mean a 16-byte ICV
}

/**
 * Every transform one ESP proposal string can negotiate (IKEv2 proposals may list several
 * algorithms of a kind). Accepts one proposal or a comma-separated list.
 */
export function espTransforms(espProposal: string): readonly EspTransform[] {
  const out: EspTransform[] = [];
  for (const raw of espProposal.split(',')) {
    const proposal = raw.trim().toLowerCase();
    if (proposal === '') continue;
    const aead: [string, Cipher][] = [];
    const classic: [string, Cipher][] = [];
    const integrity: [string, number][] = [];
    for (const token of proposal.split('-')) {
      if (NO_OVERHEAD.test(token)) continue;
      const icv = INTEGRITY_ICV[token];
      if (icv !== undefined) {
        integrity.push([token, icv]);
        continue;
      }
      const cipher = matchCipher(token);
      if (cipher === undefined) {
        throw new RenderError(`ESP proposal "${raw.trim()}": unknown algorithm "${token}"`, { code: 'bad-proposal' });
      }
      (cipher.aeadIcvBytes !== undefined ? aead : classic).push([token, cipher]);
    }
    if (aead.length > 0 && (classic.length > 0 || integrity.length > 0)) {
      throw new RenderError(`ESP proposal "${raw.trim()}" mixes AEAD and non-AEAD algorithms (strongSwan needs separate proposals)`, { code: 'bad-proposal' });
    }
    if (classic.length > 0 && integrity.length === 0) {
      throw new RenderError(`ESP proposal "${raw.trim()}" has a non-AEAD cipher but no integrity algorithm`, { code: 'bad-proposal' });
    }
    if (aead.length === 0 && classic.length === 0) {
      throw new RenderError(`ESP proposal "${raw.trim()}" has no encryption algorithm`, { code: 'bad-proposal' });
    }
    for (const [name, c] of aead) {
      out.push({ encryption: name, integrity: undefined, ivBytes: c.ivBytes, icvBytes: c.aeadIcvBytes!, alignBytes: Math.max(4, c.blockBytes) });
    }
    for (const [name, c] of classic) {
      for (const [integ, icv] of integrity) {
        out.push({ encryption: name, integrity: integ, ivBytes: c.ivBytes, icvBytes: icv, alignBytes: Math.max(4, c.blockBytes) });
      }
    }
  }
  if (out.length === 0) throw new RenderError(`ESP proposal "${espProposal}" is empty`, { code: 'bad-proposal' });
  return out;
}

function matchCipher(token: string): Cipher | undefined {
  for (const [re, make] of CIPHERS) {
    const m = re.exec(token);
    if (m !== null) return make(m);
  }
  return undefined;
}

function outerBytes(mode: IpsecMode, natT: boolean, family: AddressFamily): number {
  return (mode === 'tunnel' ? IP_HEADER_BYTES[family] : 0) + (natT ? UDP_ENCAP_BYTES : 0);
}

/** Overhead of one transform, without and with the largest padding. */
export function transformOverhead(t: EspTransform, mode: IpsecMode, natT: boolean, family: AddressFamily): EspOverhead {
  const minBytes = outerBytes(mode, natT, family) + ESP_HEADER_BYTES + t.ivBytes + ESP_TRAILER_BYTES + t.icvBytes;
  return { transform: t, mode, natT, family, minBytes, maxBytes: minBytes + t.alignBytes - 1 };
}

/**
 * Worst-case bytes ESP adds to one packet with this proposal (largest padding; the costliest
 * transform when the proposal lists several). Tunnel mode counts the outer IP header of
 * `family`; without a family it counts the larger IPv6 header, so the number is safe for both.
 *
 * Examples (transport, no NAT-T): aes256gcm16 → 8+8+2+3+16 = 37; aes256-sha256 → 8+16+2+15+16
 * = 57; aes256-sha512 → 73. Tunnel adds 20 (IPv4) / 40 (IPv6); NAT-T adds 8.
 */
export function espOverheadBytes(espProposal: string, mode: IpsecMode, natT: boolean, family: AddressFamily = 'ipv6'): number {
  let worst = 0;
  for (const t of espTransforms(espProposal)) worst = Math.max(worst, transformOverhead(t, mode, natT, family).maxBytes);
  return worst;
}

/**
 * Largest inner IP packet (the MTU to give the traffic ESP protects) that fits a link of
 * `linkMtu` bytes once ESP is added — exact, per the kernel's own computation, and the
 * smallest over the transforms the proposal allows.
 */
export function espInnerMtu(linkMtu: number, espProposal: string, mode: IpsecMode, natT: boolean, family: AddressFamily): number {
  let best = Number.POSITIVE_INFINITY;
  for (const t of espTransforms(espProposal)) best = Math.min(best, transformInnerMtu(linkMtu, t, mode, natT, family));
  return best;
}

export function transformInnerMtu(linkMtu: number, t: EspTransform, mode: IpsecMode, natT: boolean, family: AddressFamily): number {
  const headerLen = outerBytes(mode, natT, family) + ESP_HEADER_BYTES + t.ivBytes;
  const netAdj = mode === 'transport' ? IP_HEADER_BYTES[family] : 0;
  const room = linkMtu - headerLen - t.icvBytes - netAdj;
  return Math.floor(room / t.alignBytes) * t.alignBytes + netAdj - ESP_TRAILER_BYTES;
}

/** TCP MSS that keeps a segment (IP + TCP headers without options) inside `innerMtu`. */
export function tcpMss(innerMtu: number, family: AddressFamily): number {
  return innerMtu - IP_HEADER_BYTES[family] - TCP_HEADER_BYTES;
}
