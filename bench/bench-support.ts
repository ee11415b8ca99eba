// What the engine benchmarks share (bench/engine-bench.ts, bench/lab-bench.ts): timing, the
// engine's checkpoint switch, a frozen copy of the stack program, and the checkpoint's size.
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_DIR, labBackendDir, type LabPulumiTarget } from '../lab/lab-pulumi.js';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `f`; resolves with its value and the seconds it took. */
export async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const v = await f();
  return [v, Number(process.hrtime.bigint() - t0) / 1e9];
}

/** Runs `f` with the engine writing only the final checkpoint (PULUMI_SKIP_CHECKPOINTS). */
export async function withoutCheckpoints<T>(on: boolean, f: () => Promise<T>): Promise<T> {
  if (!on) return f();
  const saved = { experimental: process.env.PULUMI_EXPERIMENTAL, skip: process.env.PULUMI_SKIP_CHECKPOINTS };
  process.env.PULUMI_EXPERIMENTAL = 'true';
  process.env.PULUMI_SKIP_CHECKPOINTS = 'true';
  try {
    return await f();
  } finally {
    for (const [key, value] of [['PULUMI_EXPERIMENTAL', saved.experimental], ['PULUMI_SKIP_CHECKPOINTS', saved.skip]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** The stack's checkpoint in the lab's file backend (`.pulumi/stacks/<project>/lab.json`): what state costs on disk. */
export function checkpointBytes(lab: LabPulumiTarget): number {
  const root = join(labBackendDir(lab), '.pulumi', 'stacks');
  const found = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => /(^|\/)lab\.json(\.gz)?$/.test(f));
  if (found.length !== 1) throw new Error(`expected one checkpoint of stack lab under ${root}, found: ${found.join(', ') || 'none'}`);
  return statSync(join(root, found[0]!)).size;
}

/**
 * A copy of this build's stack program (dist, Pulumi.yaml, package.json, node_modules linked):
 * a benchmark runs for many minutes, and a rebuild of the checkout meanwhile must not change
 * the program between its `up` and its no-change `up`. Remove it with removeProgramSnapshot.
 */
export function snapshotProgram(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipsec-mesh-bench-program-'));
  cpSync(join(PROJECT_DIR, 'dist'), join(dir, 'dist'), { recursive: true });
  for (const f of ['Pulumi.yaml', 'package.json']) cpSync(join(PROJECT_DIR, f), join(dir, f));
  symlinkSync(join(PROJECT_DIR, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

export function removeProgramSnapshot(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The machine's load averages (1, 5, 15 min), as `uptime` prints them: recorded beside every figure. */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
