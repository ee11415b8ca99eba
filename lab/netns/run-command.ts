import { spawn } from 'node:child_process';
import { LabCommandError } from './lab-errors.js';

/** What a finished command left behind. `code` is null when a signal ended it. */
export interface ExecResult {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin, which is then closed. */
  readonly stdin?: string | Buffer;
  /** Throw LabCommandError on a non-zero exit instead of returning the result. */
  readonly check?: boolean;
  /** Extra environment on top of the lab's minimal one. */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill the command (by its PID) after this long; default 60 s. */
  readonly timeoutMs?: number;
  /** Says what the command was for, in errors. */
  readonly context?: string;
}

/** A small, predictable environment: the daemons and tools must not see the caller's. */
export const LAB_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export function labEnv(extra?: Readonly<Record<string, string>>): Record<string, string> {
  return { PATH: LAB_PATH, LANG: 'C.UTF-8', HOME: '/root', ...extra };
}

/** Runs argv (no shell) to completion and collects its output. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) {
    return Promise.reject(new LabCommandError('empty command line', { argv: [], code: null, signal: null, stdout: '', stderr: '' }));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: labEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new LabCommandError(`cannot run ${file}: ${e.message}${opts.context ? ` (${opts.context})` : ''}`, {
        argv, code: null, signal: null, stdout: '', stderr: e.message,
      }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: ExecResult = {
        argv, code, signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (opts.check && code !== 0) {
        reject(LabCommandError.fromResult(result, opts.context));
      } else {
        resolve(result);
      }
    });
    // A command that does not read stdin may close it early: that is not our error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin ?? '');
  });
}

/** run() that throws on failure and returns stdout. */
export async function runOk(argv: readonly string[], opts: Omit<RunOptions, 'check'> = {}): Promise<string> {
  return (await run(argv, { ...opts, check: true })).stdout;
}
