// The orchestration of `npm run bench:dataplane` (docs/benchmarks.md, "Data plane on real
// hosts"): two inventory hosts over SSH (host keys pinned from the inventory, as `ipsec-mesh
// status` does), one variant after the other — cleartext, ESP with ipsec-mesh's default
// transform, ESP aes256-sha512, WireGuard — each set up, measured with iperf3 and torn down.
// The host side is bench/dataplane-host.sh, copied into a run directory on each host; whatever
// happens, that script's `cleanup` removes what the run added (policies, SAs, link, processes,
// the directory).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { managedHosts } from '../components/inventory/managed-hosts.js';
import type { Host, Inventory } from '../components/inventory/model.js';
import { runOverSsh, type SshResult, type SshRunOptions } from '../components/operations/ssh-runner.js';
import {
  type DataplaneReportHeader,
  type DataplaneVariant,
  type UdpFigures,
  type VariantFigures,
  type WireEvidence,
  DataplaneBenchError,
  checkWireEvidence,
  dataplaneVariants,
  formatDataplaneTable,
  parseIperf3Tcp,
  parseIperf3Udp,
  type TcpFigures,
} from './dataplane-results.js';

/** A host lacks a tool the bench needs: named, never installed behind the user's back. */
export class DataplanePrerequisiteError extends DataplaneBenchError {
  constructor(readonly missing: Readonly<Record<string, readonly string[]>>) {
    super(
      `bench:dataplane needs these tools on both hosts (it installs nothing):\n${Object.entries(missing)
        .map(([host, tools]) => `  ${host}: missing ${tools.join(', ')} (Debian: ${tools.map((t) => TOOL_PACKAGES[t] ?? t).join(' ')})`)
        .join('\n')}`,
    );
  }
}

const TOOL_PACKAGES: Readonly<Record<string, string>> = { ip: 'iproute2', iperf3: 'iperf3', wg: 'wireguard-tools', od: 'coreutils' };

/** bench/dataplane-host.sh, from the sources (bench/) or the build (dist/bench/). */
export const HOST_SCRIPT_PATH = findHostScript(dirname(fileURLToPath(import.meta.url)));

function findHostScript(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'bench', 'dataplane-host.sh');
    if (existsSync(candidate)) return candidate;
    if (existsSync(join(dir, 'dataplane-host.sh'))) return join(dir, 'dataplane-host.sh');
    if (dirname(dir) === dir) throw new DataplaneBenchError(`bench/dataplane-host.sh not found above ${from}`);
  }
}

/** iperf3's own default port. */
export const DEFAULT_IPERF3_PORT = 5201;
export const DEFAULT_WIREGUARD_PORT = 51820;
/** The WireGuard link's addresses: documentation range, a /30 the lab layouts leave free. */
export const WIREGUARD_TUNNEL = { client: '203.0.113.249', server: '203.0.113.250', prefixLength: 30 } as const;

export interface DataplaneHooks {
  /** After the variant is set up and before iperf3 runs (e.g. start a capture). */
  readonly beforeRuns?: (variant: DataplaneVariant) => Promise<void>;
  /** After iperf3's runs and before the variant is torn down (e.g. read counters). */
  readonly afterRuns?: (variant: DataplaneVariant) => Promise<void>;
}

export interface DataplaneBenchOptions {
  readonly inventory: Inventory;
  /** Sender (iperf3 client) and receiver (iperf3 server), by inventory name. */
  readonly hosts: readonly [string, string];
  readonly ssh: SshRunOptions;
  /** Per iperf3 run (three runs per variant). */
  readonly seconds?: number;
  readonly port?: number;
  readonly wireguardPort?: number;
  /** Default: all four. */
  readonly variants?: readonly DataplaneVariant['id'][];
  /** Figures from emulated guests: marked as such in the table. */
  readonly emulated?: boolean;
  readonly onProgress?: (line: string) => void;
  readonly hooks?: DataplaneHooks;
  /** Aborts between steps (an interrupt): the run is torn down before the error is thrown. */
  readonly signal?: AbortSignal;
}

export interface DataplaneBenchResult {
  readonly header: DataplaneReportHeader;
  readonly rows: readonly VariantFigures[];
  readonly table: string;
  /** The run directory on each host (gone again when this resolves). */
  readonly runDir: string;
  /** The WireGuard link's name on both hosts (gone again). */
  readonly wireguardLink: string;
}

/** `'…'` for the remote login shell (runOverSsh passes one command line). */
function sq(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The first family both hosts have an address in; its first address on each. */
function benchAddresses(a: Host, b: Host): readonly [string, string] {
  for (const family of ['ipv4', 'ipv6'] as const) {
    const x = a.addresses[family][0];
    const y = b.addresses[family][0];
    if (x !== undefined && y !== undefined) return [x.address, y.address];
  }
  throw new DataplaneBenchError(`${a.name} and ${b.name} have no address family in common in the inventory`);
}

function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Runs the whole bench; the hosts are left as they were, also when it fails. */
export async function runDataplaneBench(opts: DataplaneBenchOptions): Promise<DataplaneBenchResult> {
  const [nameA, nameB] = opts.hosts;
  if (nameA === nameB) throw new DataplaneBenchError(`--hosts needs two different hosts, got ${nameA} twice`);
  const managed = managedHosts(opts.inventory);
  const find = (name: string): Host => {
    const h = managed.find((x) => x.name === name);
    if (h === undefined) throw new DataplaneBenchError(`${name} is not a managed host of ${opts.inventory.source} (the bench logs in to it over SSH)`);
    return h;
  };
  const hostA = find(nameA);
  const hostB = find(nameB);
  const addresses = benchAddresses(hostA, hostB);
  const seconds = opts.seconds ?? 10;
  if (!Number.isInteger(seconds) || seconds < 1) throw new DataplaneBenchError(`--seconds must be a whole number ≥ 1, got ${seconds}`);
  const port = opts.port ?? DEFAULT_IPERF3_PORT;
  const wgPort = opts.wireguardPort ?? DEFAULT_WIREGUARD_PORT;
  const wanted = opts.variants === undefined ? undefined : new Set(opts.variants);
  const variants = dataplaneVariants().filter((v) => wanted === undefined || wanted.has(v.id));
  const progress = opts.onProgress ?? (() => undefined);
  const runId = randomBytes(4).toString('hex');
  const runDir = `/run/ipsec-mesh-bench-${runId}`;
  const wireguardLink = `imbench${runId}`;
  const script = readFileSync(HOST_SCRIPT_PATH, 'utf8');
  const startedAt = new Date().toISOString();

  /** One step of the host script. `secretOutput`: stdout carries keys, so no error quotes it. */
  const step = async (host: Host, args: readonly (string | number)[], stdin?: string, secretOutput = false): Promise<string> => {
    opts.signal?.throwIfAborted();
    const command = ['sh', `${runDir}/dataplane-host.sh`, runDir, ...args.map(String)].map(sq).join(' ');
    const r: SshResult = await runOverSsh(host, command, opts.ssh, stdin);
    // An interrupt (Ctrl-C) also kills the ssh in flight: say why, not just "exit 255".
    opts.signal?.throwIfAborted();
    if (r.code !== 0) {
      const detail = [r.stderr.trim(), secretOutput ? '' : r.stdout.trim().slice(0, 400)].filter(Boolean).join('\n');
      throw new DataplaneBenchError(`${host.name}: ${String(args[0])} failed (exit ${r.code})${detail ? `:\n${detail}` : ''}`);
    }
    return r.stdout;
  };
  const both = <T>(fn: (host: Host) => Promise<T>): Promise<[T, T]> => Promise.all([fn(hostA), fn(hostB)]);

  const installed: Host[] = [];
  const rows: VariantFigures[] = [];
  try {
    await both(async (host) => {
      opts.signal?.throwIfAborted();
      // Before mkdir: a failed install still gets its cleanup (the directory may exist).
      installed.push(host);
      const r = await runOverSsh(host, `sh -c ${sq(`umask 077 && mkdir ${runDir} && cat > ${runDir}/dataplane-host.sh`)}`, opts.ssh, script);
      if (r.code !== 0) throw new DataplaneBenchError(`${host.name}: cannot create ${runDir} (exit ${r.code}): ${r.stderr.trim()}`);
    });
    const missing = await both(async (host) => (await step(host, ['check'])).split('\n').filter(Boolean));
    const lacking = Object.fromEntries([hostA, hostB].map((h, i) => [h.name, missing[i]!] as const).filter(([, m]) => m.length > 0));
    if (Object.keys(lacking).length > 0) throw new DataplanePrerequisiteError(lacking);

    for (const variant of variants) {
      progress(`${variant.label}: setting up`);
      let target = addresses[1];
      if (variant.kind === 'cleartext') {
        await Promise.all([step(hostA, ['bypass-up', 'client', addresses[0], addresses[1], port]), step(hostB, ['bypass-up', 'server', addresses[1], addresses[0], port])]);
      } else if (variant.kind === 'esp') {
        // Fresh random SAs, made on the sender; their keys travel only on SSH's stdin.
        const material = await step(hostA, ['esp-keys', variant.espAlgorithm!], undefined, true);
        await Promise.all([
          step(hostA, ['esp-up', variant.espAlgorithm!, 'client', addresses[0], addresses[1], port], material),
          step(hostB, ['esp-up', variant.espAlgorithm!, 'server', addresses[1], addresses[0], port], material),
        ]);
      } else {
        const t = WIREGUARD_TUNNEL;
        // The outer UDP bypasses any mesh policy between the two (no ESP around WireGuard).
        await Promise.all([step(hostA, ['bypass-up', 'client', addresses[0], addresses[1], wgPort]), step(hostB, ['bypass-up', 'server', addresses[1], addresses[0], wgPort])]);
        const [pubA, pubB] = await Promise.all([
          step(hostA, ['wg-up', wireguardLink, `${t.client}/${t.prefixLength}`, wgPort]),
          step(hostB, ['wg-up', wireguardLink, `${t.server}/${t.prefixLength}`, wgPort]),
        ]);
        await Promise.all([
          step(hostA, ['wg-peer', wireguardLink, pubB.trim(), endpoint(addresses[1], wgPort), `${t.server}/32`]),
          step(hostB, ['wg-peer', wireguardLink, pubA.trim(), endpoint(addresses[0], wgPort), `${t.client}/32`]),
        ]);
        target = t.server;
      }
      await step(hostB, ['server', port]);
      await opts.hooks?.beforeRuns?.(variant);

      const client = async (what: string, extra: readonly string[]): Promise<string> => {
        progress(`${variant.label}: ${what}`);
        // The first run may race the server's listen or WireGuard's first handshake: retry a refusal.
        for (let attempt = 1; ; attempt++) {
          try {
            return await step(hostA, ['client', target, port, seconds, ...extra]);
          } catch (e) {
            if (attempt >= 3 || !(e instanceof DataplaneBenchError) || !/Connection refused|unable to connect/i.test(e.message)) throw e;
            await new Promise((r) => setTimeout(r, 1_000));
          }
        }
      };
      const tcp1: TcpFigures = parseIperf3Tcp(await client('TCP, 1 stream', []), `${variant.label}, TCP 1 stream`);
      const tcp4: TcpFigures = parseIperf3Tcp(await client('TCP, 4 streams', ['-P', '4']), `${variant.label}, TCP 4 streams`);
      const udp64: UdpFigures = parseIperf3Udp(await client('UDP, 64-byte datagrams', ['-u', '-l', '64', '-b', '0']), `${variant.label}, UDP 64 B`);

      let wire: WireEvidence | undefined;
      if (variant.kind === 'esp') {
        const [a, b] = await Promise.all([step(hostA, ['esp-bytes', addresses[0], addresses[1]]), step(hostB, ['esp-bytes', addresses[1], addresses[0]])]);
        wire = { counters: { [hostA.name]: outIn(a), [hostB.name]: outIn(b) } };
      } else if (variant.kind === 'wireguard') {
        const [a, b] = await Promise.all([step(hostA, ['wg-bytes', wireguardLink]), step(hostB, ['wg-bytes', wireguardLink])]);
        wire = { counters: { [hostA.name]: rxTx(a), [hostB.name]: rxTx(b) } };
      }
      await opts.hooks?.afterRuns?.(variant);
      await both((h) => step(h, ['variant-down']));
      const row: VariantFigures = { variant, tcp1, tcp4, udp64, ...(wire && { wire }) };
      checkWireEvidence(row, nameA, nameB);
      rows.push(row);
    }
  } finally {
    // Exactly what the run added, on both hosts, also after an error or an interrupt.
    const failures: string[] = [];
    await Promise.all(
      installed.map(async (host) => {
        const r = await runOverSsh(host, ['sh', `${runDir}/dataplane-host.sh`, runDir, 'cleanup'].map(sq).join(' '), opts.ssh).catch((e: unknown) => ({
          code: 255,
          stderr: e instanceof Error ? e.message : String(e),
        }));
        // An install that failed before its mkdir leaves nothing: no script, nothing to undo.
        if (r.code !== 0) {
          const gone = await runOverSsh(host, `test ! -e ${sq(runDir)}`, opts.ssh).catch(() => undefined);
          if (gone?.code !== 0) failures.push(`${host.name}: cleanup failed (exit ${r.code}): ${r.stderr.trim()} — run \`sh ${runDir}/dataplane-host.sh ${runDir} cleanup\` there`);
        }
      }),
    );
    if (failures.length > 0) progress(`cleanup incomplete:\n  ${failures.join('\n  ')}`);
    if (failures.length > 0 && rows.length === variants.length) throw new DataplaneBenchError(`cleanup incomplete:\n  ${failures.join('\n  ')}`);
  }
  const header: DataplaneReportHeader = { hosts: [nameA, nameB], addresses, secondsPerRun: seconds, startedAt, ...(opts.emulated && { emulated: true }) };
  return { header, rows, table: formatDataplaneTable(header, rows), runDir, wireguardLink };
}

function twoNumbers(line: string, what: string): [number, number] {
  const [x, y] = line.trim().split(/\s+/).map(Number);
  if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) throw new DataplaneBenchError(`${what}: expected two numbers, got "${line.trim()}"`);
  return [x, y];
}

const outIn = (line: string): { out: number; in: number } => {
  const [out, inbound] = twoNumbers(line, 'ESP byte counters');
  return { out, in: inbound };
};
const rxTx = (line: string): { out: number; in: number } => {
  const [rx, tx] = twoNumbers(line, 'WireGuard transfer');
  return { out: tx, in: rx };
};
