// ESP overhead per proposal and mode, and the inner MTU that fits a link.
import { describe, expect, it } from 'vitest';
import type { AddressFamily, IpsecMode } from '../../components/inventory/model.js';
import {
  espInnerMtu,
  espOverheadBytes,
  espTransforms,
  IP_HEADER_BYTES,
  RenderError,
  tcpMss,
  type EspTransform,
} from '../../components/render/index.js';

// [proposal, mode, natT, family, worst-case overhead, inner MTU on a 1500-byte link]
const TABLE: readonly [string, IpsecMode, boolean, AddressFamily, number, number][] = [
  // AES-GCM-16: 8 SPI+seq + 8 IV + 2 trailer + 0..3 padding + 16 ICV
  ['aes256gcm16-ecp384', 'transport', false, 'ipv4', 37, 1466],
  ['aes256gcm16-ecp384', 'transport', false, 'ipv6', 37, 1466],
  ['aes128gcm128-modp2048', 'transport', false, 'ipv4', 37, 1466],
  ['aes128gcm8', 'transport', false, 'ipv4', 29, 1474],
  ['aes256gcm12-ecp256', 'transport', false, 'ipv4', 33, 1470],
  ['chacha20poly1305-curve25519', 'transport', false, 'ipv4', 37, 1466],
  ['aes256ccm16', 'transport', false, 'ipv4', 37, 1466],
  // Tunnel adds the outer IP header, NAT-T the UDP header.
  ['aes256gcm16-ecp384', 'tunnel', false, 'ipv4', 57, 1446],
  ['aes256gcm16-ecp384', 'tunnel', false, 'ipv6', 77, 1426],
  ['aes256gcm16-ecp384', 'tunnel', true, 'ipv4', 65, 1438],
  ['aes256gcm16-ecp384', 'transport', true, 'ipv4', 45, 1458],
  // CBC + HMAC: 16-byte IV, padding to the 16-byte block, ICV per integrity algorithm.
  ['aes256-sha256-modp2048', 'transport', false, 'ipv4', 57, 1458],
  ['aes256-sha256-modp2048', 'transport', false, 'ipv6', 57, 1446],
  ['aes256-sha384', 'transport', false, 'ipv4', 65, 1442],
  ['aes256-sha512-modp4096', 'transport', false, 'ipv4', 73, 1442],
  ['aes128-sha1', 'transport', false, 'ipv4', 53, 1458],
  ['aes256-sha512-modp4096', 'tunnel', true, 'ipv6', 121, 1390],
  ['3des-sha1', 'transport', false, 'ipv4', 37, 1466],
  ['aes256ctr-sha256', 'transport', false, 'ipv4', 37, 1466],
  // Several algorithms or proposals: the costliest one counts.
  ['aes128gcm8-aes256gcm16', 'transport', false, 'ipv4', 37, 1466],
  ['aes256gcm16-ecp384,aes256-sha512-ecp384', 'transport', false, 'ipv4', 73, 1442],
];

/**
 * Size on the wire of an inner packet of `inner` bytes, field by field: the IP header in front
 * (the original one in transport mode, a new outer one in tunnel mode), UDP for NAT-T, SPI and
 * sequence, IV, the encrypted part plus pad-length and next-header padded to the alignment, ICV.
 */
function wireSize(inner: number, t: EspTransform, mode: IpsecMode, natT: boolean, family: AddressFamily): number {
  const ip = IP_HEADER_BYTES[family];
  const encrypted = mode === 'transport' ? inner - ip : inner;
  const padded = Math.ceil((encrypted + 2) / t.alignBytes) * t.alignBytes;
  return ip + (natT ? 8 : 0) + 8 + t.ivBytes + padded + t.icvBytes;
}

describe('espOverheadBytes / espInnerMtu', () => {
  it.each(TABLE)('%s %s natT=%s %s: %i bytes, inner MTU %i', (proposal, mode, natT, family, overhead, inner) => {
    expect(espOverheadBytes(proposal, mode, natT, family)).toBe(overhead);
    expect(espInnerMtu(1500, proposal, mode, natT, family)).toBe(inner);
  });

  it('counts the larger IPv6 outer header in tunnel mode when no family is given', () => {
    expect(espOverheadBytes('aes256gcm16', 'tunnel', false)).toBe(77);
    expect(espOverheadBytes('aes256gcm16', 'transport', false)).toBe(37);
  });

  it('inner MTU is exact: the largest inner packet fits the link, one byte more does not', () => {
    for (const [proposal, mode, natT, family] of TABLE) {
      for (const link of [1280, 1400, 1500, 9000]) {
        const inner = espInnerMtu(link, proposal, mode, natT, family);
        const ts = espTransforms(proposal);
        // Fits with every transform the proposal allows, and overflows with at least one.
        for (const t of ts) expect(wireSize(inner, t, mode, natT, family)).toBeLessThanOrEqual(link);
        expect(ts.some((t) => wireSize(inner + 1, t, mode, natT, family) > link)).toBe(true);
        // No inner size is ever charged more than the worst-case overhead.
        const worst = espOverheadBytes(proposal, mode, natT, family);
        let seen = 0;
        for (let size = inner - 40; size <= inner; size++) {
          for (const t of ts) seen = Math.max(seen, wireSize(size, t, mode, natT, family) - size);
        }
        // The worst case is reached (some size needs the largest padding) and never exceeded.
        expect(seen).toBe(worst);
      }
    }
  });

  it('gives the TCP MSS for an inner MTU', () => {
    expect(tcpMss(1466, 'ipv4')).toBe(1426);
    expect(tcpMss(1466, 'ipv6')).toBe(1406);
  });

  it('rejects what it cannot measure', () => {
    for (const bad of ['aes256gcm16-sha256', 'aes256-ecp384', 'ecp384', 'rot13-sha256', '']) {
      expect(() => espOverheadBytes(bad, 'transport', false)).toThrow(RenderError);
    }
  });
});
