// What each ESP transform costs per byte on this machine's CPU, against WireGuard's cipher
// (ChaCha20-Poly1305) and the seeds' historical aes256-sha512: `openssl speed` over
// 1400-byte blocks (a full-size packet's payload), the median of three runs per part.
// Run: npm run bench:ciphers. Results belong in docs/benchmarks.md (never asserted in tests).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DEFAULT_ESP_PROPOSALS } from '../components/inventory/defaults.js';
import { MEASURED_TRANSFORMS, median, nsPerByte, parseOpensslSpeed, speedArgs, type SpeedPart } from './openssl-speed.js';

const BLOCK = 1400;
const SECONDS = Number(process.env.CIPHER_BENCH_SECONDS ?? 2);
const RUNS = 3;

function openssl(args: readonly string[]): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const cache = new Map<string, number>();
function speed(part: SpeedPart): number {
  const key = `${part.kind}:${part.name}`;
  let v = cache.get(key);
  if (v === undefined) {
    v = median(Array.from({ length: RUNS }, () => parseOpensslSpeed(openssl(speedArgs(part, BLOCK, SECONDS)), BLOCK)));
    cache.set(key, v);
  }
  return v;
}

/** The kernel's crypto API from user space (AF_ALG), if this kernel exposes it. */
function kernelCrypto(): string {
  const r = spawnSync('python3', ['-c', 'import socket; socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)'], { encoding: 'utf8' });
  if (r.error) return 'not checked (no python3)';
  return r.status === 0 ? 'AF_ALG available' : `not exposed (AF_ALG: ${r.stderr.trim().split('\n').pop() ?? 'refused'})`;
}

const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
const flags = (/^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').split(' ');
const accel = ['aes', 'vaes', 'pclmulqdq', 'vpclmulqdq', 'avx2', 'avx512f', 'sha_ni'].filter((f) => flags.includes(f));
const version = openssl(['version']).trim();

const rows = MEASURED_TRANSFORMS.map((t) => ({ t, ns: nsPerByte(t.parts.map(speed)) }));
const wg = rows.find((r) => r.t.proposal === 'chacha20poly1305')!.ns;
const legacy = rows.find((r) => r.t.proposal === 'aes256-sha512')!.ns;
const defaultEsp = DEFAULT_ESP_PROPOSALS[0]!.split('-')[0]!;

console.log(`# ESP transforms per byte — ${new Date().toISOString()}`);
console.log(`CPU: ${cpu}; ${accel.join(' ')}; ${version}; kernel crypto: ${kernelCrypto()}`);
console.log(`openssl speed -bytes ${BLOCK} -seconds ${SECONDS}, median of ${RUNS} runs per part; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log('');
console.log('| ESP transform | openssl parts | ns/byte | Gbit/s (one core) | vs ChaCha20-Poly1305 (WireGuard) | vs aes256-sha512 |');
console.log('|---|---|---:|---:|---:|---:|');
for (const { t, ns } of rows) {
  const mark = t.proposal === defaultEsp ? ' **(default)**' : '';
  console.log(`| ${t.proposal}${mark} | ${t.parts.map((p) => `${p.kind === 'hmac' ? 'hmac ' : ''}${p.name}`).join(' + ')} | ${ns.toFixed(3)} | ${(8 / ns).toFixed(2)} | ${(wg / ns).toFixed(2)}× | ${(legacy / ns).toFixed(2)}× |`);
}
const def = rows.find((r) => r.t.proposal === defaultEsp);
if (def !== undefined) {
  console.log('');
  console.log(`default ${defaultEsp}: ${(wg / def.ns).toFixed(2)}× WireGuard's cipher (target ≥ 1), ${(legacy / def.ns).toFixed(2)}× aes256-sha512 (target ≥ 5)`);
}
