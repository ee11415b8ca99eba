import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import {
  CHARON_LOG,
  CHARON_STDIO_LOG,
  CHARON_VICI,
  PRIVATE_MOUNTS,
  SSHD_CONFIG,
  SSHD_LOG,
  SSHD_PID,
  SSH_HOST_KEY,
  hostFilePath,
  hostStateDir,
  prepareHostFiles,
  writeHostFile,
} from './host-filesystem.js';
import { LabAlreadyUpError, LabDaemonError, LabError, LabNotFoundError } from './lab-errors.js';
import { LabBase, knownHostsPath, labKeyPath } from './lab-base.js';
import { DEFAULT_STATE_BASE, hostNetns, hostPort, isLabNetns, siteBridge, switchNetns } from './lab-names.js';
import { NETNS_DIR, buildNetwork, deleteNetns, listNetns } from './lab-network.js';
import { spawnDetached, spawnHolder, stopProcess, waitFor } from './lab-process.js';
import { type LabSpec, type LabStrongswan, resolveLabSpec } from './lab-spec.js';
import { type LabStateFile, type ProcessRecord, isRunning, processStartTime, readState, writeState } from './lab-state.js';
import { assertPrerequisites } from './prerequisites.js';
import { strongswan6Mounts, strongswan6Paths, strongswan6Prefix } from './strongswan6.js';
import { type ConnectionStatus, type IkeSaStatus, type PolicyStatus, parseListConns, parseListPols, parseListSas } from '../../components/operations/swanctl-status.js';
import { type ExecResult, type RunOptions, labEnv, run, runOk } from './run-command.js';

export const CHARON_BIN = '/usr/lib/ipsec/charon';
/** Where swanctl is on PATH on a lab host (a `strongswan: '6'` host has 6.0.6's bound there). */
export const SWANCTL_BIN = '/usr/sbin/swanctl';
export const SSHD_BIN = '/usr/sbin/sshd';
const DAEMON_START_TIMEOUT_MS = 15_000;

/** One lab host as callers see it. */
export interface LabHost {
  readonly name: string;
  readonly site: string;
  readonly netns: string;
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  /**
   * The public address of each `ipv4` address, index by index, when the host's site sits
   * behind the router's 1:1 NAT (LabSiteSpec.nat); empty otherwise.
   */
  readonly publicIpv4: readonly string[];
  /** Backs the host's private directories (see PRIVATE_MOUNTS). */
  readonly stateDir: string;
  /** sshd's public host key, `ssh-ed25519 AAAA…`, for pinning. */
  readonly sshHostKey: string;
  /** '5': Debian's strongSwan 5.9.8; '6': upstream 6.0.6 (LabHostSpec.strongswan). */
  readonly strongswan: LabStrongswan;
}

export type { LabOperator } from './lab-base.js';

export interface LabLocation {
  /** Where the lab keeps its state; default `/run/ipsec-mesh-lab/<lab name>`. */
  readonly stateRoot?: string;
}

export interface StartLabOptions extends LabLocation {
  /** Start charon on every host (default true). */
  readonly charon?: boolean;
  /** Start sshd on every host (default true). */
  readonly sshd?: boolean;
  /** sshd AcceptEnv patterns (default LANG LC_* IPSEC_MESH_*). */
  readonly acceptEnv?: readonly string[];
  /**
   * strongSwan drop-ins every 5.9 host starts from (default the machine's /etc/strongswan.d).
   * A `strongswan: '6'` host always starts from the 6.0.6 build's own (its plugin list).
   */
  readonly strongswanD?: string;
  /** Called with one line per step. */
  readonly onProgress?: (message: string) => void;
}

export interface ExecOptions extends Omit<RunOptions, 'context'> {}

export interface SshOptions extends ExecOptions {
  /** Which of the host's addresses to connect to (default: its first IPv4, else IPv6). */
  readonly family?: 'ipv4' | 'ipv6';
}

export interface CaptureOptions {
  /** Capture on this site's bridge (sees every frame of the site, bridge is promiscuous). */
  readonly site?: string;
  /** Or on this host's switch port (everything the host sends and receives). */
  readonly host?: string;
  /** tcpdump filter words, e.g. ['udp', 'port', '4500', 'or', 'icmp']. */
  readonly filter?: readonly string[];
}

/** A running tcpdump; `stop()` ends it and returns its decoded lines (`tcpdump -n -l`). */
export interface Capture {
  readonly pid: number;
  stop(): Promise<string[]>;
}

export interface LabDownReport {
  readonly lab: string;
  /** Recorded processes that were running and were stopped. */
  readonly stopped: readonly ProcessRecord[];
  /** Processes still inside the lab's namespaces after that (e.g. ssh sessions), stopped by PID. */
  readonly strays: readonly number[];
  readonly netnsDeleted: readonly string[];
  readonly stateRemoved: boolean;
}

export const labStateRoot = (name: string, stateRoot?: string): string => stateRoot ?? join(DEFAULT_STATE_BASE, name);

/** What of a lab named `name` exists on this machine right now (state, namespaces). */
export function labLeftovers(name: string, opts: LabLocation = {}): string[] {
  const root = labStateRoot(name, opts.stateRoot);
  const found: string[] = [];
  if (existsSync(root)) found.push(`state ${root}`);
  const ns = listNetns().filter((n) => isLabNetns(name, n));
  if (ns.length) found.push(`namespaces ${ns.join(' ')}`);
  return found;
}

/**
 * Brings a lab up: namespaces and wires, then per host a mount namespace with its private
 * directories, sshd and charon. Refuses when a lab of that name is up. On any failure,
 * everything made so far is torn down before the error is thrown.
 */
export async function startLab(spec: LabSpec, opts: StartLabOptions = {}): Promise<Lab> {
  assertPrerequisites(spec);
  const resolved = resolveLabSpec(spec);
  const stateRoot = labStateRoot(resolved.name, opts.stateRoot);
  const leftovers = labLeftovers(resolved.name, opts);
  if (leftovers.length) throw new LabAlreadyUpError(resolved.name, stateRoot, leftovers);
  const progress = opts.onProgress ?? (() => undefined);
  // assertPrerequisites found the build when a host needs it.
  const ss6 = resolved.hosts.some((h) => h.strongswan === '6') ? strongswan6Prefix() : undefined;

  const lab = new Lab({
    version: 1,
    name: resolved.name,
    stateRoot,
    createdAt: new Date().toISOString(),
    phase: 'starting',
    spec: resolved,
    netns: [],
    processes: [],
    hosts: {},
    ...(ss6 !== undefined && { strongswan6Prefix: ss6 }),
  });
  lab.save();
  try {
    progress(`network: ${resolved.sites.length} site bridge(s), router, ${resolved.hosts.length} host namespace(s)`);
    await buildNetwork(resolved, (ns) => lab.update((s) => ({ ...s, netns: [...s.netns, ns] })));

    progress('keys: lab SSH key and one sshd host key per host');
    await runOk(['mkdir', '-p', '-m', '0700', join(stateRoot, 'ssh')]);
    await runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `imlab-${resolved.name}`, '-f', labKeyPath(stateRoot)]);
    const labPublicKey = readFileSync(`${labKeyPath(stateRoot)}.pub`, 'utf8').trim();
    await Promise.all(
      resolved.hosts.map(async (h) => {
        const strongswanD = h.strongswan === '6' && ss6 !== undefined ? strongswan6Paths(ss6).strongswanD : opts.strongswanD;
        prepareHostFiles(stateRoot, h.name, {
          authorizedKey: labPublicKey,
          ...(opts.acceptEnv && { acceptEnv: opts.acceptEnv }),
          ...(strongswanD && { strongswanD }),
        });
        const keyFile = hostFilePath(stateRoot, h.name, SSH_HOST_KEY);
        await runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `${h.name}@imlab-${resolved.name}`, '-f', keyFile]);
        const sshHostKey = readFileSync(`${keyFile}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
        lab.update((s) => ({ ...s, hosts: { ...s.hosts, [h.name]: { sshHostKey } } }));
      }),
    );
    writeFileSync(
      knownHostsPath(stateRoot),
      lab.hosts.map((h) => `${[...h.ipv4, ...h.publicIpv4, ...h.ipv6].join(',')} ${h.sshHostKey}\n`).join(''),
    );

    progress('mounts: private /etc/swanctl /etc/strongswan.d /etc/ssh /etc/sysctl.d /var/log /run per host');
    await Promise.all(resolved.hosts.map((h) => lab.startHolder(h.name)));

    const daemons = [opts.sshd !== false && 'sshd', opts.charon !== false && 'charon'].filter(Boolean).join(' and ');
    if (daemons) progress(`daemons: ${daemons} on every host`);
    await Promise.all(
      resolved.hosts.flatMap((h) => [
        ...(opts.sshd !== false ? [lab.startSshd(h.name)] : []),
        ...(opts.charon !== false ? [lab.startCharon(h.name)] : []),
      ]),
    );
    lab.update((s) => ({ ...s, phase: 'up' }));
    return lab;
  } catch (e) {
    await stopLab(resolved.name, { stateRoot }).catch(() => undefined);
    throw e;
  }
}

/** Re-opens a lab that is up (e.g. brought up by `cli up` in another process). */
export function attachLab(name: string, opts: LabLocation = {}): Lab {
  const root = labStateRoot(name, opts.stateRoot);
  const state = readState(root);
  if (!state) throw new LabNotFoundError(name, root);
  return new Lab(state);
}

/** Stops every process the lab recorded, deletes its namespaces and its state. Safe to run twice. */
export async function stopLab(name: string, opts: LabLocation = {}): Promise<LabDownReport> {
  const root = labStateRoot(name, opts.stateRoot);
  const state = readState(root);
  const problems: string[] = [];
  const stopped: ProcessRecord[] = [];

  const records = state?.processes ?? [];
  const stopAll = async (recs: readonly ProcessRecord[]): Promise<void> => {
    await Promise.all(
      recs.map(async (r) => {
        if (!isRunning(r)) return;
        if (await stopProcess(r)) stopped.push(r);
        else problems.push(`${r.role} pid ${r.pid}${r.host ? ` (${r.host})` : ''} did not stop`);
      }),
    );
  };
  // Daemons first, then the holders that keep their namespaces alive.
  await stopAll(records.filter((r) => r.role !== 'holder'));
  await stopAll(records.filter((r) => r.role === 'holder'));

  const netns = [...new Set([...(state?.netns ?? []), ...listNetns().filter((n) => isLabNetns(name, n))])];
  const strays = processesInNetns(netns);
  await Promise.all(
    strays.map(async (pid) => {
      const startTime = processStartTime(pid);
      if (startTime && !(await stopProcess({ pid, startTime, role: 'capture' }))) problems.push(`pid ${pid} in a lab namespace did not stop`);
    }),
  );
  const failed = await deleteNetns(netns);
  problems.push(...failed);

  let stateRemoved = false;
  if (existsSync(root)) {
    if (state?.name === name || isLabStateDir(root)) {
      rmSync(root, { recursive: true, force: true });
      stateRemoved = true;
    } else {
      problems.push(`${root} does not look like lab "${name}"'s state; left in place`);
    }
  }
  if (problems.length) throw new LabError(`lab "${name}" did not come down cleanly:\n  ${problems.join('\n  ')}`, name);
  return { lab: name, stopped, strays, netnsDeleted: netns.filter((n) => !failed.some((f) => f.startsWith(`${n}:`))), stateRemoved };
}

/** A state dir without lab.json (a start that died early) holds only what startLab writes. */
function isLabStateDir(root: string): boolean {
  try {
    return readdirSync(root).every((e) => ['hosts', 'ssh', 'lab.json', 'lab.json.tmp', 'inventory.yaml'].includes(e));
  } catch {
    return false;
  }
}

/** PIDs of processes whose network namespace is one of `names` (also used by lab/vm). */
export function processesInNetns(names: readonly string[]): number[] {
  const inodes = new Set<string>();
  for (const n of names) {
    try {
      inodes.add(`net:[${statSync(join(NETNS_DIR, n)).ino}]`);
    } catch {
      /* not there */
    }
  }
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (inodes.has(readlinkSync(`/proc/${entry}/ns/net`))) pids.push(Number(entry));
    } catch {
      /* exited meanwhile, or a kernel thread */
    }
  }
  return pids;
}

/** A lab that is up. All state lives in its state file, so another process can attach. */
export class Lab extends LabBase<LabStateFile> {
  get hosts(): readonly LabHost[] {
    return this.state.spec.hosts.map((h) => ({
      name: h.name,
      site: h.site,
      netns: hostNetns(this.name, h.name),
      ipv4: h.ipv4,
      ipv6: h.ipv6,
      publicIpv4: h.publicIpv4 ?? [], // state written before NAT sites existed has none
      stateDir: hostStateDir(this.stateRoot, h.name),
      sshHostKey: this.state.hosts[h.name]?.sshHostKey ?? '',
      strongswan: h.strongswan ?? '5', // state written before strongSwan 6 hosts has none
    }));
  }
  /** @internal */
  save(): void {
    writeState(this.state);
  }

  host(name: string): LabHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new LabError(`lab "${this.name}" has no host "${name}" (hosts: ${this.hosts.map((x) => x.name).join(', ')})`, this.name);
    return h;
  }

  /** The file backing `pathOnHost` (which must be under one of PRIVATE_MOUNTS). */
  hostFile(host: string, pathOnHost: string): string {
    this.host(host);
    return hostFilePath(this.stateRoot, host, pathOnHost);
  }
  writeHostFile(host: string, pathOnHost: string, content: string, mode = 0o644): void {
    this.host(host);
    writeHostFile(this.stateRoot, host, pathOnHost, content, mode);
  }
  readHostFile(host: string, pathOnHost: string): string {
    return readFileSync(this.hostFile(host, pathOnHost), 'utf8');
  }
  /**
   * charon's log (filelog) on `host`; with `sinceStart`, only what the latest charon start
   * wrote (the file is appended to across restarts).
   */
  charonLog(host: string, opts: { sinceStart?: boolean } = {}): string {
    let text: string;
    try {
      text = this.readHostFile(host, CHARON_LOG);
    } catch {
      return '';
    }
    if (!opts.sinceStart) return text;
    const start = text.lastIndexOf('Starting IKE charon daemon');
    return start < 0 ? text : text.slice(text.lastIndexOf('\n', start) + 1);
  }

  private record(role: ProcessRecord['role'], host: string): ProcessRecord | undefined {
    return this.state.processes.find((p) => p.role === role && p.host === host);
  }
  private holderPid(host: string): number {
    this.host(host);
    const rec = this.record('holder', host);
    if (!rec || !isRunning(rec)) throw new LabError(`host "${host}" of lab "${this.name}" has no running namespace holder`, this.name);
    return rec.pid;
  }
  /** The 6.0.6 prefix a `strongswan: '6'` host runs, undefined for a 5.9 host. */
  private strongswan6(host: string): string | undefined {
    if (this.host(host).strongswan !== '6') return undefined;
    const prefix = this.state.strongswan6Prefix;
    if (prefix === undefined) throw new LabError(`host "${host}" runs strongSwan 6 but lab "${this.name}" recorded no build`, this.name);
    return prefix;
  }
  private forget(rec: ProcessRecord): void {
    this.update((s) => ({ ...s, processes: s.processes.filter((p) => p !== rec && !(p.pid === rec.pid && p.startTime === rec.startTime)) }));
  }
  private remember(rec: ProcessRecord): void {
    this.update((s) => ({ ...s, processes: [...s.processes, rec] }));
  }

  /** @internal Starts the process that holds the host's mount namespace and makes its mounts. */
  async startHolder(host: string): Promise<void> {
    const dir = hostStateDir(this.stateRoot, host);
    // In a fresh mount namespace (private propagation: nothing leaks back to the machine):
    // sysfs of this network namespace, then the private directories, /run last. A strongSwan 6
    // host then puts the 6.0.6 build in place (strongswan6Mounts), before /run hides the state dir.
    const ss6 = this.strongswan6(host);
    const early = PRIVATE_MOUNTS.filter((m) => m !== '/run');
    const script = [
      'set -e',
      'mount -t sysfs -o nosuid,nodev,noexec sysfs /sys',
      ...early.map((m) => `mount --bind "$1${m}" ${m}`),
      ...(ss6 === undefined ? [] : strongswan6Mounts(ss6, '$1', { swanctl: SWANCTL_BIN, charon: CHARON_BIN })),
      'mount --bind "$1/run" /run',
      'echo ready',
      'exec sleep infinity',
    ].join('\n');
    const rec = await spawnHolder(
      ['nsenter', `--net=${NETNS_DIR}/${hostNetns(this.name, host)}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', dir],
      'holder',
      host,
    );
    this.remember(rec);
  }

  /** Runs argv inside `host`'s network and mount namespaces; resolves with its output. */
  async exec(host: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const pid = this.holderPid(host);
    return run(['nsenter', '-t', String(pid), '-m', '-n', '--', ...argv], { ...opts, context: `on ${host}` });
  }

  /** `swanctl ARGS` on `host` (its own /etc/swanctl and vici socket). */
  async swanctl(host: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(host, ['swanctl', ...args], opts);
  }

  /** IKE_SAs (with their CHILD_SAs) charon on `host` holds, read back through vici. */
  async listSas(host: string): Promise<IkeSaStatus[]> {
    return parseListSas((await this.swanctl(host, ['--list-sas', '--pretty'], { check: true })).stdout);
  }
  /** Connections loaded into charon on `host`. */
  async listConns(host: string): Promise<ConnectionStatus[]> {
    return parseListConns((await this.swanctl(host, ['--list-conns', '--pretty'], { check: true })).stdout);
  }
  /** Trap and shunt (pass/drop) policies charon on `host` installed. */
  async listPols(host: string): Promise<PolicyStatus[]> {
    return parseListPols((await this.swanctl(host, ['--list-pols', '--pretty'], { check: true })).stdout);
  }

  /** Runs argv in one of the lab's network namespaces (root mount namespace). */
  async execNetns(netns: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (!this.state.netns.includes(netns)) throw new LabError(`"${netns}" is not a namespace of lab "${this.name}"`, this.name);
    return run(['nsenter', `--net=${NETNS_DIR}/${netns}`, '--', ...argv], { ...opts, context: `in ${netns}` });
  }

  /** Runs argv in the operator namespace, from where every host is reachable. */
  async execOperator(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.execNetns(this.operator.netns, argv, opts);
  }

  /** Runs `remote` on `host` over real SSH (lab key, pinned host key) from the operator namespace. */
  async ssh(host: string, remote: readonly string[], opts: SshOptions = {}): Promise<ExecResult> {
    const { family, ...rest } = opts;
    return run(this.sshArgv(host, remote, family), { ...rest, context: `ssh to ${host}` });
  }

  /** PID of `host`'s charon, or undefined when it is not running. */
  charonPid(host: string): number | undefined {
    this.host(host);
    const rec = this.record('charon', host);
    return rec && isRunning(rec) ? rec.pid : undefined;
  }
  sshdPid(host: string): number | undefined {
    this.host(host);
    const rec = this.record('sshd', host);
    return rec && isRunning(rec) ? rec.pid : undefined;
  }

  /** Starts charon on `host` (foreground, logging to /var/log/charon.log) and waits for its vici socket. */
  async startCharon(host: string): Promise<number> {
    if (this.charonPid(host) !== undefined) throw new LabDaemonError(`charon already runs on ${host}`, this.name, host, 'charon');
    const holder = this.holderPid(host);
    const vici = this.hostFile(host, CHARON_VICI);
    for (const stale of [vici, this.hostFile(host, '/run/charon.pid')]) if (existsSync(stale)) unlinkSync(stale);
    const ss6 = this.strongswan6(host);
    const charon = ss6 === undefined ? CHARON_BIN : strongswan6Paths(ss6).charon;
    const rec = spawnDetached(
      ['nsenter', '-t', String(holder), '-m', '-n', '--', charon],
      this.hostFile(host, CHARON_STDIO_LOG),
      'charon',
      host,
    );
    this.remember(rec);
    const ready = await waitFor(async () => {
      if (!isRunning(rec)) return false;
      return (await canConnect(vici)) ? true : undefined;
    }, DAEMON_START_TIMEOUT_MS, 20);
    if (ready !== true) {
      await stopProcess(rec, 1_000);
      this.forget(rec);
      throw new LabDaemonError(`charon on ${host} did not open its vici socket`, this.name, host, 'charon', this.tail(host, CHARON_STDIO_LOG) || this.tail(host, CHARON_LOG));
    }
    return rec.pid;
  }

  /** Stops `host`'s charon by its PID (SIGTERM; SIGKILL if it lingers). */
  async stopCharon(host: string): Promise<void> {
    await this.stopDaemon(host, 'charon');
  }

  /** Starts sshd on `host` (`sshd -D`, its own config and host key) and waits for its pid file. */
  async startSshd(host: string): Promise<number> {
    if (this.sshdPid(host) !== undefined) throw new LabDaemonError(`sshd already runs on ${host}`, this.name, host, 'sshd');
    const holder = this.holderPid(host);
    const pidFile = this.hostFile(host, SSHD_PID);
    if (existsSync(pidFile)) unlinkSync(pidFile);
    const rec = spawnDetached(
      ['nsenter', '-t', String(holder), '-m', '-n', '--', SSHD_BIN, '-D', '-e', '-f', SSHD_CONFIG],
      this.hostFile(host, SSHD_LOG),
      'sshd',
      host,
    );
    this.remember(rec);
    // sshd writes its pid file once it listens.
    const ready = await waitFor(() => {
      if (!isRunning(rec)) return false;
      try {
        return readFileSync(pidFile, 'utf8').trim() === String(rec.pid) ? true : undefined;
      } catch {
        return undefined;
      }
    }, DAEMON_START_TIMEOUT_MS, 20);
    if (ready !== true) {
      await stopProcess(rec, 1_000);
      this.forget(rec);
      throw new LabDaemonError(`sshd on ${host} did not start listening`, this.name, host, 'sshd', this.tail(host, SSHD_LOG));
    }
    return rec.pid;
  }

  async stopSshd(host: string): Promise<void> {
    await this.stopDaemon(host, 'sshd');
  }

  private async stopDaemon(host: string, role: 'charon' | 'sshd'): Promise<void> {
    this.host(host);
    const rec = this.record(role, host);
    if (!rec) return;
    if (!(await stopProcess(rec))) throw new LabDaemonError(`${role} (pid ${rec.pid}) on ${host} did not stop`, this.name, host, role);
    this.forget(rec);
  }

  private tail(host: string, pathOnHost: string, lines = 30): string {
    try {
      return this.readHostFile(host, pathOnHost).trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Starts tcpdump in the switch namespace on a site bridge or a host's port; resolves once it listens. */
  async capture(opts: CaptureOptions): Promise<Capture> {
    let iface: string;
    if (opts.host !== undefined) {
      const h = this.spec.hosts.find((x) => x.name === opts.host);
      if (!h) throw new LabError(`lab "${this.name}" has no host "${opts.host}"`, this.name);
      iface = hostPort(h.index);
    } else {
      const site = this.spec.sites.find((s) => s.name === opts.site) ?? (opts.site === undefined ? this.spec.sites[0] : undefined);
      if (!site) throw new LabError(`lab "${this.name}" has no site "${opts.site}"`, this.name);
      iface = siteBridge(site.index);
    }
    const child = spawn('nsenter', [`--net=${NETNS_DIR}/${this.switchNetns}`, '--', 'tcpdump', '-n', '-l', '--immediate-mode', '-i', iface, ...(opts.filter ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: labEnv(),
    });
    const pid = child.pid;
    const startTime = pid === undefined ? undefined : processStartTime(pid);
    if (pid === undefined || startTime === undefined) throw new LabError('cannot start tcpdump', this.name);
    const rec: ProcessRecord = { pid, startTime, role: 'capture' };
    this.remember(rec);
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const listening = await new Promise<boolean>((resolve) => {
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
        if (err.includes('listening on')) resolve(true);
      });
      void closed.then(() => resolve(false));
    });
    if (!listening) {
      this.forget(rec);
      throw new LabError(`tcpdump on ${iface} did not start: ${err.trim()}`, this.name);
    }
    return {
      pid,
      stop: async () => {
        if (isRunning(rec)) process.kill(pid, 'SIGINT'); // flushes what it has
        await closed;
        this.forget(rec);
        return out.split('\n').filter((l) => l.length > 0);
      },
    };
  }

  /** Tears this lab down (see stopLab). */
  down(): Promise<LabDownReport> {
    return stopLab(this.name, { stateRoot: this.stateRoot });
  }
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ path });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
