// `npm run bench:dataplane` against two qemu guests (Debian's kernel: ESP and WireGuard), through
// its exported orchestration: every variant is set up, measured and torn down for real; the
// wire (a capture on the site bridge) and the kernel's counters show each variant carried the
// traffic; afterwards the guests are exactly as before. A missing tool and an interrupt are
// handled too, and an ipsec-mesh mesh running between the two (enforcement use) is left alone. The figures are emulated (TCG): the table says so, and nothing here compares them.
//
// Needs root and qemu-system-x86 (scripts/install-system-deps.sh --vm); the guest image (with
// iperf3 and wireguard-tools) is built on first use. Anything missing fails the file with a
// message; nothing is skipped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateMesh } from '../../components/cli/validate-mesh.js';
import { pushScript } from '../../components/delivery/index.js';
import { type Inventory, loadInventoryFile, parseInventory } from '../../components/inventory/index.js';
import { sendPairTraffic } from '../../lab/pair-traffic.js';
import { run } from '../../lab/netns/run-command.js';
import { DataplaneBenchError, type DataplaneVariant, dataplaneVariants } from '../../bench/dataplane-results.js';
import { DEFAULT_IPERF3_PORT, DEFAULT_WIREGUARD_PORT, DataplanePrerequisiteError, type DataplaneBenchResult, runDataplaneBench } from '../../bench/dataplane-run.js';
import { type LabSpec, type ProcessRecord, labInventory, waitFor, writeLabInventory } from '../../lab/netns/index.js';
import { type PcapFrame, IP_PROTO, type VmLab, type WireCapture, ensureGuestImage, missingVmPrerequisites, startVmLab, stopVmLab } from '../../lab/vm/index.js';
import { expectNothingLeft, pskPushPayload } from './lab-test-support.js';

const NAME = 'vmdp';
const SENDER = 'h1';
const RECEIVER = 'h2';
const SECONDS = 2;
const spec: LabSpec = {
  name: NAME,
  sites: [{ name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' }],
  hosts: [
    { name: SENDER, site: 'east' },
    { name: RECEIVER, site: 'east' },
  ],
};

let lab: VmLab;
let inventory: Inventory;
const t0 = Date.now();

/** What the bench could leave behind on a guest (keys masked: they never reach test output). */
async function guestSnapshot(host: string): Promise<string> {
  const r = await lab.exec(
    host,
    [
      'sh',
      '-c',
      'ip xfrm state | sed -E "s/0x[0-9a-f]{16,}/<key>/g"; echo ---; ip xfrm policy; echo ---; ip -o link show | cut -d" " -f2; echo ---; ls -a /run /tmp; echo ---; pgrep -a iperf3 || true',
    ],
    { check: true },
  );
  return r.stdout;
}

function ssh(): { identityFile: string; wrapper: string[] } {
  return { identityFile: lab.sshKeyPath, wrapper: ['ip', 'netns', 'exec', lab.operator.netns] };
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the vm tier needs root (network namespaces, tap devices, the image build)');
  const image = await ensureGuestImage({ onProgress: (l) => console.log(l) });
  const missing = missingVmPrerequisites();
  if (missing.length) throw new Error(`the vm tier cannot run here:\n  - ${missing.join('\n  - ')}`);
  await stopVmLab(NAME).catch(() => undefined); // what an interrupted run left
  lab = await startVmLab(spec, { image, onProgress: (m) => console.log(m) });
  inventory = await loadInventoryFile(writeLabInventory(lab));
  console.log(`vm-dataplane: guests answer SSH ${((Date.now() - t0) / 1000).toFixed(1)} s after the file started`);
}, 600_000);

afterAll(async () => {
  if (!lab) return;
  const processes: readonly ProcessRecord[] = lab.processes;
  const report = await stopVmLab(NAME);
  console.log(`vm-dataplane: the whole file took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  expect(report.stateRemoved).toBe(true);
  expectNothingLeft(NAME, processes);
}, 120_000);

/** Per variant, what the bridge saw while iperf3 ran: few frames by design (a full capture would swamp TCG). */
interface WireCount {
  /** TCP SYNs to or from the iperf3 port in cleartext: each run opens at least two connections. */
  readonly cleartextSyns: number;
  /** Small ESP frames between the two (ACKs going back, inside ESP). */
  readonly smallEsp: number;
  /** Small UDP frames on WireGuard's port between the two. */
  readonly smallWireguard: number;
}

/** Lines of `ip -s xfrm state` with the transform and byte counters, keys masked. */
interface SaReading {
  readonly text: string;
  readonly byteCounters: readonly number[];
}

describe('bench:dataplane on two guests (emulated figures)', () => {
  let result: DataplaneBenchResult;
  const wire = new Map<DataplaneVariant['id'], WireCount>();
  const sas = new Map<DataplaneVariant['id'], Record<string, SaReading>>();
  const wgLinkBytes = new Map<string, { rx: number; tx: number }>();
  const before: Record<string, string> = {};

  it('runs every variant and reports figures > 0, marked as emulated', async () => {
    for (const h of [SENDER, RECEIVER]) before[h] = await guestSnapshot(h);
    const a = lab.host(SENDER).ipv4[0]!;
    const b = lab.host(RECEIVER).ipv4[0]!;
    let capture: WireCapture | undefined;
    const t1 = Date.now();
    result = await runDataplaneBench({
      inventory,
      hosts: [SENDER, RECEIVER],
      ssh: ssh(),
      seconds: SECONDS,
      emulated: true,
      onProgress: (l) => console.log(`vm-dataplane: ${((Date.now() - t1) / 1000).toFixed(1)} s ${l}`),
      hooks: {
        beforeRuns: async () => {
          capture = await lab.capture({
            filter: [
              `(tcp port ${DEFAULT_IPERF3_PORT} and tcp[tcpflags] & tcp-syn != 0) or (esp and less 200) or (udp port ${DEFAULT_WIREGUARD_PORT} and less 200)`,
            ],
          });
        },
        afterRuns: async (variant) => {
          const frames: PcapFrame[] = (await capture?.stop()) ?? [];
          capture = undefined;
          const between = frames.filter((f) => (f.src === a && f.dst === b) || (f.src === b && f.dst === a));
          wire.set(variant.id, {
            cleartextSyns: between.filter((f) => f.protocol === IP_PROTO.tcp && (f.srcPort === DEFAULT_IPERF3_PORT || f.dstPort === DEFAULT_IPERF3_PORT)).length,
            smallEsp: between.filter((f) => f.protocol === IP_PROTO.esp).length,
            smallWireguard: between.filter((f) => f.protocol === IP_PROTO.udp && f.srcPort === DEFAULT_WIREGUARD_PORT && f.dstPort === DEFAULT_WIREGUARD_PORT).length,
          });
          if (variant.kind === 'esp') {
            const reading: Record<string, SaReading> = {};
            for (const h of [SENDER, RECEIVER]) {
              const text = (await lab.exec(h, ['sh', '-c', 'ip -s xfrm state | sed -E "s/0x[0-9a-f]{16,}/<key>/g"'], { check: true })).stdout;
              const byteCounters = [...text.matchAll(/^\s+(\d+)\(bytes\), \d+\(packets\)$/gm)].map((m) => Number(m[1]));
              reading[h] = { text, byteCounters };
            }
            sas.set(variant.id, reading);
          }
          if (variant.kind === 'wireguard') {
            const j = JSON.parse((await lab.exec(RECEIVER, ['ip', '-j', '-s', 'link', 'show', 'type', 'wireguard'], { check: true })).stdout) as {
              ifname: string;
              stats64: { rx: { bytes: number }; tx: { bytes: number } };
            }[];
            for (const l of j) wgLinkBytes.set(l.ifname, { rx: l.stats64.rx.bytes, tx: l.stats64.tx.bytes });
          }
        },
      },
    });
    console.log(result.table);
    expect(result.rows.map((r) => r.variant.id)).toEqual(dataplaneVariants().map((v) => v.id));
    for (const row of result.rows) {
      expect(row.tcp1.bitsPerSecond, `${row.variant.label}: TCP 1 stream`).toBeGreaterThan(0);
      expect(row.tcp1.streams).toBe(1);
      expect(row.tcp4.bitsPerSecond, `${row.variant.label}: TCP 4 streams`).toBeGreaterThan(0);
      expect(row.tcp4.streams).toBe(4);
      expect(row.udp64.receivedPacketsPerSecond, `${row.variant.label}: UDP 64 B`).toBeGreaterThan(0);
      expect(row.tcp1.senderCpuPercent + row.tcp1.receiverCpuPercent, `${row.variant.label}: CPU`).toBeGreaterThan(0);
    }
    const lines = result.table.trimEnd().split('\n');
    expect(lines[0]).toContain('(emulated)');
    expect(lines[1]).toMatch(/^\*\*EMULATED: .*not results/);
    const rows = lines.filter((l) => l.startsWith('| ') && !l.startsWith('| variant'));
    expect(rows).toHaveLength(4);
    for (const r of rows) expect(r).toMatch(/^\| [^|]+ \(emulated\) \|/);
  }, 600_000);

  it('cleartext crossed the bridge as plain TCP to the iperf3 port, with no ESP or WireGuard', () => {
    expect(wire.get('cleartext')).toMatchObject({ smallEsp: 0, smallWireguard: 0 });
    // One control and one data connection per TCP run, four data connections in the 4-stream run.
    expect(wire.get('cleartext')!.cleartextSyns).toBeGreaterThanOrEqual(2 * (1 + 1 + 1 + 4));
  });

  it('both ESP variants crossed the bridge only as ESP, on SAs with their transforms, whose byte counters grew', () => {
    const expected: Record<string, readonly RegExp[]> = {
      // 256-bit key + 32-bit salt, 128-bit ICV: what charon installs for aes256gcm16.
      'esp-default': [/aead rfc4106\(gcm\(aes\)\) <key> \(288 bits\) 128/],
      'esp-aes256-sha512': [/enc cbc\(aes\) <key> \(256 bits\)/, /auth-trunc hmac\(sha512\) <key> \(512 bits\) 256/],
    };
    for (const [id, transforms] of Object.entries(expected) as [DataplaneVariant['id'], RegExp[]][]) {
      const w = wire.get(id)!;
      expect(w.cleartextSyns, `${id}: cleartext SYNs of the iperf3 port on the wire`).toBe(0);
      expect(w.smallEsp, `${id}: ESP frames on the wire`).toBeGreaterThan(0);
      const row = result.rows.find((r) => r.variant.id === id)!;
      const tcpBytes = (row.tcp1.bitsPerSecond * row.tcp1.seconds) / 8;
      // The bench's own reading: the sender's outbound SA and the receiver's inbound one carried the bulk.
      expect(row.wire?.counters[SENDER]?.out, `${id}: ${SENDER}'s outbound SA`).toBeGreaterThan(tcpBytes);
      expect(row.wire?.counters[RECEIVER]?.in, `${id}: ${RECEIVER}'s inbound SA`).toBeGreaterThan(tcpBytes);
      for (const h of [SENDER, RECEIVER]) {
        const reading = sas.get(id)![h]!;
        expect(reading.text).toContain('mode transport');
        expect(reading.text).toContain('replay-window 32');
        for (const t of transforms) expect(reading.text, `${id} on ${h}`).toMatch(t);
        expect(reading.byteCounters, `${id} on ${h}: one SA each way`).toHaveLength(2);
        expect(Math.max(...reading.byteCounters), `${id} on ${h}: bytes on its SAs`).toBeGreaterThan(tcpBytes);
      }
    }
  });

  it('WireGuard carried it: the link counters grew and the bridge saw WireGuard, no cleartext SYNs and no ESP', () => {
    const w = wire.get('wireguard')!;
    expect(w).toMatchObject({ cleartextSyns: 0, smallEsp: 0 });
    expect(w.smallWireguard).toBeGreaterThan(0);
    const row = result.rows.find((r) => r.variant.id === 'wireguard')!;
    const tcpBytes = (row.tcp1.bitsPerSecond * row.tcp1.seconds) / 8;
    expect(wgLinkBytes.get(result.wireguardLink)?.rx, `${RECEIVER}'s ${result.wireguardLink} received`).toBeGreaterThan(tcpBytes);
    expect(row.wire?.counters[RECEIVER]?.in).toBeGreaterThan(tcpBytes);
    expect(row.wire?.counters[SENDER]?.out).toBeGreaterThan(tcpBytes);
  });

  it('left nothing behind: xfrm states and policies, links, run directory, iperf3 processes as before', async () => {
    expect(result.runDir).toMatch(/^\/run\/ipsec-mesh-bench-[0-9a-f]{8}$/);
    for (const h of [SENDER, RECEIVER]) {
      const after = await guestSnapshot(h);
      expect(after, h).toBe(before[h]);
      expect(after).not.toContain('ipsec-mesh-bench-');
      expect(after).not.toContain(result.wireguardLink);
      expect(after).not.toMatch(/iperf3/);
    }
  });
});

describe('bench:dataplane when it cannot finish', () => {
  it('names the host and the tool that is missing, and leaves nothing', async () => {
    const before = await guestSnapshot(RECEIVER);
    // wg "missing" on the receiver: /dev/null over it is not executable, so `command -v` fails.
    await lab.exec(RECEIVER, ['mount', '--bind', '/dev/null', '/usr/bin/wg'], { check: true });
    try {
      const run = runDataplaneBench({ inventory, hosts: [SENDER, RECEIVER], ssh: ssh(), seconds: 1 });
      await expect(run).rejects.toThrow(DataplanePrerequisiteError);
      await expect(run).rejects.toThrow(new RegExp(`${RECEIVER}: missing wg \\(Debian: wireguard-tools\\)`));
    } finally {
      await lab.exec(RECEIVER, ['umount', '/usr/bin/wg'], { check: true });
    }
    expect(await guestSnapshot(RECEIVER)).toBe(before);
  }, 120_000);

  it('interrupted in the middle of a variant, it tears down what it set up before it throws', async () => {
    const before: Record<string, string> = { [SENDER]: await guestSnapshot(SENDER), [RECEIVER]: await guestSnapshot(RECEIVER) };
    const abort = new AbortController();
    let installed = '';
    const run = runDataplaneBench({
      inventory,
      hosts: [SENDER, RECEIVER],
      ssh: ssh(),
      seconds: 1,
      variants: ['esp-default'],
      signal: abort.signal,
      hooks: {
        beforeRuns: async () => {
          // SAs, policies and the iperf3 server are in place now: the interrupt comes here.
          installed = await guestSnapshot(RECEIVER);
          abort.abort(new DataplaneBenchError('interrupted by the test'));
        },
      },
    });
    await expect(run).rejects.toThrow('interrupted by the test');
    expect(installed).toMatch(/proto esp spi 0x1b/);
    expect(installed).toContain('iperf3');
    for (const h of [SENDER, RECEIVER]) expect(await guestSnapshot(h), h).toBe(before[h]);
  }, 120_000);
});

describe('bench:dataplane between two hosts of a running mesh (enforcement use)', () => {
  const MESH = 'vmdp';
  const MASTER = 'ipsec-mesh vm dataplane lab test master secret (32+ bytes)';

  /** The mesh's INSTALLED CHILD_SAs on `host`, by charon's unique id (a rekey or a re-initiation changes it). */
  async function meshChildren(host: string): Promise<string[]> {
    const sas = await lab.listSas(host);
    return sas.flatMap((ike) => ike.children.filter((c) => c.state === 'INSTALLED').map((c) => `${ike.name}/${c.name}#${c.uniqueId} ${c.mode} ${c.proposal}`)).sort();
  }

  it('its own policies win for the bench port only; the mesh\'s SAs and policies are the same afterwards', async () => {
    const tPush = Date.now();
    const meshInventory = parseInventory(labInventory(lab, { mesh: { name: MESH, domain: 'lab.example', auth: 'psk', enforcement: 'use' } }), `lab ${NAME}`);
    for (const h of [RECEIVER, SENDER]) {
      const argv = lab.sshArgv(h, []);
      argv[argv.length - 1] = pushScript({ host: h, mesh: MESH, phase: 'create' });
      const r = await run(argv, { stdin: pskPushPayload(meshInventory, h, MASTER), timeoutMs: 180_000, context: `push to ${h}` });
      expect(r.code, `push to ${h}: exit ${r.code}\n${r.stderr}`).toBe(0);
    }
    // Traps start IKE on the first packet: send until both families of the pair are encrypted.
    const pairs = validateMesh(meshInventory);
    let children: string[] = [];
    const up = await waitFor(async () => {
      await sendPairTraffic(lab, meshInventory, pairs);
      children = await meshChildren(SENDER);
      return children.length >= 2 ? true : undefined;
    }, 120_000, 2_000);
    expect(up, `the mesh's CHILD_SAs on ${SENDER}: ${children.join(', ')}`).toBe(true);
    const tBench = Date.now();
    console.log(`vm-dataplane: mesh pushed and its CHILD_SAs up in ${((tBench - tPush) / 1000).toFixed(1)} s`);
    const before: Record<string, string> = { [SENDER]: await guestSnapshot(SENDER), [RECEIVER]: await guestSnapshot(RECEIVER) };
    const childrenBefore: Record<string, string[]> = { [SENDER]: await meshChildren(SENDER), [RECEIVER]: await meshChildren(RECEIVER) };
    expect(before[SENDER]).toMatch(/mode transport/);

    const a = lab.host(SENDER).ipv4[0]!;
    const b = lab.host(RECEIVER).ipv4[0]!;
    let capture: WireCapture | undefined;
    const syns = new Map<string, number>();
    // The bench itself fails a row whose own SAs did not carry the traffic (checkWireEvidence).
    const result = await runDataplaneBench({
      inventory: meshInventory,
      hosts: [SENDER, RECEIVER],
      ssh: ssh(),
      seconds: 1,
      emulated: true,
      variants: ['cleartext', 'esp-default'],
      hooks: {
        beforeRuns: async () => {
          capture = await lab.capture({ filter: [`tcp port ${DEFAULT_IPERF3_PORT} and tcp[tcpflags] & tcp-syn != 0`] });
        },
        afterRuns: async (variant) => {
          const frames = (await capture?.stop()) ?? [];
          capture = undefined;
          syns.set(variant.id, frames.filter((f) => (f.src === a && f.dst === b) || (f.src === b && f.dst === a)).length);
        },
      },
    });
    console.log(`vm-dataplane: two variants beside the mesh in ${((Date.now() - tBench) / 1000).toFixed(1)} s\n${result.table}`);
    expect(result.rows.map((r) => r.variant.id)).toEqual(['cleartext', 'esp-default']);
    // Cleartext although the mesh encrypts the pair: the bench's allow policies beat the mesh's.
    expect(syns.get('cleartext'), 'cleartext SYNs of the bench port during the cleartext row').toBeGreaterThan(0);
    expect(syns.get('esp-default'), 'cleartext SYNs of the bench port during the ESP row').toBe(0);
    for (const h of [SENDER, RECEIVER]) {
      expect(await guestSnapshot(h), h).toBe(before[h]);
      expect(await meshChildren(h), `${h}: the mesh's CHILD_SAs`).toEqual(childrenBefore[h]);
    }
  }, 600_000);
});
