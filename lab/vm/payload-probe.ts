// The wire proof: a known payload sent over UDP from one guest to another while tcpdump
// records the site bridge. Encrypted means ESP frames between the two addresses and the
// payload's bytes nowhere in any frame; the receiver says whether it arrived at all.
import { randomBytes } from 'node:crypto';
import type { AddressFamily } from '../../components/inventory/model.js';
import { type PcapFrame, summariseWire, type WireSummary } from './pcap.js';
import type { VmLab } from './vm-lab.js';
import { VmLabError } from './vm-errors.js';

export interface PayloadProbeOptions {
  readonly from: string;
  readonly to: string;
  readonly family: AddressFamily;
  /** Default `ipsec-mesh-payload-<random hex>`: unique, so an old capture never matches. */
  readonly payload?: string;
  /** Datagrams sent, one per `intervalSeconds` (default 8 × 0.5 s: the first ones may only start IKE). */
  readonly datagrams?: number;
  readonly intervalSeconds?: number;
  readonly port?: number;
  /** Run a receiver on `to` (default true). Without one, `to` answers ICMP port-unreachable. */
  readonly listen?: boolean;
  /** Capture on this site's bridge (default: `from`'s site). */
  readonly site?: string;
}

export interface PayloadProbe {
  readonly from: string;
  readonly to: string;
  readonly family: AddressFamily;
  readonly fromAddress: string;
  readonly toAddress: string;
  readonly payload: string;
  /** The bridge the capture ran on (`br<i>` in the switch namespace). */
  readonly iface: string;
  /** Datagrams the sender's kernel accepted (`sent N of M`). */
  readonly sent: number;
  readonly wire: WireSummary;
  /** How many copies of the payload the receiver got (undefined without a receiver). */
  readonly received?: number;
}

export function newPayload(): string {
  return `ipsec-mesh-payload-${randomBytes(6).toString('hex')}`;
}

export async function probePayload(lab: VmLab, opts: PayloadProbeOptions): Promise<PayloadProbe> {
  const from = lab.host(opts.from);
  const to = lab.host(opts.to);
  const fromAddress = from[opts.family][0];
  const toAddress = to[opts.family][0];
  if (!fromAddress || !toAddress) throw new VmLabError(`${opts.from} → ${opts.to}: no ${opts.family} address on both`, lab.name);
  const payload = opts.payload ?? newPayload();
  if (!/^[A-Za-z0-9._-]+$/.test(payload)) throw new VmLabError(`payload must be [A-Za-z0-9._-]+, got ${JSON.stringify(payload)}`, lab.name);
  const port = opts.port ?? 5001;
  const datagrams = opts.datagrams ?? 8;
  const interval = opts.intervalSeconds ?? 0.5;
  const sinkFile = `/tmp/imlab-sink-${payload}`;
  const listen = opts.listen !== false;
  const seconds = Math.ceil(datagrams * interval) + 20;

  if (listen) await lab.exec(opts.to, ['imlab-udp-sink', String(port), String(seconds), sinkFile], { check: true });
  const capture = await lab.capture({ site: opts.site ?? from.site });
  let sent = 0;
  let frames: PcapFrame[] = [];
  try {
    const r = await lab.exec(opts.from, ['imlab-udp-send', toAddress, String(port), payload, String(datagrams), String(interval)], {
      timeoutMs: (seconds + 30) * 1000,
    });
    sent = Number(/sent (\d+) of/.exec(r.stdout)?.[1] ?? 0);
    await new Promise((r) => setTimeout(r, 500)); // the last frames cross the bridge
  } finally {
    frames = await capture.stop();
  }
  let received: number | undefined;
  if (listen) {
    // Read what arrived, then stop the receiver: the next probe binds the same port.
    const r = await lab.exec(opts.to, ['sh', '-c', `cat ${sinkFile}; kill $(cat ${sinkFile}.bound) 2>/dev/null; rm -f ${sinkFile}*`]);
    // Each line is the payload and the datagram's sequence number (imlab-udp-send).
    received = r.stdout.split('\n').filter((l) => l.startsWith(`${payload} `)).length;
  }
  return {
    from: opts.from,
    to: opts.to,
    family: opts.family,
    fromAddress,
    toAddress,
    payload,
    iface: capture.iface,
    sent,
    wire: summariseWire(frames, fromAddress, toAddress, payload),
    ...(received !== undefined && { received }),
  };
}

/** One line for people: what was sent, what the wire showed, what arrived. */
export function formatProbe(p: PayloadProbe): string {
  const w = p.wire;
  return [
    `${p.from} → ${p.to} (${p.family}, ${p.fromAddress} → ${p.toAddress}): "${p.payload}" sent ${p.sent}×`,
    `  capture on ${p.iface}: ${w.frames} frame(s), ${w.esp} ESP and ${w.ike} IKE between the two, ` +
      `${w.plaintextOccurrences} plaintext occurrence(s) of the payload${w.plaintextFrames ? ` in ${w.plaintextFrames} frame(s)` : ''}`,
    ...(p.received !== undefined ? [`  received by ${p.to}: ${p.received}×`] : []),
    ...w.leaks.slice(0, 5).map((l) => `  cleartext: ${l}`),
  ].join('\n');
}
