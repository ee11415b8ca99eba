import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessRecord } from '../netns/lab-state.js';
import type { ResolvedLabSpec } from '../netns/lab-spec.js';
import type { GuestImage } from './guest-image.js';
import type { GuestInit } from './qemu-argv.js';

// The vm lab's memory between processes (`npm run lab -- up --backend vm`, a later `down`):
// its namespaces and every PID it started (qemu, captures). Teardown trusts only this file
// and the lab's own namespace names. Its own file name, so a netns lab's tools never take
// a vm lab's state for theirs (and the other way round).

export const VM_STATE_FILE = 'vm-lab.json';

export interface VmGuestRecord {
  /** sshd's public host key, `ssh-ed25519 AAAA…` (made on this machine, pinned). */
  readonly sshHostKey: string;
  readonly mac: string;
  /** Tap device in the switch namespace (also the guest's switch port, as `h<index>` in netns). */
  readonly tap: string;
}

export interface VmLabStateFile {
  readonly version: 1;
  readonly backend: 'vm';
  readonly name: string;
  readonly stateRoot: string;
  readonly createdAt: string;
  readonly phase: 'starting' | 'up';
  readonly spec: ResolvedLabSpec;
  readonly image: GuestImage;
  /** The guests' PID 1; a reboot boots with the same (absent in older states: busybox). */
  readonly init?: GuestInit;
  readonly netns: readonly string[];
  readonly processes: readonly ProcessRecord[];
  readonly guests: Readonly<Record<string, VmGuestRecord>>;
}

export const vmStatePath = (stateRoot: string): string => join(stateRoot, VM_STATE_FILE);
export const isVmLabState = (stateRoot: string): boolean => existsSync(vmStatePath(stateRoot));

export function readVmState(stateRoot: string): VmLabStateFile | undefined {
  let text: string;
  try {
    text = readFileSync(vmStatePath(stateRoot), 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as VmLabStateFile;
}

/** Atomic: a crash mid-write leaves the previous state, never half a file. */
export function writeVmState(state: VmLabStateFile): void {
  mkdirSync(state.stateRoot, { recursive: true, mode: 0o700 });
  const tmp = `${vmStatePath(state.stateRoot)}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, vmStatePath(state.stateRoot));
}
