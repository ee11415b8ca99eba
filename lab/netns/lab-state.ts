import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedLabSpec } from './lab-spec.js';

// The lab's memory between processes (`cli up` and a later `cli down`, or a test and its
// cleanup): every namespace and every PID it created. Teardown trusts only this file and
// the lab's own namespace names, never process names.

/** `qemu`: a guest of the vm lab (lab/vm), recorded the same way. */
export type ProcessRole = 'holder' | 'charon' | 'sshd' | 'capture' | 'qemu';

/** A process the lab started. `startTime` (clock ticks since boot) guards against PID reuse. */
export interface ProcessRecord {
  readonly pid: number;
  readonly startTime: string;
  readonly role: ProcessRole;
  readonly host?: string;
}

export interface HostStateRecord {
  /** sshd's public host key, `ssh-ed25519 AAAA…` (for pinning). */
  readonly sshHostKey: string;
}

export interface LabStateFile {
  readonly version: 1;
  readonly name: string;
  readonly stateRoot: string;
  readonly createdAt: string;
  readonly phase: 'starting' | 'up';
  readonly spec: ResolvedLabSpec;
  readonly netns: readonly string[];
  readonly processes: readonly ProcessRecord[];
  readonly hosts: Readonly<Record<string, HostStateRecord>>;
  /** The prefix of the strongSwan 6.0.6 build its `strongswan: '6'` hosts run (scripts/build-strongswan6.sh). */
  readonly strongswan6Prefix?: string;
}

export const STATE_FILE = 'lab.json';
export const statePath = (stateRoot: string): string => join(stateRoot, STATE_FILE);

export function readState(stateRoot: string): LabStateFile | undefined {
  let text: string;
  try {
    text = readFileSync(statePath(stateRoot), 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as LabStateFile;
}

/** Atomic: a crash mid-write leaves the previous state, never half a file. */
export function writeState(state: LabStateFile): void {
  mkdirSync(state.stateRoot, { recursive: true, mode: 0o700 });
  const tmp = `${statePath(state.stateRoot)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, statePath(state.stateRoot));
}

/** Field 22 of /proc/<pid>/stat, or undefined when the process is gone or a zombie. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: parse from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

/** True while the recorded process (same PID and same start time) is still running. */
export function isRunning(rec: Pick<ProcessRecord, 'pid' | 'startTime'>): boolean {
  return processStartTime(rec.pid) === rec.startTime;
}
