import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { LabError } from './lab-errors.js';
import { type ProcessRecord, type ProcessRole, isRunning, processStartTime } from './lab-state.js';
import { labEnv } from './run-command.js';

// Long-lived lab processes (namespace holders, charon, sshd) are started detached — their
// own session, stdio to a log file — so they outlive the process that started the lab
// (`cli up`), and are stopped later by the PID recorded in the state file.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, intervalMs = 10): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) return undefined;
    await sleep(intervalMs);
  }
}

/** Starts argv detached with stdout/stderr appended to `logFile`; returns its record. */
export function spawnDetached(argv: readonly string[], logFile: string, role: ProcessRole, host?: string): ProcessRecord {
  const [file, ...args] = argv;
  if (file === undefined) throw new LabError('empty command line');
  const fd = openSync(logFile, 'a', 0o644);
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd], env: labEnv() });
    child.on('error', () => undefined); // surfaces as "not running" to the caller's readiness check
    const pid = child.pid;
    if (pid === undefined) throw new LabError(`cannot start ${file}`);
    child.unref();
    const startTime = processStartTime(pid);
    if (startTime === undefined) throw new LabError(`${file} (pid ${pid}) exited at once; see ${logFile}`);
    return { pid, startTime, role, ...(host !== undefined && { host }) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Starts a namespace holder: runs `script` (sh) with `args`, waits until it prints
 * `ready` on stdout (it must then `exec` into its long sleep), and returns its record.
 */
export function spawnHolder(argv: readonly string[], role: ProcessRole, host: string, timeoutMs = 10_000): Promise<ProcessRecord> {
  const [file, ...args] = argv;
  if (file === undefined) throw new LabError('empty command line');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: labEnv() });
    let out = '';
    let err = '';
    let settled = false;
    const finish = (e?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      child.unref();
      if (e) return reject(e);
      const pid = child.pid!;
      const startTime = processStartTime(pid);
      if (startTime === undefined) return reject(new LabError(`namespace holder of ${host} exited: ${err.trim()}`));
      resolve({ pid, startTime, role, host });
    };
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      finish(new LabError(`namespace holder of ${host} did not get ready in ${timeoutMs} ms: ${err.trim()}`));
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready\n')) finish();
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => finish(new LabError(`cannot start the namespace holder of ${host}: ${e.message}`)));
    child.on('exit', (code, signal) =>
      finish(new LabError(`namespace holder of ${host} exited (${code ?? signal}) before it was ready: ${err.trim()}`)),
    );
  });
}

/**
 * Stops one recorded process: SIGTERM, then SIGKILL after `graceMs`. Never signals a PID
 * whose start time differs from the record (the PID was reused by someone else).
 * Returns false when the process did not go away.
 */
export async function stopProcess(rec: ProcessRecord, graceMs = 5_000): Promise<boolean> {
  if (!isRunning(rec)) return true;
  try {
    process.kill(rec.pid, 'SIGTERM');
  } catch {
    return !isRunning(rec);
  }
  if (await waitFor(() => (isRunning(rec) ? undefined : true), graceMs)) return true;
  if (isRunning(rec)) {
    try {
      process.kill(rec.pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
  return (await waitFor(() => (isRunning(rec) ? undefined : true), 2_000)) === true;
}
