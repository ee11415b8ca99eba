// Runs one read-only command on an inventory host with the OpenSSH client. The operations
// layer's only I/O: no Pulumi involved, so `ipsec-mesh status` works without a stack.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../inventory/model.js';

export interface SshRunOptions {
  /** Private key file for every host (and jump host). */
  readonly identityFile: string;
  readonly connectTimeoutSeconds?: number;
  /** Extra known_hosts file(s) for hosts whose key the inventory does not pin. */
  readonly knownHostsFiles?: readonly string[];
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

function knownHostsLine(host: Host): string | undefined {
  const key = host.ssh.hostKey;
  if (key === undefined) return undefined;
  const target = host.ssh.port === 22 ? host.ssh.host : `[${host.ssh.host}]:${host.ssh.port}`;
  return `${target} ${key}`;
}

/** `argv` runs through the login shell as one command line: pass only fixed, quoted words. */
export async function runOverSsh(host: Host, command: string, opts: SshRunOptions): Promise<SshResult> {
  const dir = await mkdtemp(join(tmpdir(), 'ipsec-mesh-ssh-'));
  try {
    const pinned = knownHostsLine(host);
    const knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, pinned === undefined ? '' : `${pinned}\n`, { mode: 0o600 });
    const files = [knownHosts, ...(opts.knownHostsFiles ?? [])];
    const args = [
      '-i', opts.identityFile,
      '-o', 'BatchMode=yes',
      '-o', 'IdentitiesOnly=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${files.join(' ')}`,
      '-o', `ConnectTimeout=${opts.connectTimeoutSeconds ?? 5}`,
      '-o', 'LogLevel=ERROR',
      '-p', String(host.ssh.port),
    ];
    const jump = host.ssh.jumpHost;
    if (jump !== undefined) args.push('-J', `${jump.user}@${jump.host}:${jump.port}`);
    const privileged = host.ssh.user === 'root' ? command : `sudo -n ${command}`;
    args.push(`${host.ssh.user}@${host.ssh.host}`, privileged);
    return await new Promise<SshResult>((resolve, reject) => {
      const [cmd, ...pre] = [...(opts.wrapper ?? []), 'ssh'];
      const child = spawn(cmd!, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (err) => reject(new SshRunError(host.name, `cannot run ssh: ${err.message}`)));
      child.on('close', (code) => resolve({ host: host.name, code: code ?? 255, stdout, stderr }));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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
