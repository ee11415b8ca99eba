// The cipher benchmark's reading of `openssl speed` (bench/openssl-speed.ts): what it parses
// from the real tool's layout, and how a transform's per-byte cost adds up.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MEASURED_TRANSFORMS, OpensslSpeedParseError, median, nsPerByte, parseOpensslSpeed, speedArgs } from '../../bench/openssl-speed.js';
import { espTransforms } from '../../components/render/esp-overhead.js';

const OUTPUT = `Doing AES-256-GCM ops for 1s on 1400 size blocks: 1464113 AES-256-GCM ops in 1.00s
version: 3.0.19
built on: Tue Jan 27 00:00:00 2026 UTC
options: bn(64,64)
CPUINFO: OPENSSL_ia32cap=0x7ffaf3ffffebffff:0x18c05fdef3bfa7eb
The 'numbers' are in 1000s of bytes per second processed.
type           1400 bytes
AES-256-GCM    2049758.88k
`;

describe('openssl speed output', () => {
  it('reads the figure for the block size asked for (1000s of bytes per second)', () => {
    expect(parseOpensslSpeed(OUTPUT, 1400)).toBeCloseTo(2_049_758_880, 0);
    expect(() => parseOpensslSpeed(OUTPUT, 1024)).toThrow(OpensslSpeedParseError);
    expect(() => parseOpensslSpeed(OUTPUT.replace('2049758.88k', ''), 1400)).toThrow(OpensslSpeedParseError);
  });

  it('reads what this machine\'s openssl prints (one short run)', () => {
    const r = spawnSync('openssl', speedArgs({ kind: 'aead', name: 'aes-128-gcm' }, 1400, 1), { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(parseOpensslSpeed(r.stdout, 1400)).toBeGreaterThan(1e6);
  });

  it('a transform costs the sum of its parts per byte (encrypt-then-MAC)', () => {
    expect(nsPerByte([1e9])).toBe(1);
    expect(nsPerByte([1e9, 5e8])).toBe(3);
    expect(() => nsPerByte([0])).toThrow(OpensslSpeedParseError);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it('measures only transforms the render accepts, AEADs as one part, the others as cipher + HMAC', () => {
    for (const t of MEASURED_TRANSFORMS) {
      const [parsed] = espTransforms(t.proposal);
      expect(parsed, t.proposal).toBeDefined();
      expect(t.parts.map((p) => p.kind)).toEqual(parsed!.integrity === undefined ? ['aead'] : ['cipher', 'hmac']);
    }
    expect(speedArgs({ kind: 'hmac', name: 'sha512' }, 1400, 2)).toEqual(['speed', '-seconds', '2', '-bytes', '1400', '-hmac', 'sha512']);
    expect(speedArgs({ kind: 'aead', name: 'aes-256-gcm' }, 1400, 2)).toEqual(['speed', '-seconds', '2', '-bytes', '1400', '-aead', '-evp', 'aes-256-gcm']);
  });
});
