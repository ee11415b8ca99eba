// `ipsec-mesh hostkeys scan`: the SSH host keys the inventory's hosts present now, collected
// with ssh-keyscan and printed as inventory snippets, so that pinning them (mandatory: see
// inventory/host-trust.ts) is a paste after a check, not a chore.
import { managedHosts } from '../inventory/managed-hosts.js';
import { spawn } from 'node:child_process';
import type { Inventory } from '../inventory/model.js';
import { parseSshHostKey } from '../inventory/ssh-host-key.js';
import { mapLimited } from './ssh-runner.js';

export interface HostKeyScanOptions {
  /** Key type to ask for (ssh-keyscan -t); default ed25519. */
  readonly type?: string;
  readonly timeoutSeconds?: number;
  /** At most this many scans at once. */
  readonly parallel?: number;
  /** Told how many scans (hosts and jump hosts) there will be, before the first. */
  readonly onJobs?: (count: number) => void;
  /** Called as each scan ends: progress lines. */
  readonly onHostDone?: (name: string) => void;
}

export interface ScannedKey {
  /** The inventory host, or `<host> (jump host)`. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** `type base64`, or undefined when the host did not answer with one. */
  readonly key?: string;
  /** Why there is no key. */
  readonly error?: string;
  /** Set for a jump host: the inventory host it serves. */
  readonly jumpFor?: string;
}

function keyscan(address: string, port: number, type: string, timeoutSeconds: number): Promise<{ key?: string; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn('ssh-keyscan', ['-T', String(timeoutSeconds), '-p', String(port), '-t', type, address], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => resolve({ error: `cannot run ssh-keyscan: ${e.message}` }));
    child.on('close', () => {
      for (const line of out.split('\n')) {
        if (line.startsWith('#') || line.trim() === '') continue;
        const parsed = parseSshHostKey(line.split(/\s+/).slice(1).join(' '));
        if (parsed.ok) return resolve({ key: parsed.value });
      }
      const why = err.split('\n').filter((l) => l && !l.startsWith('#')).pop();
      resolve({ error: why ? why.trim() : `no ${type} key answered within ${timeoutSeconds} s` });
    });
  });
}

/**
 * Scans every host reached directly and every jump host. A host behind a jump host is not
 * reachable from here: it is reported with what to run on its jump host instead.
 */
export async function scanHostKeys(inventory: Inventory, opts: HostKeyScanOptions = {}): Promise<ScannedKey[]> {
  const type = opts.type ?? 'ed25519';
  const timeout = opts.timeoutSeconds ?? 5;
  const jobs: { name: string; address: string; port: number; jumpFor?: string; behind?: string }[] = [];
  const jumps = new Set<string>();
  for (const h of managedHosts(inventory)) {
    const jump = h.ssh.jumpHost;
    if (jump === undefined) {
      jobs.push({ name: h.name, address: h.ssh.host, port: h.ssh.port });
      continue;
    }
    jobs.push({ name: h.name, address: h.ssh.host, port: h.ssh.port, behind: `${jump.host}:${jump.port}` });
    if (!jumps.has(`${jump.host}:${jump.port}`)) {
      jumps.add(`${jump.host}:${jump.port}`);
      jobs.push({ name: `${h.name} (jump host)`, address: jump.host, port: jump.port, jumpFor: h.name });
    }
  }
  opts.onJobs?.(jobs.length);
  return mapLimited(jobs, opts.parallel ?? 16, async (j): Promise<ScannedKey> => {
    const base = { name: j.name, address: j.address, port: j.port, ...(j.jumpFor !== undefined && { jumpFor: j.jumpFor }) };
    try {
      if (j.behind !== undefined) {
        return { ...base, error: `behind jump host ${j.behind}: run \`ssh-keyscan -p ${j.port} -t ${type} ${j.address}\` there (or read /etc/ssh/ssh_host_${type}_key.pub on the host)` };
      }
      return { ...base, ...(await keyscan(j.address, j.port, type, timeout)) };
    } finally {
      opts.onHostDone?.(j.name);
    }
  });
}

/** Inventory snippets to paste (hosts by name; jump host keys go in the jumpHost of the host named). */
export function formatHostKeySnippets(source: string, keys: readonly ScannedKey[], when: Date): string {
  const out = [
    `# ipsec-mesh hostkeys scan ${source} at ${when.toISOString()}`,
    '# Keys as the hosts presented them just now, over the network. Before pinning them, compare',
    "# each with the host's own /etc/ssh/ssh_host_*_key.pub (console, provisioning records).",
    'hosts:',
  ];
  for (const k of keys) {
    if (k.key === undefined) {
      out.push(`  # ${k.name} (${k.address}:${k.port}): no key: ${k.error ?? 'unknown error'}`);
    } else if (k.jumpFor !== undefined) {
      out.push(`  - name: ${k.jumpFor}   # its jump host ${k.address}:${k.port}`, `    ssh: { jumpHost: { hostKey: "${k.key}" } }`);
    } else {
      out.push(`  - name: ${k.name}`, `    ssh: { hostKey: "${k.key}" }`);
    }
  }
  return `${out.join('\n')}\n`;
}
