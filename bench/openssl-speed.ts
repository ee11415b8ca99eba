// Reading `openssl speed -bytes N` output, and what an ESP transform costs per byte from it.
// Pure: bench/cipher-cost.ts runs openssl; tests/unit/bench-openssl-speed.test.ts reads fixtures.

export class OpensslSpeedParseError extends Error {
  override readonly name = 'OpensslSpeedParseError';
}

/**
 * Bytes per second for the one block size asked for (`-bytes N`): the last line is
 * `<type>  <value>k`, in 1000s of bytes per second.
 */
export function parseOpensslSpeed(output: string, blockBytes: number): number {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const header = lines.findIndex((l) => new RegExp(`^type\\s+${blockBytes} bytes$`).test(l));
  if (header < 0) throw new OpensslSpeedParseError(`no "type  ${blockBytes} bytes" header in openssl speed output:\n${output}`);
  const row = lines[header + 1];
  const m = row === undefined ? null : /\s([0-9]+(?:\.[0-9]+)?)k$/.exec(row);
  if (m === null) throw new OpensslSpeedParseError(`no figure after the header: ${row ?? '(nothing)'}`);
  return Number(m[1]) * 1000;
}

/** One part of a transform: an AEAD or a cipher (`-evp`) or an HMAC (`-hmac`). */
export interface SpeedPart {
  readonly kind: 'aead' | 'cipher' | 'hmac';
  /** openssl's name: `aes-256-gcm`, `aes-256-cbc`, `sha512`. */
  readonly name: string;
}

/** An ESP transform as strongSwan names it, and what openssl measures of it. */
export interface EspTransformSpeed {
  readonly proposal: string;
  readonly parts: readonly SpeedPart[];
}

/** Every ESP transform family the render accepts that a user would pick, and WireGuard's cipher. */
export const MEASURED_TRANSFORMS: readonly EspTransformSpeed[] = [
  { proposal: 'aes256gcm16', parts: [{ kind: 'aead', name: 'aes-256-gcm' }] },
  { proposal: 'aes128gcm16', parts: [{ kind: 'aead', name: 'aes-128-gcm' }] },
  { proposal: 'chacha20poly1305', parts: [{ kind: 'aead', name: 'chacha20-poly1305' }] },
  { proposal: 'aes256ctr-sha256', parts: [{ kind: 'cipher', name: 'aes-256-ctr' }, { kind: 'hmac', name: 'sha256' }] },
  { proposal: 'aes256-sha256', parts: [{ kind: 'cipher', name: 'aes-256-cbc' }, { kind: 'hmac', name: 'sha256' }] },
  { proposal: 'aes256-sha512', parts: [{ kind: 'cipher', name: 'aes-256-cbc' }, { kind: 'hmac', name: 'sha512' }] },
  { proposal: 'aes128-sha1', parts: [{ kind: 'cipher', name: 'aes-128-cbc' }, { kind: 'hmac', name: 'sha1' }] },
];

/** The openssl speed arguments that measure one part at `blockBytes`. */
export function speedArgs(part: SpeedPart, blockBytes: number, seconds: number): string[] {
  const common = ['speed', '-seconds', String(seconds), '-bytes', String(blockBytes)];
  if (part.kind === 'hmac') return [...common, '-hmac', part.name];
  return [...common, ...(part.kind === 'aead' ? ['-aead'] : []), '-evp', part.name];
}

/**
 * Nanoseconds per byte of a transform: encryption and integrity run one after the other over
 * the same bytes (encrypt-then-MAC), so their per-byte costs add.
 */
export function nsPerByte(bytesPerSecondOfParts: readonly number[]): number {
  if (bytesPerSecondOfParts.length === 0 || bytesPerSecondOfParts.some((b) => !(b > 0))) throw new OpensslSpeedParseError('a part without a positive speed');
  return bytesPerSecondOfParts.reduce((sum, b) => sum + 1e9 / b, 0);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
