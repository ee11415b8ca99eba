// The scale scenario of issue 18 on a namespace lab (bench/lab-bench.ts at 100 hosts,
// tests/lab/scale-lab.test.ts at 10): a compact, certificate, `require`, dual-stack mesh in
// four sites, run by the real engine. Steps: `pulumi up` from nothing, then traffic between
// every pair until every pair's IKE_SA is up on both ends; a no-change `up` (drift check on,
// then off) and the remote commands it ran; one host added to a site and the remote commands
// that ran per host; destroy and stop, with what was left behind.
//
// Remote commands are counted from the engine's own event stream (`pulumi up --json`: one
// engine event per line): every `command:remote:Command` step whose op is not `same`.
import { readFileSync } from 'node:fs';
import { loadInventoryFile } from '../components/inventory/index.js';
import { computeHostPairs, type HostPairSet } from '../components/topology/index.js';
import { labLayout } from '../lab/lab-layout.js';
import { labPulumi, prepareLabStack, type PulumiRun } from '../lab/lab-pulumi.js';
import { SSHD_LOG } from '../lab/netns/host-filesystem.js';
import { type Lab, type LabInventoryOptions, type ProcessRecord, isProcessRunning, labInventory, labLeftovers, startLab, stopLab, waitFor, writeLabInventory } from '../lab/netns/index.js';
import { sendDatagrams } from '../lab/pair-traffic.js';
import { loadAverage, timed, withoutCheckpoints } from './bench-support.js';

/** How compact connections select peers: each peer address (the default), or each site's prefixes. */
export type CompactSelectors = 'peer-addresses' | 'site-prefixes';

export interface ScaleLabOptions {
  /** Lab name ([a-z][a-z0-9-]{0,19}). */
  readonly name: string;
  /** Hosts in the mesh from the start; one more is made up front and added by addHost(). */
  readonly hosts: number;
  /** `mesh.compactSelectors`; undefined: not written (the inventory's default). */
  readonly selectors?: CompactSelectors;
  /** `pulumi up --parallel`; undefined: the engine's default. */
  readonly parallel?: number;
  /** A frozen copy of the stack program (bench-support snapshotProgram); default the checkout's dist. */
  readonly programDir?: string;
  /**
   * The first `up` and `destroy` with PULUMI_SKIP_CHECKPOINTS (only the final checkpoint
   * written): the file backend otherwise rewrites the whole checkpoint after every step.
   */
  readonly fastSetup?: boolean;
  /** How long establishAll() waits for the last IKE_SA. */
  readonly establishTimeoutMs?: number;
  readonly onProgress?: (line: string) => void;
}

/** Memory of the lab's processes, per host (KiB, averages over the hosts). */
export interface LabMemory {
  readonly hosts: number;
  /** Proportional set size (shared pages split between sharers) of charon, sshd and the namespace holder. */
  readonly pssKiB: { readonly charon: number; readonly sshd: number; readonly holder: number };
  readonly rssKiB: { readonly charon: number; readonly sshd: number; readonly holder: number };
  /** charon's threads (strongswan.conf charon.threads + its own). */
  readonly charonThreads: number;
  /** The machine's MemAvailable now, MiB. */
  readonly memAvailableMiB: number;
  readonly load: string;
}

/** One remote command step the engine ran: `<op> <resource name>`. */
export interface RemoteStep {
  readonly op: string;
  readonly name: string;
}

export interface UpFigures {
  readonly seconds: number;
  /** Remote command steps that were not `same`, by inventory host (hosts with none are absent). */
  readonly remoteByHost: Readonly<Record<string, readonly RemoteStep[]>>;
  readonly remoteTotal: number;
  /** Resource steps the engine reported (any op). */
  readonly steps: number;
  /** SSH sessions the hosts' sshd accepted during the run (the engine's and the drift check's). */
  readonly sshSessions: number;
  /** The command provider's `Dial n/limit failed: retrying` messages: SSH dials that had to be retried. */
  readonly dialRetries: number;
  readonly load: string;
}

export interface EstablishFigures {
  readonly seconds: number;
  /** Pair/family keys expected (`a~b/ipv4`), each ESTABLISHED on both ends to count. */
  readonly expected: number;
  readonly established: number;
  /** Keys not up on both ends when it stopped (empty = all). */
  readonly missing: readonly string[];
  /** Rounds of datagrams sent (1 = the first was enough for every pair). */
  readonly trafficRounds: number;
  /** CPU seconds (user + system) every charon spent meanwhile, summed: what the negotiations cost. */
  readonly charonCpuSeconds: number;
  readonly load: string;
}

export interface ScaleLabReport {
  readonly hosts: number;
  readonly selectors: CompactSelectors | 'default';
  readonly parallel: number | 'default';
  readonly fastSetup: boolean;
  readonly labStartSeconds: number;
  readonly memory: LabMemory;
  readonly memoryWithSas: LabMemory;
  readonly firstUp: UpFigures;
  readonly establish: EstablishFigures;
  readonly noChange: UpFigures;
  readonly noChangeNoDrift: UpFigures;
  readonly addHost: UpFigures & { readonly addedHost: string };
  readonly destroySeconds: number;
  readonly leftovers: readonly string[];
}

const REMOTE_COMMAND = 'command:remote:Command';
/**
 * This kernel has no ESP: each CHILD_SA install fails and leaves the kernel's larval acquire
 * state for xfrm_acq_expires, during which the trap raises no new acquire. 2 s (as the e2e
 * tests set) lets a retried datagram start IKE again soon.
 */
const ACQUIRE_DROPIN = '/etc/strongswan.d/imlab-scale.conf';
const ACQUIRE_CONF = ['# ipsec-mesh scale lab: see ACQUIRE_DROPIN in bench/scale-lab.ts', 'charon {', '    plugins {', '        kernel-netlink {', '            xfrm_acq_expires = 2', '        }', '    }', '}', ''].join('\n');

/** The remote command steps in `pulumi up --json` output (resourcePreEvent per step), not `same`. */
export function remoteCommandSteps(jsonLines: string): { steps: number; remote: RemoteStep[] } {
  const seen = new Map<string, RemoteStep & { readonly type: string }>();
  for (const line of jsonLines.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as { resourcePreEvent?: { metadata?: { op: string; urn: string; type?: string } } };
    const m = event.resourcePreEvent?.metadata;
    if (!m) continue;
    const type = m.type ?? m.urn.split('::')[2]!.split('$').pop()!;
    seen.set(`${m.op} ${m.urn}`, { op: m.op, name: m.urn.slice(m.urn.lastIndexOf('::') + 2), type });
  }
  const all = [...seen.values()];
  return { steps: all.length, remote: all.filter((s) => s.type === REMOTE_COMMAND && s.op !== 'same').map(({ op, name }) => ({ op, name })) };
}

function kib(pid: number, field: 'Pss' | 'Rss'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function threadsOf(pid: number): number {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** User + system CPU seconds of the lab's charons so far (/proc/<pid>/stat utime + stime). */
function charonCpuSeconds(lab: Lab): number {
  const ticks = lab.processes
    .filter((p) => p.role === 'charon')
    .reduce((n, p) => {
      try {
        const fields = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return n + Number(fields[11]) + Number(fields[12]);
      } catch {
        return n;
      }
    }, 0);
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/** USER_HZ: 100 on Linux (what /proc/<pid>/stat counts in). */
const CLOCK_TICKS_PER_SECOND = 100;

function memAvailableMiB(): number {
  return Math.round(Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024);
}

/** Per-host memory of the lab's own processes, read from /proc (only the listening sshd, not sessions). */
export function labMemory(lab: Lab): LabMemory {
  const hosts = lab.hosts.length;
  const sum = (role: ProcessRecord['role'], field: 'Pss' | 'Rss'): number =>
    Math.round(lab.processes.filter((p) => p.role === role).reduce((n, p) => n + kib(p.pid, field), 0) / hosts);
  const charons = lab.processes.filter((p) => p.role === 'charon');
  return {
    hosts,
    pssKiB: { charon: sum('charon', 'Pss'), sshd: sum('sshd', 'Pss'), holder: sum('holder', 'Pss') },
    rssKiB: { charon: sum('charon', 'Rss'), sshd: sum('sshd', 'Rss'), holder: sum('holder', 'Rss') },
    charonThreads: charons.length ? Math.round(charons.reduce((n, p) => n + threadsOf(p.pid), 0) / charons.length) : 0,
    memAvailableMiB: memAvailableMiB(),
    load: loadAverage(),
  };
}

/** Hosts polled at once while waiting for the IKE_SAs. */
const POLL_CONCURRENCY = 8;
/** Longer than charon's own retransmits of one IKE_SA_INIT (the mesh's 2 s × 1.5ⁿ, 4 tries: ~26 s). */
const RESEND_AFTER_MS = 30_000;

/** Runs `f` on every item, at most `limit` at a time. */
async function forEachLimited<T>(items: readonly T[], limit: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

/** `x~y/family` with x < y, as HostPair keys are. */
function pairFamilyKey(x: string, y: string, family: 'ipv4' | 'ipv6'): string {
  return `${x < y ? x : y}~${x < y ? y : x}/${family}`;
}

/** A lab of N+1 hosts with the stack prepared for the first N; the steps of the scenario. */
export class ScaleLab {
  private constructor(
    readonly lab: Lab,
    readonly options: ScaleLabOptions,
    readonly meshHosts: readonly string[],
    readonly addedHost: string,
    private inventoryPath: string,
    readonly startSeconds: number,
    /** Memory right after the lab came up (charon, sshd idle; no mesh). */
    readonly idleMemory: LabMemory,
  ) {}

  private get progress(): (line: string) => void {
    return this.options.onProgress ?? (() => undefined);
  }

  /** Brings up N+1 hosts in four sites (the last one stays out of the inventory) and prepares the stack. */
  static async start(options: ScaleLabOptions): Promise<ScaleLab> {
    await stopLab(options.name).catch(() => undefined);
    const spec = labLayout(options.name, options.hosts + 1, 4);
    const [lab, startSeconds] = await timed(() => startLab(spec));
    try {
      const idle = labMemory(lab);
      await Promise.all(
        lab.hosts.map(async (h) => {
          lab.writeHostFile(h.name, ACQUIRE_DROPIN, ACQUIRE_CONF);
          await lab.swanctl(h.name, ['--reload-settings'], { check: true });
        }),
      );
      const names = spec.hosts.map((h) => h.name);
      const meshHosts = names.slice(0, options.hosts);
      const added = names[options.hosts]!;
      const path = writeLabInventory(lab, ScaleLab.inventoryOptions(options, meshHosts));
      await prepareLabStack(lab, path);
      return new ScaleLab(lab, options, meshHosts, added, path, startSeconds, idle);
    } catch (e) {
      await stopLab(options.name).catch(() => undefined);
      throw e;
    }
  }

  private static inventoryOptions(options: ScaleLabOptions, hosts: readonly string[]): LabInventoryOptions {
    return { hosts, mesh: { layout: 'compact', auth: 'certificate', enforcement: 'require', ...(options.selectors !== undefined && { compactSelectors: options.selectors }) } };
  }

  private sshSessionsNow(): number {
    let n = 0;
    for (const h of this.lab.hosts) {
      try {
        n += this.lab.readHostFile(h.name, SSHD_LOG).split('\n').filter((l) => l.includes('Accepted publickey')).length;
      } catch {
        /* no log yet */
      }
    }
    return n;
  }

  /** `pulumi <args>` on the lab stack, from the scenario's program. */
  pulumi(args: readonly string[], opts: { readonly allowFailure?: boolean } = {}): Promise<PulumiRun> {
    return labPulumi(this.lab, args, { ...(this.options.programDir !== undefined && { programDir: this.options.programDir }), ...opts });
  }

  /** `pulumi up --json` (with --parallel when set); what ran where. */
  async up(extraArgs: readonly string[] = []): Promise<UpFigures> {
    const sessionsBefore = this.sshSessionsNow();
    const parallel = this.options.parallel === undefined ? [] : ['--parallel', String(this.options.parallel)];
    const [run, seconds] = await timed(() => this.pulumi(['up', '--yes', '--skip-preview', '--json', ...parallel, ...extraArgs]));
    const load = loadAverage();
    const { steps, remote } = remoteCommandSteps(run.stdout);
    const remoteByHost: Record<string, RemoteStep[]> = {};
    const hosts = this.lab.hosts.map((h) => h.name);
    for (const step of remote) {
      const host = hosts.find((h) => step.name.startsWith(`${this.lab.name}-${h}-`)) ?? '(no host)';
      (remoteByHost[host] ??= []).push(step);
    }
    const dialRetries = (run.stdout.match(/Dial[a-z ]* \d+\/(?:\d+|inf) failed: retrying/g) ?? []).length;
    return { seconds, remoteByHost, remoteTotal: remote.length, steps, sshSessions: this.sshSessionsNow() - sessionsBefore, dialRetries, load };
  }

  async setDriftCheck(on: boolean): Promise<void> {
    if (on) await this.pulumi(['config', 'rm', 'ipsec-mesh:driftCheck']);
    else await this.pulumi(['config', 'set', 'ipsec-mesh:driftCheck', 'false']);
  }

  async pairs(): Promise<HostPairSet> {
    return computeHostPairs(await loadInventoryFile(this.inventoryPath));
  }

  /**
   * Sends one datagram per pair and family, from the pair's `a` host to `b`'s address (one
   * initiator per pair: both ends at once would negotiate two IKE_SAs), then polls each host's
   * `swanctl --list-sas` until every pair/family is ESTABLISHED on both ends. A pair not up
   * on both ends gets another datagram every 30 s.
   */
  async establishAll(): Promise<EstablishFigures> {
    const set = await this.pairs();
    const byAddress = new Map(this.lab.hosts.flatMap((h) => [...h.ipv4, ...h.ipv6].map((a) => [a, h.name] as const)));
    const expected = new Map<string, { from: string; to: string }>();
    for (const p of set.pairs) for (const f of p.families) expected.set(pairFamilyKey(p.a, p.b, f.family), { from: p.a, to: f.b });
    // key → hosts that see it ESTABLISHED
    const ends = new Map<string, Set<string>>();
    const complete = new Set<string>();
    const expectedPerHost = new Map(set.hostNames.map((h) => [h, [...expected.keys()].filter((k) => k.split('/')[0]!.split('~').includes(h))] as const));
    const missing = (): string[] => [...expected.keys()].filter((k) => (ends.get(k)?.size ?? 0) < 2);
    const send = async (keys: readonly string[]): Promise<void> => {
      const targets = new Map<string, string[]>();
      for (const k of keys) {
        const e = expected.get(k)!;
        targets.set(e.from, [...(targets.get(e.from) ?? []), e.to]);
      }
      await Promise.all([...targets].map(([from, to]) => sendDatagrams(this.lab, from, to)));
    };
    /** Records the ESTABLISHED IKE_SAs `h` holds; marks it complete when it has all of its own. */
    const listHost = async (h: string): Promise<void> => {
      const sas = await this.lab.listSas(h);
      // What `h` held before and lost meanwhile no longer counts (an IKE_SA can be deleted, e.g. by DPD).
      for (const k of expectedPerHost.get(h)!) ends.get(k)?.delete(h);
      for (const sa of sas) {
        if (sa.state !== 'ESTABLISHED') continue;
        const peer = byAddress.get(sa.remoteHost);
        if (peer === undefined) continue;
        const key = pairFamilyKey(h, peer, sa.remoteHost.includes(':') ? 'ipv6' : 'ipv4');
        ends.set(key, (ends.get(key) ?? new Set()).add(h));
      }
      if (expectedPerHost.get(h)!.every((k) => ends.get(k)?.has(h))) complete.add(h);
    };
    // `--stats` (one line of counts, cheap under load) until a host holds enough IKE_SAs to be
    // complete; only then its full list. A few hosts at a time: 100 swanctl runs at once would
    // take the CPU the negotiations need.
    const statsThenList = async (h: string): Promise<void> => {
      const stats = /IKE_SAs: (\d+) total, (\d+) half-open/.exec((await this.lab.swanctl(h, ['--stats'])).stdout);
      if (stats && Number(stats[1]) - Number(stats[2]) < expectedPerHost.get(h)!.length) return;
      await listHost(h);
    };
    const incomplete = (): string[] => set.hostNames.filter((h) => !complete.has(h));
    let rounds = 0;
    let lastSend = 0;
    const cpu0 = charonCpuSeconds(this.lab);
    const t0 = Date.now();
    const done = await waitFor(
      async () => {
        if (rounds === 0 || Date.now() - lastSend >= RESEND_AFTER_MS) {
          // Again only for pairs not up on both ends, from a fresh list of every incomplete host:
          // a datagram on a pair that is up makes charon try a CHILD_SA again, which costs a
          // key exchange (and fails on this kernel anyway).
          if (rounds > 0) await forEachLimited(incomplete(), POLL_CONCURRENCY, listHost);
          const keys = rounds === 0 ? [...expected.keys()] : missing();
          rounds++;
          lastSend = Date.now();
          await send(keys);
          this.progress(`traffic round ${rounds}: ${keys.length} pair/family keys (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        }
        await forEachLimited(incomplete(), POLL_CONCURRENCY, statsThenList);
        return missing().length === 0 ? true : undefined;
      },
      this.options.establishTimeoutMs ?? 900_000,
      2_000,
    );
    const seconds = (Date.now() - t0) / 1000;
    const left = missing();
    this.progress(`IKE_SAs: ${expected.size - left.length} of ${expected.size} pair/family keys up on both ends in ${seconds.toFixed(1)} s${done === true ? '' : ' (gave up)'}`);
    const charonCpu = charonCpuSeconds(this.lab) - cpu0;
    return { seconds, expected: expected.size, established: expected.size - left.length, missing: left, trafficRounds: rounds, charonCpuSeconds: charonCpu, load: loadAverage() };
  }

  /** Puts the extra host into the inventory (its own site by round-robin) and runs `up`. */
  async addHost(): Promise<UpFigures & { readonly addedHost: string }> {
    writeLabInventory(this.lab, { ...ScaleLab.inventoryOptions(this.options, [...this.meshHosts, this.addedHost]), file: this.inventoryPath });
    return { ...(await this.up()), addedHost: this.addedHost };
  }

  /** `pulumi destroy`, then the lab down; returns destroy's seconds and anything left behind. */
  async destroyAndStop(): Promise<{ destroySeconds: number; leftovers: string[] }> {
    const processes = this.lab.processes;
    let destroySeconds = Number.NaN;
    try {
      [, destroySeconds] = await withoutCheckpoints(this.options.fastSetup === true, () => timed(() => this.pulumi(['destroy', '--yes', '--skip-preview'])));
    } finally {
      await stopLab(this.lab.name);
    }
    const leftovers = [...labLeftovers(this.lab.name), ...processes.filter(isProcessRunning).map((p) => `${p.role} pid ${p.pid} still running`)];
    return { destroySeconds, leftovers };
  }
}

/** The whole scenario in order (the benchmark); a failure still takes the lab down. */
export async function runScaleLabScenario(options: ScaleLabOptions): Promise<ScaleLabReport> {
  const say = options.onProgress ?? (() => undefined);
  const scale = await ScaleLab.start(options);
  say(`lab ${options.name}: ${options.hosts + 1} hosts up in ${scale.startSeconds.toFixed(1)} s`);
  let stopped = false;
  try {
    const firstUp = await withoutCheckpoints(options.fastSetup === true, () => scale.up());
    say(`first up: ${firstUp.seconds.toFixed(1)} s, ${firstUp.remoteTotal} remote commands (load ${firstUp.load})`);
    const establish = await scale.establishAll();
    const memoryWithSas = labMemory(scale.lab);
    const noChange = await scale.up(['--expect-no-changes']);
    say(`no-change up: ${noChange.seconds.toFixed(1)} s, ${noChange.remoteTotal} remote commands, ${noChange.sshSessions} SSH sessions (load ${noChange.load})`);
    await scale.setDriftCheck(false);
    const noChangeNoDrift = await scale.up(['--expect-no-changes']);
    await scale.setDriftCheck(true);
    say(`no-change up, driftCheck false: ${noChangeNoDrift.seconds.toFixed(1)} s, ${noChangeNoDrift.remoteTotal} remote commands, ${noChangeNoDrift.sshSessions} SSH sessions (load ${noChangeNoDrift.load})`);
    const addHost = await scale.addHost();
    say(`add ${addHost.addedHost}: ${addHost.seconds.toFixed(1)} s, ${addHost.remoteTotal} remote commands on ${Object.keys(addHost.remoteByHost).length} host(s) (load ${addHost.load})`);
    stopped = true;
    const { destroySeconds, leftovers } = await scale.destroyAndStop();
    return {
      hosts: options.hosts,
      selectors: options.selectors ?? 'default',
      parallel: options.parallel ?? 'default',
      fastSetup: options.fastSetup === true,
      labStartSeconds: scale.startSeconds,
      memory: scale.idleMemory,
      memoryWithSas,
      firstUp,
      establish,
      noChange,
      noChangeNoDrift,
      addHost,
      destroySeconds,
      leftovers,
    };
  } finally {
    if (!stopped) await scale.destroyAndStop().catch(() => undefined);
  }
}

/** What one first `up` at a `--parallel` value cost (sweepFirstUp). */
export interface ParallelRun {
  readonly parallel: number;
  readonly up: UpFigures;
  readonly destroySeconds: number;
}

/** The first `up` from nothing at each `--parallel` value (destroyed after each), on one lab. */
export async function sweepFirstUp(options: Omit<ScaleLabOptions, 'parallel'>, parallels: readonly number[]): Promise<ParallelRun[]> {
  const out: ParallelRun[] = [];
  const scale = await ScaleLab.start(options);
  try {
    for (const p of parallels) {
      const up = await withoutCheckpoints(options.fastSetup === true, () => scale.up(['--parallel', String(p)]));
      const [, destroySeconds] = await withoutCheckpoints(options.fastSetup === true, () => timed(() => scale.pulumi(['destroy', '--yes', '--skip-preview', '--parallel', String(p)])));
      (options.onProgress ?? (() => undefined))(`--parallel ${p}: up ${up.seconds.toFixed(1)} s (${up.remoteTotal} remote commands, ${up.dialRetries} dial retries, load ${up.load}), destroy ${destroySeconds.toFixed(1)} s`);
      out.push({ parallel: p, up, destroySeconds });
    }
  } finally {
    await scale.destroyAndStop();
  }
  return out;
}
