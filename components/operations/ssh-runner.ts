// Runs one read-only command on an inventory host with the OpenSSH client. The operations
// layer's only I/O: no Pulumi involved, so `ipsec-mesh status` works without a stack.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { managedHosts } from '../inventory/managed-hosts.js';
import type { Host, Inventory } from '../inventory/model.js';

export interface SshRunOptions {
  /** Private key file for every host (and jump host). */
  readonly identityFile: string;
  readonly connectTimeoutSeconds?: number;
  /** Runs ssh through this argv, e.g. `['ip', 'vrf', 'exec', 'mgmt']` or a network namespace. */
  readonly wrapper?: readonly string[];
}

export interface SshResult {
  readonly host: string;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class SshRunError extends Error {
  override readonly name = 'SshRunError';
  constructor(
    readonly host: string,
    message: string,
  ) {
    super(`${host}: ${message}`);
  }
}

function knownHostsLine(address: string, port: number, key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  return `${port === 22 ? address : `[${address}]:${port}`} ${key}`;
}

/** Single-quoted for the shell ProxyCommand runs under. */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The host key options of one hop, by the rule `pulumi up` follows (inventory/host-trust.ts):
 * the pinned key, or any key only when the inventory opted out explicitly.
 */
function trustOptions(pinned: string | undefined, knownHosts: string, optOut: boolean): string[] {
  if (pinned === undefined && optOut) return ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
  return ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`];
}

/**
 * `argv` runs through the login shell as one command line: pass only fixed, quoted words.
 * `stdin`: what the command reads (e.g. a script for `sh -s`); none by default.
 */
export async function runOverSsh(host: Host, command: string, opts: SshRunOptions, stdin?: string): Promise<SshResult> {
  const dir = await mkdtemp(join(tmpdir(), 'ipsec-mesh-ssh-'));
  try {
    const jump = host.ssh.jumpHost;
    const optOut = host.ssh.insecureAcceptAnyHostKey;
    const knownHosts = join(dir, 'known_hosts');
    const lines = [knownHostsLine(host.ssh.host, host.ssh.port, host.ssh.hostKey), jump && knownHostsLine(jump.host, jump.port, jump.hostKey)];
    await writeFile(knownHosts, lines.filter((l) => l).map((l) => `${l}\n`).join(''), { mode: 0o600 });
    const common = ['-i', opts.identityFile, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', `ConnectTimeout=${opts.connectTimeoutSeconds ?? 5}`, '-o', 'LogLevel=ERROR'];
    const args = [...common, ...trustOptions(host.ssh.hostKey, knownHosts, optOut), '-p', String(host.ssh.port)];
    if (jump !== undefined) {
      // Not -J: options on the command line do not reach the jump hop, its key must be pinned too.
      const hop = ['ssh', ...common, ...trustOptions(jump.hostKey, knownHosts, optOut), '-p', String(jump.port), '-W', '%h:%p', `${jump.user}@${jump.host}`];
      args.push('-o', `ProxyCommand=${hop.map((w) => (w === '%h:%p' ? w : sq(w))).join(' ')}`);
    }
    const privileged = host.ssh.user === 'root' ? command : `sudo -n ${command}`;
    args.push(`${host.ssh.user}@${host.ssh.host}`, privileged);
    return await new Promise<SshResult>((resolve, reject) => {
      const [cmd, ...pre] = [...(opts.wrapper ?? []), 'ssh'];
      const child = spawn(cmd!, [...pre, ...args], { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      if (stdin !== undefined) child.stdin?.end(stdin);
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err) => reject(new SshRunError(host.name, `cannot run ssh: ${err.message}`)));
      child.on('close', (code) => resolve({ host: host.name, code: code ?? 255, stdout, stderr }));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** ssh's own exit code: it could not connect or authenticate (the remote command never ran). */
export const SSH_FAILED = 255;

/** Which managed hosts a read goes to, how many at once, and who hears of each one done. */
export interface HostQueryOptions {
  readonly parallel?: number;
  /** Only these hosts (by name); default every managed host. */
  readonly hosts?: readonly string[];
  /** Called as each host's answer (or failure) is in: progress lines. */
  readonly onHostDone?: (host: string) => void;
}

/** `fn` on every managed host the options select, 16 at a time by default, in inventory order. */
export async function forEachManagedHost<R>(inventory: Inventory, opts: HostQueryOptions, fn: (host: Host) => Promise<R>): Promise<R[]> {
  const only = opts.hosts === undefined ? undefined : new Set(opts.hosts);
  const hosts = managedHosts(inventory).filter((h) => only === undefined || only.has(h.name));
  return mapLimited(hosts, opts.parallel ?? 16, async (host) => {
    try {
      return await fn(host);
    } finally {
      opts.onHostDone?.(host.name);
    }
  });
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
