// The vm lab: the same sites, router and operator namespace as the namespace lab, but every
// host is a qemu guest running Debian's own kernel — which has ESP, so transport-mode
// CHILD_SAs really install and the wire really carries ESP. See docs/vm-lab.md.
//
//   operator ns ── router ns ── switch ns: br<i> (site) ── tap h<j> ── qemu guest <host> (eth0)
//
// qemu runs inside the switch namespace (that is where its tap lives); the guest's only
// link to anything is that tap. Guests are reached over SSH from the operator namespace,
// like the Pulumi engine reaches them.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabAlreadyUpError, LabError, LabNotFoundError, LabPrerequisiteError } from '../netns/lab-errors.js';
import { hostPort, isLabNetns, siteBridge, switchNetns } from '../netns/lab-names.js';
import { NETNS_DIR, buildNetwork, deleteNetns, listNetns } from '../netns/lab-network.js';
import { spawnDetached, stopProcess, waitFor } from '../netns/lab-process.js';
import { type LabSpec, type ResolvedHost, type ResolvedLabSpec, resolveLabSpec } from '../netns/lab-spec.js';
import { type ProcessRecord, isRunning, processStartTime } from '../netns/lab-state.js';
import { type LabLocation, labLeftovers, labStateRoot, processesInNetns } from '../netns/lab.js';
import { LabBase, knownHostsPath, labKeyPath } from '../netns/lab-base.js';
import { type ExecResult, type RunOptions, labEnv, run, runOk } from '../netns/run-command.js';
import { type IkeSaStatus, parseListSas } from '../../components/operations/swanctl-status.js';
import { type GuestImage, ensureGuestImage } from './guest-image.js';
import { guestSeedFiles, writeGuestSeed } from './guest-seed.js';
import { type PcapFrame, parsePcap } from './pcap.js';
import { GUEST_INITS, type GuestInit, guestMac, guestOverlayArgv, qemuArgv } from './qemu-argv.js';
import { VmGuestError, VmLabError } from './vm-errors.js';
import { type VmLabStateFile, VM_STATE_FILE, isVmLabState, readVmState, vmStatePath, writeVmState } from './vm-state.js';

/** TCG boots are CPU-bound: more guests at once only makes each slower (2 cores here). */
export const DEFAULT_BOOT_PARALLEL = 3;
/** One guest boots to sshd in ~5 s alone, ~15 s with three on two busy cores. */
export const DEFAULT_BOOT_TIMEOUT_MS = 180_000;
const READY_MARK = 'imlab-guest: ready';
const FAILED_MARK = /imlab-(initramfs|guest): FAILED[^\n]*/;

export const VM_BINARIES: readonly { readonly name: string; readonly pkg: string }[] = [
  { name: 'qemu-system-x86_64', pkg: 'qemu-system-x86' },
  { name: 'ip', pkg: 'iproute2' },
  { name: 'nsenter', pkg: 'util-linux' },
  { name: 'ssh', pkg: 'openssh-client' },
  { name: 'ssh-keygen', pkg: 'openssh-client' },
  { name: 'tcpdump', pkg: 'tcpdump' },
  { name: 'tar', pkg: 'tar' },
  { name: 'qemu-img', pkg: 'qemu-utils' },
];
const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Every missing prerequisite of the vm lab (the image build checks its own tools). */
export function missingVmPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root: the lab creates network namespaces and tap devices (run as root)');
  for (const b of VM_BINARIES) {
    const found = SEARCH.some((d) => {
      try {
        accessSync(`${d}/${b.name}`, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (!found) missing.push(`${b.name} (Debian package ${b.pkg}; scripts/install-system-deps.sh --vm)`);
  }
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun (kernel TUN/TAP support, for the guests\' NICs)');
  return missing;
}

export interface VmHost {
  readonly name: string;
  readonly site: string;
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  /** Public address of each `ipv4` address when the site is behind the router's NAT (LabSiteSpec.nat); else empty. */
  readonly publicIpv4: readonly string[];
  /** sshd's public host key, `ssh-ed25519 AAAA…`, for pinning. */
  readonly sshHostKey: string;
  readonly mac: string;
  /** The guest's tap device = its port on the site bridge (switch namespace). */
  readonly tap: string;
  /** The guest's serial console, as a file on this machine. */
  readonly consoleLog: string;
}

export interface StartVmLabOptions extends LabLocation {
  /** A built image (default: ensureGuestImage(), which builds what is missing). */
  readonly image?: GuestImage;
  /** At most this many guests boot at once (default 3). */
  readonly bootParallel?: number;
  /** Per guest, from qemu's start to SSH answering (default 180 s). */
  readonly bootTimeoutMs?: number;
  /**
   * The guests' PID 1 (default busybox: SSH answers ~4 s sooner than with systemd under TCG,
   * 5–7 s vs 9–11 s alone). systemd runs the same boot script and sshd as units, for tests of
   * the product's own units.
   */
  readonly init?: GuestInit;
  /** Called with one line per step (and the image build's progress). */
  readonly onProgress?: (message: string) => void;
}

export interface VmExecOptions extends Omit<RunOptions, 'context'> {
  /** Which of the host's addresses to connect to (default: its first IPv4, else IPv6). */
  readonly family?: 'ipv4' | 'ipv6';
}

export interface WireCaptureOptions {
  /** Capture on this site's bridge (default: the first site). */
  readonly site?: string;
  /** Or on this guest's tap (everything it sends and receives). */
  readonly host?: string;
  /** tcpdump filter words. */
  readonly filter?: readonly string[];
}

/** A running tcpdump writing pcap to a pipe; `stop()` ends it and returns the frames. */
export interface WireCapture {
  readonly pid: number;
  readonly iface: string;
  stop(): Promise<PcapFrame[]>;
}

export interface VmLabDownReport {
  readonly lab: string;
  readonly stopped: readonly ProcessRecord[];
  readonly strays: readonly number[];
  readonly netnsDeleted: readonly string[];
  readonly stateRemoved: boolean;
}

const guestDir = (stateRoot: string, host: string): string => join(stateRoot, 'guests', host);

/** True when lab `name` is up and is a vm lab (its state file says so). */
export function isVmLab(name: string, opts: LabLocation = {}): boolean {
  return isVmLabState(labStateRoot(name, opts.stateRoot));
}

export function assertVmPrerequisites(): void {
  const missing = missingVmPrerequisites();
  if (missing.length > 0) throw new LabPrerequisiteError(missing);
}

/**
 * Brings a vm lab up: the guest image (built if missing), the lab network without host
 * namespaces, one tap per guest in its site bridge, keys, seeds, then the guests, at most
 * `bootParallel` booting at once, each until SSH answers with its pinned host key. On any
 * failure everything made so far is torn down before the error is thrown.
 */
export async function startVmLab(spec: LabSpec, opts: StartVmLabOptions = {}): Promise<VmLab> {
  if (process.getuid?.() !== 0) assertVmPrerequisites(); // names root first
  const resolved = resolveLabSpec(spec);
  const stateRoot = labStateRoot(resolved.name, opts.stateRoot);
  const leftovers = labLeftovers(resolved.name, opts);
  if (leftovers.length) throw new LabAlreadyUpError(resolved.name, stateRoot, leftovers);
  const progress = opts.onProgress ?? (() => undefined);
  const init = opts.init ?? 'busybox';
  if (!GUEST_INITS.includes(init)) throw new VmLabError(`init must be ${GUEST_INITS.join(' or ')}, got ${String(init)}`, resolved.name);

  // The image build installs qemu and its own tools when they are missing: build first.
  const image = opts.image ?? (await ensureGuestImage({ onProgress: (l) => progress(l) }));
  assertVmPrerequisites();
  const lab = new VmLab({
    version: 1,
    backend: 'vm',
    name: resolved.name,
    stateRoot,
    createdAt: new Date().toISOString(),
    phase: 'starting',
    spec: resolved,
    image,
    init,
    netns: [],
    processes: [],
    guests: {},
  });
  lab.save();
  try {
    progress(`network: ${resolved.sites.length} site bridge(s), router, operator namespace; ${resolved.hosts.length} tap(s)`);
    await buildNetwork(resolved, (ns) => lab.update((s) => ({ ...s, netns: [...s.netns, ns] })), { hosts: false });
    await plugTaps(resolved);

    progress('keys: lab SSH key and one sshd host key per guest (made here, pinned)');
    mkdirSync(join(stateRoot, 'ssh'), { recursive: true, mode: 0o700 });
    await runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `imlab-${resolved.name}`, '-f', labKeyPath(stateRoot)]);
    const labPublicKey = readFileSync(`${labKeyPath(stateRoot)}.pub`, 'utf8').trim();
    await Promise.all(
      resolved.hosts.map(async (h) => {
        const dir = guestDir(stateRoot, h.name);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const keyFile = join(dir, 'ssh_host_ed25519_key');
        await runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `${h.name}@imlab-${resolved.name}`, '-f', keyFile]);
        const publicKey = readFileSync(`${keyFile}.pub`, 'utf8').trim();
        const site = resolved.sites.find((s) => s.name === h.site)!;
        await writeGuestSeed(
          join(dir, 'seed.tar'),
          guestSeedFiles({
            lab: resolved.name,
            host: h,
            site,
            hostKey: { privateKey: readFileSync(keyFile, 'utf8'), publicKey },
            authorizedKey: labPublicKey,
          }),
        );
        // The guest's own disk: an overlay, so what a push writes survives a reboot of the guest.
        await runOk(guestOverlayArgv(image.rootfs, join(dir, 'disk.qcow2')));
        const sshHostKey = publicKey.split(' ').slice(0, 2).join(' ');
        lab.update((s) => ({ ...s, guests: { ...s.guests, [h.name]: { sshHostKey, mac: guestMac(site.index, h.index), tap: hostPort(h.index) } } }));
      }),
    );
    writeFileSync(knownHostsPath(stateRoot), lab.hosts.map((h) => `${[...h.ipv4, ...h.publicIpv4, ...h.ipv6].join(',')} ${h.sshHostKey}\n`).join(''));

    const parallel = Math.max(1, opts.bootParallel ?? DEFAULT_BOOT_PARALLEL);
    progress(`guests: booting ${resolved.hosts.length} (at most ${parallel} at once; kernel ${image.manifest.kernelRelease}, ${init} init, TCG)`);
    const queue = [...resolved.hosts];
    await Promise.all(
      Array.from({ length: Math.min(parallel, queue.length) }, async () => {
        for (let h = queue.shift(); h; h = queue.shift()) {
          const t0 = Date.now();
          await lab.bootGuest(h, opts.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS);
          progress(`  ${h.name}: SSH answers after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        }
      }),
    );
    lab.update((s) => ({ ...s, phase: 'up' }));
    return lab;
  } catch (e) {
    await stopVmLab(resolved.name, { stateRoot }).catch(() => undefined);
    throw e;
  }
}

/** One tap per guest in the switch namespace, plugged into its site's bridge. */
async function plugTaps(spec: ResolvedLabSpec): Promise<void> {
  const lines = spec.hosts.flatMap((h) => {
    const site = spec.sites.find((s) => s.name === h.site)!;
    return [`tuntap add dev ${hostPort(h.index)} mode tap`, `link set ${hostPort(h.index)} master ${siteBridge(site.index)}`, `link set ${hostPort(h.index)} up`];
  });
  await runOk(['ip', '-n', switchNetns(spec.name), '-batch', '-'], { stdin: `${lines.join('\n')}\n`, context: 'creating the guests\' tap devices' });
}

/** Re-opens a vm lab that is up (e.g. brought up by the main job in another process). */
export function attachVmLab(name: string, opts: LabLocation = {}): VmLab {
  const root = labStateRoot(name, opts.stateRoot);
  const state = readVmState(root);
  if (!state) throw new LabNotFoundError(name, root);
  return new VmLab(state);
}

/** Stops every guest and capture the lab recorded, deletes its namespaces and its state. Safe to run twice. */
export async function stopVmLab(name: string, opts: LabLocation = {}): Promise<VmLabDownReport> {
  const root = labStateRoot(name, opts.stateRoot);
  const state = readVmState(root);
  if (!state && existsSync(join(root, 'lab.json'))) {
    throw new VmLabError(`lab "${name}" is a namespace lab, not a vm lab: bring it down with \`npm run lab:down\``, name);
  }
  const problems: string[] = [];
  const stopped: ProcessRecord[] = [];
  await Promise.all(
    (state?.processes ?? []).map(async (r) => {
      if (!isRunning(r)) return;
      if (await stopProcess(r)) stopped.push(r);
      else problems.push(`${r.role} pid ${r.pid}${r.host ? ` (${r.host})` : ''} did not stop`);
    }),
  );
  const netns = [...new Set([...(state?.netns ?? []), ...listNetns().filter((n) => isLabNetns(name, n))])];
  // Whatever still runs in the lab's namespaces (an ssh session, a qemu whose record was lost).
  const strays = processesInNetns(netns);
  await Promise.all(
    strays.map(async (pid) => {
      const startTime = processStartTime(pid);
      if (startTime && !(await stopProcess({ pid, startTime, role: 'capture' }))) problems.push(`pid ${pid} in a lab namespace did not stop`);
    }),
  );
  const failed = await deleteNetns(netns); // the taps go with the switch namespace
  problems.push(...failed);
  let stateRemoved = false;
  if (existsSync(root)) {
    if (state?.name === name || isVmStateDir(root)) {
      rmSync(root, { recursive: true, force: true });
      stateRemoved = true;
    } else {
      problems.push(`${root} does not look like vm lab "${name}"'s state; left in place`);
    }
  }
  if (problems.length) throw new VmLabError(`vm lab "${name}" did not come down cleanly:\n  ${problems.join('\n  ')}`, name);
  return { lab: name, stopped, strays, netnsDeleted: netns.filter((n) => !failed.some((f) => f.startsWith(`${n}:`))), stateRemoved };
}

/** A state dir without a state file (a start that died early) holds only what startVmLab writes. */
function isVmStateDir(root: string): boolean {
  try {
    return readdirSync(root).every((e) => ['guests', 'ssh', VM_STATE_FILE, `${VM_STATE_FILE}.tmp`, 'inventory.yaml'].includes(e));
  } catch {
    return false;
  }
}

/** A vm lab that is up. All state lives in its state file, so another process can attach. */
export class VmLab extends LabBase<VmLabStateFile> {
  readonly backend = 'vm';

  get image(): GuestImage {
    return this.state.image;
  }
  /** The guests' PID 1. */
  get init(): GuestInit {
    return this.state.init ?? 'busybox';
  }
  get hosts(): readonly VmHost[] {
    return this.state.spec.hosts.map((h) => {
      const g = this.state.guests[h.name];
      return {
        name: h.name,
        site: h.site,
        ipv4: h.ipv4,
        ipv6: h.ipv6,
        publicIpv4: h.publicIpv4 ?? [],
        sshHostKey: g?.sshHostKey ?? '',
        mac: g?.mac ?? '',
        tap: g?.tap ?? hostPort(h.index),
        consoleLog: this.consoleLog(h.name),
      };
    });
  }
  /** @internal */
  save(): void {
    writeVmState(this.state);
  }
  private remember(rec: ProcessRecord): void {
    this.update((s) => ({ ...s, processes: [...s.processes, rec] }));
  }
  private forget(rec: ProcessRecord): void {
    this.update((s) => ({ ...s, processes: s.processes.filter((p) => p.pid !== rec.pid || p.startTime !== rec.startTime) }));
  }

  host(name: string): VmHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new LabError(`lab "${this.name}" has no host "${name}"`, this.name);
    return h;
  }

  consoleLog(host: string): string {
    return join(guestDir(this.stateRoot, host), 'console.log');
  }
  /** The guest's serial console so far (kernel messages, init, charon start). */
  readConsole(host: string): string {
    try {
      return readFileSync(this.consoleLog(host), 'utf8');
    } catch {
      return '';
    }
  }
  consoleTail(host: string, lines = 30): string {
    return this.readConsole(host).replace(/\r/g, '').trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** PID of `host`'s qemu, or undefined when it does not run. */
  qemuPid(host: string): number | undefined {
    this.host(host);
    const rec = this.state.processes.find((p) => p.role === 'qemu' && p.host === host);
    return rec && isRunning(rec) ? rec.pid : undefined;
  }

  /** Resident memory of every running guest's qemu, in KiB. */
  guestRssKib(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of this.hosts) {
      const pid = this.qemuPid(h.name);
      if (pid === undefined) continue;
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) out[h.name] = Number(m[1]);
    }
    return out;
  }

  /** @internal Starts `host`'s qemu and waits until the guest says ready and SSH answers. */
  async bootGuest(h: ResolvedHost, timeoutMs: number): Promise<void> {
    if (this.qemuPid(h.name) !== undefined) throw new VmLabError(`guest ${h.name} already runs`, this.name);
    const dir = guestDir(this.stateRoot, h.name);
    const g = this.host(h.name);
    rmSync(this.consoleLog(h.name), { force: true });
    const argv = [
      'nsenter', `--net=${NETNS_DIR}/${this.switchNetns}`, '--',
      ...qemuArgv({
        name: `imlab-${this.name}-${h.name}`,
        kernel: this.image.kernel,
        initrd: this.image.initrd,
        disk: join(dir, 'disk.qcow2'),
        seed: join(dir, 'seed.tar'),
        consoleLog: this.consoleLog(h.name),
        tap: g.tap,
        mac: g.mac,
        init: this.init,
      }),
    ];
    const rec = spawnDetached(argv, join(dir, 'qemu.log'), 'qemu', h.name);
    this.remember(rec);
    const deadline = Date.now() + timeoutMs;
    const fail = (why: string): never => {
      const qemuLog = (() => {
        try {
          return readFileSync(join(dir, 'qemu.log'), 'utf8').trim();
        } catch {
          return '';
        }
      })();
      throw new VmGuestError(`guest ${h.name} ${why}${qemuLog ? ` (qemu: ${qemuLog.split('\n').slice(-3).join(' ')})` : ''}`, this.name, h.name, this.consoleTail(h.name));
    };
    const booted = await waitFor(
      () => {
        const text = this.readConsole(h.name);
        const failed = FAILED_MARK.exec(text);
        if (failed) return failed[0];
        if (text.includes(READY_MARK)) return 'ready';
        return isRunning(rec) ? undefined : 'qemu exited';
      },
      timeoutMs,
      200,
    );
    if (booted === undefined) fail(`did not finish booting in ${Math.round(timeoutMs / 1000)} s`);
    if (booted !== 'ready') fail(`failed to boot: ${booted}`);
    // init starts sshd right after the boot script: poll until it answers (pinned key).
    const answered = await waitFor(
      async () => {
        if (!isRunning(rec)) return false;
        const r = await this.ssh(h.name, ['true'], { timeoutMs: 20_000 });
        return r.code === 0 ? true : undefined;
      },
      Math.max(1_000, deadline - Date.now()),
      300,
    );
    if (answered !== true) fail(answered === false ? 'died (qemu exited)' : 'booted but SSH does not answer');
  }

  /**
   * Reboots `host` as `reboot -f` does (no clean shutdown, like a power cycle of the OS: its
   * disk keeps what was written): qemu ends (-no-reboot), then the guest boots again from its
   * overlay. Resolves once SSH answers.
   */
  async rebootGuest(host: string, timeoutMs = DEFAULT_BOOT_TIMEOUT_MS): Promise<void> {
    const h = this.spec.hosts.find((x) => x.name === host);
    if (!h) throw new LabError(`lab "${this.name}" has no host "${host}"`, this.name);
    const rec = this.state.processes.find((p) => p.role === 'qemu' && p.host === host);
    // sync first: the guest's page cache would be lost with its qemu.
    await this.exec(host, ['sh', '-c', 'sync; (sleep 0.2; busybox reboot -f) > /dev/null 2>&1 &'], { timeoutMs: 20_000 });
    const gone = await waitFor(() => (rec && isRunning(rec) ? undefined : true), 30_000, 100);
    if (gone !== true) throw new VmGuestError(`guest ${host} did not go down for its reboot`, this.name, host, this.consoleTail(host));
    if (rec) this.forget(rec);
    await this.bootGuest(h, timeoutMs);
  }

  /** Runs `remote` on `host` over real SSH (lab key, pinned host key) from the operator namespace. */
  async ssh(host: string, remote: readonly string[], opts: VmExecOptions = {}): Promise<ExecResult> {
    const { family, ...rest } = opts;
    return run(this.sshArgv(host, remote, family), { ...rest, context: `ssh to ${host}` });
  }

  /** Runs argv on `host` (over SSH: a guest has no other way in). Same call as the netns Lab's. */
  async exec(host: string, argv: readonly string[], opts: VmExecOptions = {}): Promise<ExecResult> {
    return this.ssh(host, argv, opts);
  }

  /** Runs argv in the operator namespace, from where every guest is reachable. */
  async execOperator(argv: readonly string[], opts: Omit<RunOptions, 'context'> = {}): Promise<ExecResult> {
    return run(['nsenter', `--net=${NETNS_DIR}/${this.operator.netns}`, '--', ...argv], { ...opts, context: `in ${this.operator.netns}` });
  }

  async swanctl(host: string, args: readonly string[], opts: VmExecOptions = {}): Promise<ExecResult> {
    return this.exec(host, ['swanctl', ...args], opts);
  }
  /** IKE_SAs (with their CHILD_SAs) charon on `host` holds. */
  async listSas(host: string): Promise<IkeSaStatus[]> {
    return parseListSas((await this.swanctl(host, ['--list-sas', '--pretty'], { check: true })).stdout);
  }

  /** Stops charon on `host` (SIGTERM by its pid file; the guest's init does not respawn it). */
  async stopCharon(host: string): Promise<void> {
    await this.exec(host, ['imlab-service', 'charon', 'stop'], { check: true });
  }
  /** Starts charon on `host` and waits for its vici socket. */
  async startCharon(host: string): Promise<void> {
    await this.exec(host, ['imlab-service', 'charon', 'start'], { check: true, timeoutMs: 60_000 });
  }
  /** charon's PID on `host`, or undefined when it does not run. */
  async charonPid(host: string): Promise<number | undefined> {
    const r = await this.exec(host, ['imlab-service', 'charon', 'status']);
    return r.code === 0 ? Number(r.stdout.trim()) : undefined;
  }

  /** Starts tcpdump in the switch namespace on a site bridge or a guest's tap; resolves once it listens. */
  async capture(opts: WireCaptureOptions = {}): Promise<WireCapture> {
    let iface: string;
    if (opts.host !== undefined) {
      iface = this.host(opts.host).tap;
    } else {
      const site = this.spec.sites.find((s) => s.name === opts.site) ?? (opts.site === undefined ? this.spec.sites[0] : undefined);
      if (!site) throw new LabError(`lab "${this.name}" has no site "${opts.site}"`, this.name);
      iface = siteBridge(site.index);
    }
    // pcap on stdout: whole frames, so a payload is found wherever it sits in a frame.
    const child = spawn(
      'nsenter',
      [`--net=${NETNS_DIR}/${this.switchNetns}`, '--', 'tcpdump', '-n', '-U', '--immediate-mode', '-s', '0', '-i', iface, '-w', '-', ...(opts.filter ?? [])],
      { stdio: ['ignore', 'pipe', 'pipe'], env: labEnv() },
    );
    const pid = child.pid;
    const startTime = pid === undefined ? undefined : processStartTime(pid);
    if (pid === undefined || startTime === undefined) throw new LabError('cannot start tcpdump', this.name);
    const rec: ProcessRecord = { pid, startTime, role: 'capture' };
    this.remember(rec);
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
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
      iface,
      stop: async () => {
        if (isRunning(rec)) process.kill(pid, 'SIGINT'); // flushes what it has
        await closed;
        this.forget(rec);
        return parsePcap(Buffer.concat(chunks));
      },
    };
  }

  /** Tears this lab down (see stopVmLab). */
  down(): Promise<VmLabDownReport> {
    return stopVmLab(this.name, { stateRoot: this.stateRoot });
  }

  /** @internal the state file (tests) */
  get statePath(): string {
    return vmStatePath(this.stateRoot);
  }
}
