// Drift: what a host has now against what the last push installed (file hashes the push
// recorded, kernel settings of the mesh's sysctl.d files). Read-only, over SSH, by the
// script scripts/drift-check.sh. `ipsec-mesh status --drift` reports it; the stack program
// checks before every `up` and has the drifted hosts pushed again (docs/operations.md, *Drift*).
import { managedHosts } from '../inventory/managed-hosts.js';
import { readFileSync } from 'node:fs';
import type { Inventory } from '../inventory/model.js';
import { mapLimited, runOverSsh, type HostQueryOptions, type SshRunOptions } from './ssh-runner.js';

export const DRIFT_CHECK_SCRIPT = readFileSync(new URL('./scripts/drift-check.sh', import.meta.url), 'utf8');

export interface HostDrift {
  readonly host: string;
  /** Each difference, e.g. `file /etc/swanctl/conf.d/x.conf changed`, `sysctl net.x 1 => 0`. */
  readonly drifted: readonly string[];
  /** Files of a push that recorded no hashes (an older release): not compared. */
  readonly untracked: number;
  /** No push of the mesh was found on the host. */
  readonly noState: boolean;
  readonly filesCompared: number;
  readonly settingsCompared: number;
  /** The check could not run (unreachable, no root, …): nothing is known. */
  readonly error?: string;
}

/** Parses the script's output; a report without its SUMMARY line is an error, never "clean". */
export function parseDriftReport(host: string, stdout: string): HostDrift {
  const drifted: string[] = [];
  let untracked = 0;
  let noState = false;
  let summary: [number, number, number] | undefined;
  for (const line of stdout.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^DRIFT (file|sysctl) (.+)$/.exec(line))) drifted.push(`${m[1]} ${m[2]}`);
    else if ((m = /^UNTRACKED (\d+)$/.exec(line))) untracked = Number(m[1]);
    else if (line === 'NOSTATE') noState = true;
    else if ((m = /^SUMMARY (\d+) (\d+) (\d+)$/.exec(line))) summary = [Number(m[1]), Number(m[2]), Number(m[3])];
  }
  const base = { host, drifted, untracked, noState, filesCompared: summary?.[1] ?? 0, settingsCompared: summary?.[2] ?? 0 };
  if (noState) return base;
  if (summary === undefined) return { ...base, error: 'the drift check printed no SUMMARY line (cut short?)' };
  if (summary[0] !== drifted.length) return { ...base, error: `the drift check counted ${summary[0]} difference(s) but listed ${drifted.length}` };
  return base;
}

/** Every non-revoked host's drift, `parallel` SSH sessions at a time (default 16). */
export async function checkDrift(inventory: Inventory, opts: SshRunOptions & HostQueryOptions): Promise<HostDrift[]> {
  const hosts = managedHosts(inventory).filter((h) => h.revoked !== true && (opts.hosts === undefined || opts.hosts.includes(h.name)));
  return mapLimited(hosts, opts.parallel ?? 16, async (host) => {
    try {
      const r = await runOverSsh(host, `sh -s ${inventory.mesh.name}`, opts, DRIFT_CHECK_SCRIPT);
      if (r.code !== 0) return { ...parseDriftReport(host.name, ''), error: `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}` };
      return parseDriftReport(host.name, r.stdout);
    } catch (e) {
      return { ...parseDriftReport(host.name, ''), error: (e as Error).message };
    } finally {
      opts.onHostDone?.(host.name);
    }
  });
}

/** One line per host for people: clean, what drifted, or why it could not be checked. */
export function formatDrift(reports: readonly HostDrift[]): string {
  return reports
    .map((r) => {
      if (r.error !== undefined) return `  ${r.host}: NOT CHECKED: ${r.error}`;
      if (r.noState) return `  ${r.host}: no push of this mesh yet`;
      const extra = r.untracked > 0 ? ` (${r.untracked} file(s) from an older push not compared until the next push)` : '';
      if (r.drifted.length === 0) return `  ${r.host}: as pushed (${r.filesCompared} files, ${r.settingsCompared} kernel settings)${extra}`;
      return `  ${r.host}: DRIFTED${extra}\n${r.drifted.map((d) => `    ${d}`).join('\n')}`;
    })
    .join('\n');
}
