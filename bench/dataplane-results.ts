// The pure half of `npm run bench:dataplane` (bench/dataplane.ts): what the variants are,
// iperf3 --json parsed into figures, ratios, and the markdown table. No I/O here.
import { DEFAULT_ESP_PROPOSALS } from '../components/inventory/defaults.js';

export class DataplaneBenchError extends Error {
  override readonly name = 'DataplaneBenchError';
}

/** How a variant protects the bench's traffic between the two hosts. */
export type DataplaneVariantKind = 'cleartext' | 'esp' | 'wireguard';
/** The kernel transforms the bench can set up by hand (bench/dataplane-host.sh esp-up ALG). */
export type EspHostAlgorithm = 'gcm' | 'cbc-sha512';

export interface DataplaneVariant {
  readonly id: 'cleartext' | 'esp-default' | 'esp-aes256-sha512' | 'wireguard';
  /** The row's name in the table. */
  readonly label: string;
  readonly kind: DataplaneVariantKind;
  readonly espAlgorithm?: EspHostAlgorithm;
}

/** ESP proposal words (before the key exchange) → the transform the host script installs. */
const ESP_HOST_ALGORITHMS: Readonly<Record<string, EspHostAlgorithm>> = {
  aes256gcm16: 'gcm',
  'aes256-sha512': 'cbc-sha512',
};

/** The encryption part of an ESP proposal: `aes256gcm16-ecp384` → `aes256gcm16`, `aes256-sha512-modp4096` → `aes256-sha512`. */
export function espTransformOf(proposal: string): string {
  const words = proposal.split('-');
  const dh = words.findIndex((w) => /^(modp|ecp|curve|x25519|x448|mlkem|ke\d)/.test(w));
  return (dh === -1 ? words : words.slice(0, dh)).join('-');
}

/** The four rows, in table order; the second is whatever ipsec-mesh's default ESP proposal is. */
export function dataplaneVariants(defaultEspProposal: string = DEFAULT_ESP_PROPOSALS[0]!): DataplaneVariant[] {
  const transform = espTransformOf(defaultEspProposal);
  const algorithm = ESP_HOST_ALGORITHMS[transform];
  if (algorithm === undefined) {
    throw new DataplaneBenchError(`the default ESP proposal ${defaultEspProposal} (${transform}) has no host-side transform in bench:dataplane: add it to ESP_HOST_ALGORITHMS`);
  }
  return [
    { id: 'cleartext', label: 'cleartext', kind: 'cleartext' },
    { id: 'esp-default', label: `ESP ${transform} (ipsec-mesh default)`, kind: 'esp', espAlgorithm: algorithm },
    { id: 'esp-aes256-sha512', label: 'ESP aes256-sha512 (seeds\' historical)', kind: 'esp', espAlgorithm: 'cbc-sha512' },
    { id: 'wireguard', label: 'WireGuard', kind: 'wireguard' },
  ];
}

/** One iperf3 TCP run, from the client's --json. */
export interface TcpFigures {
  /** What the receiver got (end.sum_received). */
  readonly bitsPerSecond: number;
  readonly seconds: number;
  readonly streams: number;
  readonly retransmits: number;
  /** The iperf3 processes' own CPU (user + system, 100 = one core): the client sends, the server receives. */
  readonly senderCpuPercent: number;
  readonly receiverCpuPercent: number;
}

/** One iperf3 UDP run (-u -l 64 -b 0), from the client's --json. */
export interface UdpFigures {
  readonly packetsSent: number;
  readonly packetsLost: number;
  readonly seconds: number;
  /** Packets the server received per second (sent − lost). */
  readonly receivedPacketsPerSecond: number;
  readonly lostPercent: number;
  readonly senderCpuPercent: number;
  readonly receiverCpuPercent: number;
}

interface Iperf3Json {
  readonly error?: unknown;
  readonly start?: { readonly test_start?: { readonly protocol?: unknown; readonly num_streams?: unknown } };
  readonly end?: {
    readonly sum?: Record<string, unknown>;
    readonly sum_sent?: Record<string, unknown>;
    readonly sum_received?: Record<string, unknown>;
    readonly cpu_utilization_percent?: Record<string, unknown>;
  };
}

function parseIperf3(json: string, what: string): Iperf3Json {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new DataplaneBenchError(`${what}: iperf3 did not print JSON (${json.trim().slice(0, 120) || 'no output'})`);
  }
  if (doc === null || typeof doc !== 'object') throw new DataplaneBenchError(`${what}: iperf3's JSON is not an object`);
  const parsed = doc as Iperf3Json;
  if (typeof parsed.error === 'string') throw new DataplaneBenchError(`${what}: iperf3: ${parsed.error}`);
  return parsed;
}

function num(obj: Record<string, unknown> | undefined, key: string, what: string): number {
  const v = obj?.[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new DataplaneBenchError(`${what}: iperf3's JSON has no number ${key}`);
  return v;
}

function cpu(doc: Iperf3Json, what: string): { senderCpuPercent: number; receiverCpuPercent: number } {
  const c = doc.end?.cpu_utilization_percent;
  return { senderCpuPercent: num(c, 'host_total', what), receiverCpuPercent: num(c, 'remote_total', what) };
}

/** A TCP client run's figures. Throws DataplaneBenchError on iperf3's own error or a UDP run. */
export function parseIperf3Tcp(json: string, what = 'iperf3 TCP'): TcpFigures {
  const doc = parseIperf3(json, what);
  const protocol = doc.start?.test_start?.protocol;
  if (protocol !== 'TCP') throw new DataplaneBenchError(`${what}: expected a TCP run, iperf3 says ${String(protocol)}`);
  const received = doc.end?.sum_received;
  const sent = doc.end?.sum_sent;
  return {
    bitsPerSecond: num(received, 'bits_per_second', what),
    seconds: num(received, 'seconds', what),
    streams: typeof doc.start?.test_start?.num_streams === 'number' ? doc.start.test_start.num_streams : 1,
    retransmits: typeof sent?.retransmits === 'number' ? sent.retransmits : 0,
    ...cpu(doc, what),
  };
}

/**
 * A UDP client run's figures. iperf3 3.12 puts the server's count in `end.sum`; newer ones
 * also give `end.sum_received`: that one is preferred when present.
 */
export function parseIperf3Udp(json: string, what = 'iperf3 UDP'): UdpFigures {
  const doc = parseIperf3(json, what);
  const protocol = doc.start?.test_start?.protocol;
  if (protocol !== 'UDP') throw new DataplaneBenchError(`${what}: expected a UDP run, iperf3 says ${String(protocol)}`);
  const sum = doc.end?.sum_received ?? doc.end?.sum;
  const packetsSent = num(doc.end?.sum_sent ?? doc.end?.sum, 'packets', what);
  const packetsLost = num(sum, 'lost_packets', what);
  const seconds = num(sum, 'seconds', what);
  if (seconds <= 0) throw new DataplaneBenchError(`${what}: the run lasted ${seconds} s`);
  const received = Math.max(0, num(sum, 'packets', what) - packetsLost);
  return {
    packetsSent,
    packetsLost,
    seconds,
    receivedPacketsPerSecond: received / seconds,
    lostPercent: num(sum, 'lost_percent', what),
    ...cpu(doc, what),
  };
}

/** Evidence that the variant's protection carried the traffic: counters read before teardown. */
export interface WireEvidence {
  /** ESP: bytes on the run's own SAs, per host, out and in. WireGuard: bytes through the link, tx and rx. */
  readonly counters: Readonly<Record<string, { readonly out: number; readonly in: number }>>;
}

export interface VariantFigures {
  readonly variant: DataplaneVariant;
  readonly tcp1: TcpFigures;
  readonly tcp4: TcpFigures;
  readonly udp64: UdpFigures;
  readonly wire?: WireEvidence;
}

/**
 * Throws unless the variant's own SAs (or WireGuard link) carried at least what iperf3's
 * 1-stream TCP run moved, sender out and receiver in: otherwise another policy (a pass shunt,
 * say) took the traffic and the row would be cleartext under the variant's name.
 */
export function checkWireEvidence(row: VariantFigures, sender: string, receiver: string): void {
  if (row.variant.kind === 'cleartext') return;
  const moved = (row.tcp1.bitsPerSecond * row.tcp1.seconds) / 8;
  const what = row.variant.kind === 'esp' ? "the run's ESP SAs" : 'the WireGuard link';
  const sent = row.wire?.counters[sender]?.out;
  const received = row.wire?.counters[receiver]?.in;
  if (sent === undefined || received === undefined) throw new DataplaneBenchError(`${row.variant.label}: no byte counters of ${what}`);
  if (sent < moved || received < moved) {
    throw new DataplaneBenchError(
      `${row.variant.label}: ${what} carried ${sent} bytes out of ${sender} and ${received} into ${receiver}, while iperf3 moved ${Math.round(moved)}: ` +
        'something else carried the traffic (a policy of higher priority for the port?), so this row would not measure the variant',
    );
  }
}

export interface VariantRatios {
  /** TCP 1 stream and 4 streams, against the cleartext row (undefined: no cleartext row). */
  readonly toCleartext?: { readonly tcp1: number; readonly tcp4: number };
  readonly toWireguard?: { readonly tcp1: number; readonly tcp4: number };
  /** (sender + receiver CPU %) per Gbit/s of the 1-stream TCP run. */
  readonly cpuPercentPerGbps: number;
}

const GBIT = 1e9;

function ratio(a: TcpFigures, b: TcpFigures | undefined): number | undefined {
  return b === undefined || b.bitsPerSecond <= 0 ? undefined : a.bitsPerSecond / b.bitsPerSecond;
}

/** CPU per Gbit/s of one TCP run: sender + receiver CPU % (100 = one core) over Gbit/s. */
export function cpuPercentPerGbps(run: TcpFigures): number {
  if (run.bitsPerSecond <= 0) throw new DataplaneBenchError('no throughput: CPU per Gbit/s is undefined');
  return (run.senderCpuPercent + run.receiverCpuPercent) / (run.bitsPerSecond / GBIT);
}

export function variantRatios(row: VariantFigures, rows: readonly VariantFigures[]): VariantRatios {
  const base = (kind: DataplaneVariantKind): VariantFigures | undefined => rows.find((r) => r.variant.kind === kind);
  const pair = (other: VariantFigures | undefined): { tcp1: number; tcp4: number } | undefined => {
    const tcp1 = ratio(row.tcp1, other?.tcp1);
    const tcp4 = ratio(row.tcp4, other?.tcp4);
    return tcp1 === undefined || tcp4 === undefined ? undefined : { tcp1, tcp4 };
  };
  const toCleartext = pair(base('cleartext'));
  const toWireguard = pair(base('wireguard'));
  return { ...(toCleartext && { toCleartext }), ...(toWireguard && { toWireguard }), cpuPercentPerGbps: cpuPercentPerGbps(row.tcp1) };
}

export interface DataplaneReportHeader {
  readonly hosts: readonly [string, string];
  /** The addresses the traffic ran between (outer, for ESP and WireGuard). */
  readonly addresses: readonly [string, string];
  readonly secondsPerRun: number;
  readonly startedAt: string;
  /** Figures from emulated guests (qemu TCG): marked on every line, never a result. */
  readonly emulated?: boolean;
}

const gbps = (bps: number): string => (bps / GBIT).toFixed(bps >= GBIT ? 2 : 3);
const times = (r: { tcp1: number; tcp4: number } | undefined): string => (r === undefined ? '–' : `${r.tcp1.toFixed(2)}× / ${r.tcp4.toFixed(2)}×`);

/** The report: a header and one markdown row per variant. */
export function formatDataplaneTable(header: DataplaneReportHeader, rows: readonly VariantFigures[]): string {
  const mark = header.emulated ? ' (emulated)' : '';
  const lines = [
    `# bench:dataplane — ${header.hosts[0]} → ${header.hosts[1]} (${header.addresses[0]} → ${header.addresses[1]}), ${header.startedAt}${mark}`,
    ...(header.emulated
      ? ['**EMULATED: qemu guests under TCG. These figures test the bench, they are not results: do not quote them.**']
      : []),
    `iperf3, ${header.secondsPerRun} s per run; CPU = the iperf3 processes' user + system time (100 % = one core), sender = ${header.hosts[0]}, receiver = ${header.hosts[1]}; ratios: TCP 1 stream / 4 streams`,
    '',
    '| variant | TCP 1 stream Gbit/s | TCP 4 streams Gbit/s | UDP 64 B received pps (lost) | sender CPU % | receiver CPU % | CPU % per Gbit/s | vs cleartext | vs WireGuard |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const r = variantRatios(row, rows);
    lines.push(
      `| ${row.variant.label}${mark} | ${gbps(row.tcp1.bitsPerSecond)} | ${gbps(row.tcp4.bitsPerSecond)} | ${Math.round(row.udp64.receivedPacketsPerSecond)} (${row.udp64.lostPercent.toFixed(1)} %) | ` +
        `${row.tcp1.senderCpuPercent.toFixed(1)} | ${row.tcp1.receiverCpuPercent.toFixed(1)} | ${r.cpuPercentPerGbps.toFixed(1)} | ${times(r.toCleartext)} | ${times(r.toWireguard)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
