// The pure half of bench:dataplane: iperf3 --json parsed (samples recorded from real iperf3 3.12
// runs between two lab guests), the variants, ratios, CPU per Gbit/s and the table.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ESP_PROPOSALS } from '../../components/inventory/defaults.js';
import {
  DataplaneBenchError,
  type TcpFigures,
  type UdpFigures,
  type VariantFigures,
  checkWireEvidence,
  cpuPercentPerGbps,
  dataplaneVariants,
  espTransformOf,
  formatDataplaneTable,
  parseIperf3Tcp,
  parseIperf3Udp,
  variantRatios,
} from '../../bench/dataplane-results.js';

const sample = (name: string): string => readFileSync(new URL(`./fixtures/iperf3/${name}.json`, import.meta.url), 'utf8');

describe('iperf3 --json (recorded: iperf3 3.12, guest to guest, cleartext, 2 s)', () => {
  it('TCP, 1 stream: the receiver\'s rate, the sender\'s retransmits, both ends\' CPU', () => {
    expect(parseIperf3Tcp(sample('guest-cleartext-tcp1'))).toEqual({
      bitsPerSecond: 443902137.50124836,
      seconds: 2.032607,
      streams: 1,
      retransmits: 2,
      senderCpuPercent: 62.51325157425806,
      receiverCpuPercent: 45.10177710425724,
    });
  });

  it('TCP, 4 streams: the sum over the streams', () => {
    const f = parseIperf3Tcp(sample('guest-cleartext-tcp4'));
    expect(f.streams).toBe(4);
    expect(f.bitsPerSecond).toBe(449968055.04432935);
    expect(f.retransmits).toBe(3);
    expect(f.receiverCpuPercent).toBe(48.806751278204786);
  });

  it('UDP, 64-byte datagrams: packets the server received per second (sent − lost), loss, CPU', () => {
    const f = parseIperf3Udp(sample('guest-cleartext-udp64'));
    expect(f.packetsSent).toBe(49670);
    expect(f.packetsLost).toBe(32278);
    expect(f.seconds).toBe(2.215716);
    // 49552 counted by the server − 32278 lost = 17274 received (= 1105536 bytes / 64).
    expect(f.receivedPacketsPerSecond).toBeCloseTo(17274 / 2.215716, 6);
    expect(f.lostPercent).toBeCloseTo(64.985, 3);
    expect(f.senderCpuPercent).toBeCloseTo(84.237, 3);
    expect(f.receiverCpuPercent).toBeCloseTo(17.961, 3);
  });

  it('without sum_received (older iperf3), the UDP figures come from end.sum', () => {
    const doc = JSON.parse(sample('guest-cleartext-udp64')) as { end: Record<string, unknown> };
    delete doc.end.sum_received;
    delete doc.end.sum_sent;
    const f = parseIperf3Udp(JSON.stringify(doc));
    expect(f.packetsSent).toBe(49670);
    expect(f.receivedPacketsPerSecond).toBeCloseTo((49670 - 32278) / 2.215716, 6);
  });

  it('refuses a run of the other protocol, iperf3\'s own error, and output that is not JSON', () => {
    expect(() => parseIperf3Tcp(sample('guest-cleartext-udp64'))).toThrow(/expected a TCP run, iperf3 says UDP/);
    expect(() => parseIperf3Udp(sample('guest-cleartext-tcp1'))).toThrow(/expected a UDP run, iperf3 says TCP/);
    // What iperf3 --json prints when the server is unreachable (its shape: start, intervals, end, error).
    const refused = JSON.stringify({ start: { connected: [] }, intervals: [], end: {}, error: 'unable to connect to server: Connection refused' });
    expect(() => parseIperf3Tcp(refused, 'cleartext, TCP 1 stream')).toThrow(new DataplaneBenchError('cleartext, TCP 1 stream: iperf3: unable to connect to server: Connection refused'));
    expect(() => parseIperf3Tcp('iperf3: error - unable to connect')).toThrow(/did not print JSON \(iperf3: error - unable to connect\)/);
    const noCpu = JSON.parse(sample('guest-cleartext-tcp1')) as { end: Record<string, unknown> };
    delete noCpu.end.cpu_utilization_percent;
    expect(() => parseIperf3Tcp(JSON.stringify(noCpu))).toThrow(/no number host_total/);
  });
});

describe('variants', () => {
  it('the proposal\'s transform, without its key exchange', () => {
    expect(espTransformOf('aes256gcm16-ecp384')).toBe('aes256gcm16');
    expect(espTransformOf('aes256-sha512-modp4096')).toBe('aes256-sha512');
    expect(espTransformOf('aes256gcm16')).toBe('aes256gcm16');
    expect(espTransformOf('aes256gcm16-ecp384-ke1_mlkem768')).toBe('aes256gcm16');
  });

  it('cleartext, ipsec-mesh\'s default ESP transform, aes256-sha512 and WireGuard, in that order', () => {
    const v = dataplaneVariants();
    expect(v.map((x) => x.id)).toEqual(['cleartext', 'esp-default', 'esp-aes256-sha512', 'wireguard']);
    expect(v[1]).toMatchObject({ kind: 'esp', espAlgorithm: 'gcm', label: `ESP ${espTransformOf(DEFAULT_ESP_PROPOSALS[0]!)} (ipsec-mesh default)` });
    expect(v[2]).toMatchObject({ kind: 'esp', espAlgorithm: 'cbc-sha512' });
  });

  it('a default the host script cannot install is an error, not a silent substitute', () => {
    expect(() => dataplaneVariants('chacha20poly1305-x25519')).toThrow(DataplaneBenchError);
  });
});

const tcp = (gbps: number, sender: number, receiver: number, streams = 1): TcpFigures => ({
  bitsPerSecond: gbps * 1e9,
  seconds: 10,
  streams,
  retransmits: 0,
  senderCpuPercent: sender,
  receiverCpuPercent: receiver,
});
const udp = (pps: number): UdpFigures => ({ packetsSent: pps * 10, packetsLost: 0, seconds: 10, receivedPacketsPerSecond: pps, lostPercent: 0, senderCpuPercent: 90, receiverCpuPercent: 60 });

function rows(): VariantFigures[] {
  const [clear, esp, legacy, wg] = dataplaneVariants();
  return [
    { variant: clear!, tcp1: tcp(10, 40, 60), tcp4: tcp(20, 120, 180, 4), udp64: udp(1_000_000) },
    { variant: esp!, tcp1: tcp(5, 50, 50), tcp4: tcp(16, 150, 150, 4), udp64: udp(600_000) },
    { variant: legacy!, tcp1: tcp(1, 50, 50), tcp4: tcp(4, 200, 200, 4), udp64: udp(300_000) },
    { variant: wg!, tcp1: tcp(4, 50, 50), tcp4: tcp(8, 150, 150, 4), udp64: udp(500_000) },
  ];
}

describe('ratios and CPU per Gbit/s', () => {
  it('CPU per Gbit/s: sender + receiver CPU % over the 1-stream rate', () => {
    expect(cpuPercentPerGbps(tcp(5, 50, 50))).toBe(20);
    expect(() => cpuPercentPerGbps(tcp(0, 1, 1))).toThrow(/no throughput/);
  });

  it('each row against cleartext and WireGuard, TCP 1 and 4 streams', () => {
    const all = rows();
    expect(variantRatios(all[1]!, all)).toEqual({ toCleartext: { tcp1: 0.5, tcp4: 0.8 }, toWireguard: { tcp1: 1.25, tcp4: 2 }, cpuPercentPerGbps: 20 });
    expect(variantRatios(all[0]!, all)).toMatchObject({ toCleartext: { tcp1: 1, tcp4: 1 }, toWireguard: { tcp1: 2.5, tcp4: 2.5 } });
    // Without a WireGuard row (e.g. --variants without it) there is nothing to compare with.
    expect(variantRatios(all[2]!, all.slice(0, 3))).toEqual({ toCleartext: { tcp1: 0.1, tcp4: 0.2 }, cpuPercentPerGbps: 100 });
  });
});

describe('the table', () => {
  const header = { hosts: ['a', 'b'] as const, addresses: ['198.51.100.10', '198.51.100.11'] as const, secondsPerRun: 10, startedAt: '2026-12-06T20:00:00.000Z' };

  it('one markdown row per variant with rates, CPU and both ratios', () => {
    const text = formatDataplaneTable(header, rows());
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('# bench:dataplane — a → b (198.51.100.10 → 198.51.100.11), 2026-12-06T20:00:00.000Z');
    expect(text).not.toMatch(/emulated/i);
    expect(lines.filter((l) => l.startsWith('| ')).slice(1)).toEqual([
      '| cleartext | 10.00 | 20.00 | 1000000 (0.0 %) | 40.0 | 60.0 | 10.0 | 1.00× / 1.00× | 2.50× / 2.50× |',
      '| ESP aes256gcm16 (ipsec-mesh default) | 5.00 | 16.00 | 600000 (0.0 %) | 50.0 | 50.0 | 20.0 | 0.50× / 0.80× | 1.25× / 2.00× |',
      '| ESP aes256-sha512 (seeds\' historical) | 1.00 | 4.00 | 300000 (0.0 %) | 50.0 | 50.0 | 100.0 | 0.10× / 0.20× | 0.25× / 0.50× |',
      '| WireGuard | 4.00 | 8.00 | 500000 (0.0 %) | 50.0 | 50.0 | 25.0 | 0.40× / 0.40× | 1.00× / 1.00× |',
    ]);
  });

  it('emulated figures are marked on the title, in a warning line and on every row', () => {
    const lines = formatDataplaneTable({ ...header, emulated: true }, rows()).trimEnd().split('\n');
    expect(lines[0]).toMatch(/\(emulated\)$/);
    expect(lines[1]).toMatch(/^\*\*EMULATED: qemu guests under TCG/);
    const body = lines.filter((l) => l.startsWith('| ')).slice(1);
    expect(body).toHaveLength(4);
    for (const l of body) expect(l).toMatch(/^\| [^|]+ \(emulated\) \|/);
  });

  it('rates under 1 Gbit/s keep three decimals (a slow link is not shown as 0.00)', () => {
    const slow = rows().map((r) => ({ ...r, tcp1: tcp(0.025, 48, 15) }));
    expect(formatDataplaneTable(header, slow)).toContain('| cleartext | 0.025 | 20.00 |');
  });
});

describe('the variant really carried the traffic', () => {
  const [clear, esp, , wg] = rows();
  // 5 Gbit/s for 10 s: 6.25 GB moved by the 1-stream run.
  const moved = 6.25e9;

  it('ESP SAs and WireGuard links that carried at least the 1-stream run pass', () => {
    expect(() => checkWireEvidence({ ...esp!, wire: { counters: { a: { out: moved * 1.5, in: 1e6 }, b: { out: 1e6, in: moved * 1.5 } } } }, 'a', 'b')).not.toThrow();
    expect(() => checkWireEvidence({ ...wg!, tcp1: esp!.tcp1, wire: { counters: { a: { out: moved, in: 0 }, b: { out: 0, in: moved } } } }, 'a', 'b')).not.toThrow();
    expect(() => checkWireEvidence(clear!, 'a', 'b')).not.toThrow();
  });

  it('SAs that saw less than iperf3 moved (another policy took the port) fail the run, naming the counts', () => {
    const bypassed = { ...esp!, wire: { counters: { a: { out: 1200, in: 0 }, b: { out: 0, in: 1200 } } } };
    expect(() => checkWireEvidence(bypassed, 'a', 'b')).toThrow(/carried 1200 bytes out of a and 1200 into b, while iperf3 moved 6250000000/);
    // The sender's SA carried it, the receiver's inbound one did not (it came in another way).
    expect(() => checkWireEvidence({ ...esp!, wire: { counters: { a: { out: moved, in: 0 }, b: { out: 0, in: 10 } } } }, 'a', 'b')).toThrow(/carried 6250000000 bytes out of a and 10 into b/);
    expect(() => checkWireEvidence(esp!, 'a', 'b')).toThrow(/no byte counters/);
  });
});
