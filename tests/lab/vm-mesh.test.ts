// End-to-end on real kernels: three qemu guests (Debian's kernel, which has ESP) in two
// sites, the ipsec-mesh stack pushed by the real Pulumi engine from the lab's operator
// namespace, and the wire captured on the site bridges. See docs/vm-lab.md.
//
// Needs root, qemu-system-x86 and debootstrap (scripts/install-system-deps.sh --vm), the
// Pulumi engine (scripts/build-engine.sh) and `npm run build`. The guest image is built on
// first use (about a minute) into ~/.cache/ipsec-mesh/guest. Anything missing fails the file
// with a message; nothing is skipped.
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateMesh } from '../../components/cli/validate-mesh.js';
import type { AddressFamily, Inventory } from '../../components/inventory/model.js';
import { loadInventoryFile } from '../../components/inventory/index.js';
import { collectPairStatus, type PairFamilyStatus } from '../../components/operations/index.js';
import type { HostPairSet } from '../../components/topology/index.js';
import { labLayout } from '../../lab/lab-layout.js';
import { PROJECT_DIR, labPulumi, prepareLabStack } from '../../lab/lab-pulumi.js';
import { sendPairTraffic } from '../../lab/pair-traffic.js';
import { type PmtuBlackHole, makePmtuBlackHole } from '../../lab/pmtu-black-hole.js';
import { type ProcessRecord, isLabNetns, isProcessRunning, labStateRoot, waitFor, writeLabInventory } from '../../lab/netns/index.js';
import { type VmLab, ensureGuestImage, missingVmPrerequisites, startVmLab, stopVmLab } from '../../lab/vm/index.js';
import { newPayload, probePayload } from '../../lab/vm/payload-probe.js';
import { summariseWire } from '../../lab/vm/pcap.js';
import { type StreamLoss, streamLoss } from '../../lab/udp-sequence-loss.js';
import { listNetns } from '../../lab/netns/lab-network.js';
import { backstopDrops, useEngine } from './pulumi-support.js';

const NAME = 'vmt';
const FAMILIES: readonly AddressFamily[] = ['ipv4', 'ipv6'];
// The default: ECP-384 with each pair's post-quantum preshared key mixed in (quantumResistance required).
const IKE_PROPOSAL = 'AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/PPK';
const ESP_PROPOSAL = /^AES_GCM_16_256(\/ECP_384)?$/;

let lab: VmLab;
let inventoryPath: string;
let processes: readonly ProcessRecord[] = [];

/** After the image build (which installs qemu and debootstrap when they are missing). */
function requirePrerequisites(): void {
  const missing = missingVmPrerequisites();
  if (missing.length) throw new Error(`the vm tier cannot run here:\n  - ${missing.join('\n  - ')}`);
  if (!existsSync(join(PROJECT_DIR, 'dist', 'stacks', 'index.js'))) throw new Error('dist/stacks/index.js is missing: run `npm run build` first');
  useEngine();
}

async function mesh(): Promise<{ inventory: Inventory; pairs: HostPairSet }> {
  const inventory = await loadInventoryFile(inventoryPath);
  return { inventory, pairs: validateMesh(inventory) };
}

async function matrix(): Promise<PairFamilyStatus[]> {
  const { inventory, pairs } = await mesh();
  const { rows } = await collectPairStatus(inventory, pairs, {
    identityFile: lab.sshKeyPath,
    wrapper: ['ip', 'netns', 'exec', lab.operator.netns],
  });
  return rows;
}

/** Sends one datagram per pair and family (traps start IKE), then waits until every row is encrypted. */
async function waitAllEncrypted(timeoutMs = 90_000): Promise<PairFamilyStatus[]> {
  const { inventory, pairs } = await mesh();
  let last: PairFamilyStatus[] = [];
  const ok = await waitFor(
    async () => {
      await sendPairTraffic(lab, inventory, pairs);
      last = await matrix();
      return last.every((r) => r.health === 'encrypted') ? true : undefined;
    },
    timeoutMs,
    2_000,
  );
  if (ok !== true) throw new Error(`not every pair got encrypted:\n${last.map((r) => `${r.pair} ${r.family} ${r.health}`).join('\n')}`);
  return last;
}

/** The first bytes an sshd sends: read over TCP from one guest to another (bash /dev/tcp). */
async function sshBanner(from: string, to: string, family: AddressFamily, seconds = 20): Promise<string> {
  const address = lab.host(to)[family][0]!;
  const r = await lab.exec(from, ['timeout', String(seconds), 'bash', '-c', `exec 3<>/dev/tcp/${address}/22 && head -c 8 <&3`]);
  return r.stdout;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the vm tier needs root (network namespaces, tap devices, the image build)');
  const image = await ensureGuestImage({ onProgress: (l) => console.log(l) });
  requirePrerequisites();
  await stopVmLab(NAME).catch(() => undefined); // what an interrupted run left
  lab = await startVmLab(labLayout(NAME, 3, 2), { image, onProgress: (m) => console.log(m) });
  inventoryPath = writeLabInventory(lab);
  await prepareLabStack(lab, inventoryPath);
  await labPulumi(lab, ['up', '--yes', '--skip-preview']);
}, 900_000);

afterAll(async () => {
  if (!lab) return;
  processes = lab.processes;
  const report = await stopVmLab(NAME);
  expect(report.stateRemoved).toBe(true);
  expect(listNetns().filter((n) => isLabNetns(NAME, n)), 'lab namespaces left behind').toEqual([]);
  expect(processes.filter(isProcessRunning).map((p) => `${p.role} ${p.pid}`), 'lab processes still running').toEqual([]);
  expect(existsSync(labStateRoot(NAME)), 'lab state left behind').toBe(false);
}, 120_000);

describe('vm lab, enforcement require (the default)', () => {
  it('every pair has INSTALLED transport-mode CHILD_SAs with the default proposals and its PPK (the default), IPv4 and IPv6, on both ends', async () => {
    const rows = await waitAllEncrypted();
    expect(rows.map((r) => `${r.pair} ${r.family} ${r.enforcement} ${r.health}`).sort()).toEqual(
      ['h1~h2', 'h1~h3', 'h2~h3'].flatMap((p) => FAMILIES.map((f) => `${p} ${f} require encrypted`)).sort(),
    );
    for (const host of lab.hosts) {
      const sas = await lab.listSas(host.name);
      for (const peer of lab.hosts.filter((h) => h.name !== host.name)) {
        for (const family of FAMILIES) {
          const ike = sas.find((s) => s.state === 'ESTABLISHED' && s.localHost === host[family][0] && s.remoteHost === peer[family][0]);
          expect(ike, `${host.name} → ${peer.name} ${family}: an ESTABLISHED IKE_SA`).toBeDefined();
          expect(ike!.proposal).toBe(IKE_PROPOSAL);
          const child = ike!.children.find((c) => c.state === 'INSTALLED');
          expect(child, `${host.name} → ${peer.name} ${family}: an INSTALLED CHILD_SA`).toBeDefined();
          expect(child!.mode).toBe('TRANSPORT');
          expect(child!.protocol).toBe('ESP');
          expect(child!.encap).toBe(false);
          expect(child!.proposal).toMatch(ESP_PROPOSAL);
        }
      }
      const xfrm = (await lab.exec(host.name, ['ip', 'xfrm', 'state'], { check: true })).stdout;
      expect(xfrm).toContain('mode transport');
      expect(xfrm).toContain('aead rfc4106(gcm(aes))');
      expect(xfrm).not.toContain('mode tunnel');
      // Inbound and outbound per pair and family, at least.
      expect(xfrm.match(/proto esp spi/g)?.length ?? 0).toBeGreaterThanOrEqual(2 * 2 * FAMILIES.length);
    }
  }, 300_000);

  it('a payload between every pair crosses the bridge only as ESP, both families, and arrives', async () => {
    const pairs = [['h1', 'h2'], ['h2', 'h3'], ['h3', 'h1']] as const; // across sites and within one
    for (const [from, to] of pairs) {
      for (const family of FAMILIES) {
        const p = await probePayload(lab, { from, to, family });
        const what = `${from} → ${to} ${family}`;
        expect(p.sent, `${what}: datagrams the sender's kernel took`).toBe(8);
        expect(p.wire.esp, `${what}: ESP frames`).toBeGreaterThanOrEqual(8);
        expect(p.wire.leaks, `${what}: frames with the payload in cleartext`).toEqual([]);
        expect(p.wire.plaintextOccurrences).toBe(0);
        expect(p.received, `${what}: copies received`).toBe(8);
      }
    }
  }, 300_000);

  it('an ICMP port-unreachable for a datagram that arrived over ESP is ESP too: never cleartext quoting the payload', async () => {
    for (const family of FAMILIES) {
      // No receiver: h2 answers each datagram with a port-unreachable that quotes its start.
      const p = await probePayload(lab, { from: 'h1', to: 'h2', family, listen: false, port: 5999 });
      expect(p.wire.leaks, `h1 → h2 ${family}: frames with the payload in cleartext`).toEqual([]);
      expect(p.wire.plaintextOccurrences).toBe(0);
      expect(p.wire.esp, 'the datagrams and the ICMP errors, all ESP').toBeGreaterThanOrEqual(8);
    }
  }, 300_000);

  it('SSH reaches every guest from the operator (the SSH bypass), and every peer from a guest over ESP', async () => {
    for (const host of lab.hosts) {
      const r = await lab.ssh(host.name, ['cat', '/etc/hostname']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(host.name);
    }
    for (const family of FAMILIES) {
      expect(await sshBanner('h1', 'h2', family)).toBe('SSH-2.0-');
      expect(await sshBanner('h3', 'h1', family)).toBe('SSH-2.0-');
    }
  }, 120_000);

  describe('charon stopped on h3', () => {
    it("h1's payload to h3 is never sent in cleartext (held by the trap policy), and the operator's SSH to h3 still works", async () => {
      await lab.stopCharon('h3');
      expect(await lab.charonPid('h3')).toBeUndefined();
      for (const family of FAMILIES) {
        const p = await probePayload(lab, { from: 'h1', to: 'h3', family });
        expect(p.wire.leaks, `h1 → h3 ${family}: cleartext frames`).toEqual([]);
        expect(p.wire.esp, 'no SA, so no ESP either').toBe(0);
        expect(p.received).toBe(0);
        // SSH from a mesh peer is mesh traffic: held like the payload. The operator's gets through.
        expect(await sshBanner('h1', 'h3', family, 5)).toBe('');
      }
      expect((await lab.ssh('h3', ['true'])).code, "operator's SSH to h3").toBe(0);
    }, 300_000);

    it('h3 itself sends nothing in cleartext although its charon took every policy along: the kernel backstop drops it', async () => {
      expect((await lab.exec('h3', ['ip', 'xfrm', 'policy'], { check: true })).stdout.trim()).toBe('');
      const drops = async (): Promise<number> => backstopDrops((await lab.exec('h3', ['nft', 'list', 'table', 'inet', `ipsec-mesh_${NAME}`], { check: true })).stdout);
      const before = await drops();
      for (const family of FAMILIES) {
        const p = await probePayload(lab, { from: 'h3', to: 'h1', family });
        expect(p.wire.leaks, `h3 → h1 ${family}: cleartext frames`).toEqual([]);
        expect(p.wire.plaintextOccurrences).toBe(0);
        expect(p.received).toBe(0);
      }
      // The operator's way in (the SSH bypass, accepted by the backstop too) still works.
      expect((await lab.ssh('h3', ['true'])).code, "operator's SSH to h3").toBe(0);
      expect((await drops()) - before, 'datagrams the backstop dropped').toBeGreaterThanOrEqual(2 * 8);
    }, 300_000);

    it('after charon starts again, the pair recovers: ESP both ways, no cleartext', async () => {
      await lab.startCharon('h3');
      await waitAllEncrypted();
      for (const [from, to] of [['h1', 'h3'], ['h3', 'h1']] as const) {
        for (const family of FAMILIES) {
          const p = await probePayload(lab, { from, to, family });
          expect(p.wire.leaks, `${from} → ${to} ${family}`).toEqual([]);
          expect(p.wire.esp).toBeGreaterThan(0);
          expect(p.received).toBe(8);
        }
      }
    }, 300_000);
  });
});

/** Lines of `payload` a sink on `host` has written to `file`. */
async function sinkLines(host: string, file: string, payload: string): Promise<number> {
  return Number((await lab.exec(host, ['sh', '-c', `grep -c ${payload} ${file} || true`], { check: true })).stdout.trim());
}

/** Every pair/family of `host` with `peer` has an ESTABLISHED IKE_SA and INSTALLED CHILD_SA that `host`'s charon knows. */
async function pairManaged(host: string, peer: string): Promise<boolean> {
  const sas = await lab.listSas(host).catch(() => []);
  return FAMILIES.every((f) =>
    sas.some((s) => s.state === 'ESTABLISHED' && s.remoteHost === lab.host(peer)[f][0] && s.children.some((c) => c.state === 'INSTALLED')),
  );
}

/** Seconds from `t0` until `pairManaged` (polled every 0.5 s, at most `limitMs`). */
async function recoverySeconds(t0: number, host: string, peer: string, limitMs = 120_000): Promise<number> {
  const ok = await waitFor(async () => ((await pairManaged(host, peer)) ? true : undefined), limitMs, 500);
  if (ok !== true) throw new Error(`${host} ~ ${peer}: charon does not manage the pair's SAs again ${limitMs / 1000} s after the fault`);
  return (Date.now() - t0) / 1000;
}

describe('vm lab, require under charon faults and a reboot, traffic flowing both ways', () => {
  const UDP_PORT = 5101;
  const TCP_PORT = 5102;
  const STREAM_SECONDS = 600;

  /** Sinks on `host` and streams from `host` to `peer`: UDP in both families, TCP over IPv4, detached. */
  async function streams(host: string, peer: string, payload: string): Promise<void> {
    const sh = (cmd: string) => lab.exec(host, ['sh', '-c', cmd], { check: true });
    await sh(`imlab-udp-sink ${UDP_PORT} ${STREAM_SECONDS} /tmp/fault-udp && imlab-tcp-sink ${TCP_PORT} ${STREAM_SECONDS} /tmp/fault-tcp`);
    const to = lab.host(peer);
    await sh(
      [
        ...FAMILIES.map((f) => `setsid -f imlab-udp-send ${to[f][0]} ${UDP_PORT} ${payload} ${STREAM_SECONDS * 5} 0.2 > /tmp/fault-send-${f}.out 2>&1 < /dev/null`),
        `setsid -f imlab-tcp-send ${to.ipv4[0]} ${TCP_PORT} ${payload} ${STREAM_SECONDS} 0.2 > /tmp/fault-send-tcp.out 2>&1 < /dev/null`,
      ].join('; '),
    );
  }

  it('kill -9, restart, stop+start and a reboot of h1: no cleartext payload on the wire, SSH answers, the pair recovers by itself', async () => {
    const payload = newPayload();
    const wire = await lab.capture({ site: lab.host('h1').site });
    const recovery: Record<string, number> = {};
    let frames: Awaited<ReturnType<typeof wire.stop>> = [];
    try {
      await streams('h3', 'h1', payload);
      await streams('h1', 'h3', payload);
      await recoverySeconds(Date.now(), 'h1', 'h3');

      // 1. SIGKILL: charon dies, the kernel keeps its policies and SAs (ESP flows on).
      await lab.exec('h1', ['sh', '-c', 'kill -9 "$(cat /run/charon.pid)"'], { check: true });
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await lab.charonPid('h1')).toBeUndefined();
      expect((await lab.ssh('h1', ['true'])).code, 'SSH to h1 with charon killed').toBe(0);
      // 2. charon started again: it knows none of the SAs still in the kernel until it negotiates new ones.
      let t0 = Date.now();
      await lab.startCharon('h1');
      recovery['restart after kill -9'] = await recoverySeconds(t0, 'h1', 'h3');
      // 3. What `systemctl restart strongswan` does: SIGTERM (charon removes every policy and SA), then start.
      t0 = Date.now();
      await lab.stopCharon('h1');
      expect((await lab.exec('h1', ['ip', 'xfrm', 'policy'], { check: true })).stdout.trim(), 'policies with charon stopped').toBe('');
      expect((await lab.ssh('h1', ['true'])).code, "operator's SSH to h1 with charon stopped").toBe(0);
      await lab.startCharon('h1');
      recovery['restart (SIGTERM, start)'] = await recoverySeconds(t0, 'h1', 'h3');
      // 4. A reboot: the backstop is loaded before the network and charon come up.
      t0 = Date.now();
      await lab.rebootGuest('h1');
      expect((await lab.exec('h1', ['nft', 'list', 'table', 'inet', `ipsec-mesh_${NAME}`])).code, 'backstop after the reboot').toBe(0);
      await streams('h1', 'h3', payload); // the reboot ended h1's own sinks and streams
      recovery['reboot'] = await recoverySeconds(t0, 'h1', 'h3', 180_000);
      // h3's TCP stream to h1 outlived the reboot: its next retransmission (backed off while h1
      // was down) draws an RST over the new SA, and the sender reconnects to h1's new sink.
      const resumed = await waitFor(async () => ((await sinkLines('h1', '/tmp/fault-tcp', payload)) > 0 ? true : undefined), 120_000, 1_000);
      expect(resumed, "h3's TCP stream reaches the rebooted h1 again").toBe(true);
      recovery['TCP stream from h3 resumed after the reboot'] = (Date.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 3_000));
    } finally {
      frames = await wire.stop();
      await Promise.all(['h1', 'h3'].map((h) => lab.exec(h, ['sh', '-c', "pkill -f '[f]ault-(udp|tcp)'; pkill -f '[i]psec-mesh-payload'; true"]).catch(() => undefined)));
    }
    console.log(`recovery (charon manages h1 ~ h3 again, both families): ${Object.entries(recovery).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}`);
    for (const family of FAMILIES) {
      const w = summariseWire(frames, lab.host('h1')[family][0]!, lab.host('h3')[family][0]!, payload);
      expect(w.leaks, `h1 ~ h3 ${family}: frames with the payload in cleartext`).toEqual([]);
      expect(w.plaintextOccurrences).toBe(0);
      expect(w.esp, `h1 ~ h3 ${family}: ESP frames`).toBeGreaterThan(100);
    }
    // The streams really ran: each sink holds payload lines from its peer's UDP and TCP senders
    // (h1's sinks only since its reboot).
    for (const host of ['h1', 'h3']) {
      for (const sink of ['/tmp/fault-udp', '/tmp/fault-tcp']) {
        expect(await sinkLines(host, sink, payload), `${host} ${sink}: payload lines received`).toBeGreaterThan(0);
      }
    }
    // And traffic flows again, encrypted, both ways.
    for (const [from, to] of [['h1', 'h3'], ['h3', 'h1']] as const) {
      const p = await probePayload(lab, { from, to, family: 'ipv4' });
      expect(p.wire.leaks).toEqual([]);
      expect(p.received, `${from} → ${to} after the faults`).toBe(8);
    }
  }, 900_000);
});

/** The mesh table's clamp rules on `host`: packets they matched (SYNs whose MSS they lowered). */
async function clampedSyns(host: string): Promise<number> {
  const text = (await lab.exec(host, ['nft', 'list', 'table', 'inet', `ipsec-mesh_${NAME}`], { check: true })).stdout;
  return text
    .split('\n')
    .filter((l) => l.includes('maxseg size set'))
    .reduce((n, l) => n + Number(/counter packets (\d+)/.exec(l)?.[1] ?? 0), 0);
}

describe('vm lab, a 1400-byte link between the sites with ICMP too-big dropped on the way (PMTU black hole)', () => {
  const MTU = 1400;
  const BULK_PORT = 5103;
  const BYTES = 4 * 1024 * 1024;
  const LIMIT_SECONDS = 90;
  let hole: PmtuBlackHole | undefined;

  afterAll(async () => {
    await hole?.restore();
  });

  interface Bulk {
    readonly sent: number;
    /** What the sink confirmed after the sender closed; -1 when the transfer did not finish in time. */
    readonly acked: number;
    readonly seconds: number;
    /** What the sink had counted when the sender gave up or finished. */
    readonly received: number;
  }

  /** 4 MiB over one TCP connection from h1 (east) to h2 (west), across the narrow link. */
  async function bulk(family: AddressFamily, limitSeconds = LIMIT_SECONDS): Promise<Bulk> {
    await lab.exec('h2', ['imlab-bulk-sink', String(BULK_PORT), String(limitSeconds + 60), '/tmp/bulk'], { check: true });
    try {
      const t0 = Date.now();
      const r = await lab.exec('h1', ['imlab-bulk-send', lab.host('h2')[family][0]!, String(BULK_PORT), String(BYTES), String(limitSeconds)], {
        check: true,
        timeoutMs: (limitSeconds + 30) * 1000,
      });
      const seconds = (Date.now() - t0) / 1000;
      const m = /^sent (\d+) acked (-?\d+)$/m.exec(r.stdout);
      if (!m) throw new Error(`imlab-bulk-send said: ${r.stdout}${r.stderr}`);
      const received = Number((await lab.exec('h2', ['cat', '/tmp/bulk'], { check: true })).stdout.trim());
      return { sent: Number(m[1]), acked: Number(m[2]), seconds, received };
    } finally {
      await lab.exec('h2', ['sh', '-c', 'kill "$(cat /tmp/bulk.bound)" 2>/dev/null; true']);
    }
  }

  const describeBulk = (b: Bulk): string =>
    b.acked === BYTES ? `complete in ${b.seconds.toFixed(1)} s` : `stalled: ${b.received} of ${BYTES} bytes arrived in ${b.seconds.toFixed(0)} s`;

  it('without the clamp (mssClamp: off): full-size segments hit the narrow link and the router\'s too-big ICMP never arrives', async () => {
    inventoryPath = writeLabInventory(lab, { siteFields: { west: { mtu: MTU } }, mesh: { mssClamp: 'off' } });
    await labPulumi(lab, ['up', '--yes', '--skip-preview']);
    expect(await clampedSyns('h1').catch(() => 0), 'no clamp rule').toBe(0);
    hole = await makePmtuBlackHole(lab, MTU);
    await waitAllEncrypted();
    for (const family of FAMILIES) {
      const before = await hole.droppedTooBig();
      const b = await bulk(family);
      const dropped = (await hole.droppedTooBig()) - before;
      console.log(`PMTU black hole, no MSS clamp, h1 → h2 ${family}: ${describeBulk(b)}; ${dropped} ICMP too-big dropped on the router`);
      // The black hole was hit: segments too big for the link, and their ICMP lost.
      expect(dropped, `${family}: too-big ICMP the router generated and dropped`).toBeGreaterThan(0);
    }
    // What rescues TCP above is the mesh's tcp_mtu_probing = 1 (black-hole detection). With the
    // kernel's default 0, the same transfer (IPv4) is what a host without either sees.
    const probing = (v: number) => Promise.all(['h1', 'h2'].map((h) => lab.exec(h, ['sysctl', '-q', '-w', `net.ipv4.tcp_mtu_probing=${v}`], { check: true })));
    await probing(0);
    try {
      const before = await hole.droppedTooBig();
      const b = await bulk('ipv4', 30);
      const dropped = (await hole.droppedTooBig()) - before;
      console.log(`PMTU black hole, no MSS clamp, tcp_mtu_probing = 0, h1 → h2 ipv4: ${describeBulk(b)}; ${dropped} ICMP too-big dropped on the router`);
      expect(dropped).toBeGreaterThan(0);
    } finally {
      await probing(1);
    }
  }, 600_000);

  it('with the clamp (the default where a site declares its MTU): every segment fits, nothing is too big, the transfer completes', async () => {
    inventoryPath = writeLabInventory(lab, { siteFields: { west: { mtu: MTU } } });
    await labPulumi(lab, ['up', '--yes', '--skip-preview']);
    hole ??= await makePmtuBlackHole(lab, MTU);
    await waitAllEncrypted();
    for (const family of FAMILIES) {
      const synsBefore = { h1: await clampedSyns('h1'), h2: await clampedSyns('h2') };
      const before = await hole.droppedTooBig();
      const b = await bulk(family);
      const dropped = (await hole.droppedTooBig()) - before;
      console.log(`PMTU black hole, MSS clamped, h1 → h2 ${family}: ${describeBulk(b)}; ${dropped} ICMP too-big dropped on the router`);
      expect(b.acked, `${family}: bytes the sink confirmed`).toBe(BYTES);
      expect(dropped, `${family}: no segment was too big for the link`).toBe(0);
      // h1 lowered its SYN going out; h2 its SYN-ACK (which then arrives at h1 already small).
      expect((await clampedSyns('h1')) - synsBefore.h1, `${family}: SYNs clamped on h1`).toBeGreaterThanOrEqual(1);
      expect((await clampedSyns('h2')) - synsBefore.h2, `${family}: SYN-ACKs clamped on h2`).toBeGreaterThanOrEqual(1);
    }
  }, 600_000);
});

describe('vm lab, CA rollover under continuous traffic in require', () => {
  const PORT = 5104;
  const INTERVAL = 0.1;
  const STREAM_SECONDS = 900;
  const MAX_OUTAGE_SECONDS = 1;

  /** The mesh CA labels each host trusts: its x509ca files and what charon holds. */
  async function trustedCas(host: string): Promise<{ files: string[]; charon: string[] }> {
    const files = (await lab.exec(host, ['sh', '-c', `ls /etc/swanctl/x509ca/ | grep '^ipsec-mesh_${NAME}_ca_' || true`], { check: true })).stdout.split('\n').filter(Boolean).sort();
    const listed = (await lab.exec(host, ['swanctl', '--list-certs', '--type', 'x509', '--flag', 'ca'], { check: true })).stdout;
    const charon = [...listed.matchAll(/subject: {2}"O=ipsec-mesh, CN=\S+ mesh CA (\S+)"/g)].map((m) => m[1]!).sort();
    return { files, charon };
  }

  async function setCa(value: Record<string, string>): Promise<void> {
    await labPulumi(lab, ['config', 'set', 'ipsec-mesh:ca', JSON.stringify(value)]);
    await labPulumi(lab, ['up', '--yes', '--skip-preview']);
    await new Promise((r) => setTimeout(r, 3_000));
  }

  it('ca1 → ca1+ca2 → ca2 issuing → ca2 only: no cleartext, at most 1 s of loss per pair and direction, every pair ends on ca2', async () => {
    inventoryPath = writeLabInventory(lab); // the plain require mesh (earlier tests changed settings)
    await labPulumi(lab, ['up', '--yes', '--skip-preview']);
    await waitAllEncrypted();
    const hosts = lab.hosts.map((h) => h.name);
    for (const h of hosts) expect((await trustedCas(h)).charon, `${h} before`).toEqual(['ca1']);
    const payload = newPayload();
    for (const h of hosts) await lab.exec(h, ['imlab-udp-sink', String(PORT), String(STREAM_SECONDS), '/tmp/ca-udp'], { check: true });
    const sites = [...new Set(lab.hosts.map((h) => h.site))];
    const captures = await Promise.all(sites.map((site) => lab.capture({ site })));
    let frames: Awaited<ReturnType<(typeof captures)[number]['stop']>>[] = [];
    let seconds = 0;
    const idsBeforeRetire = new Set<string>();
    try {
      const t0 = Date.now();
      // Every host to every peer in both families: 12 streams of one datagram per 100 ms.
      for (const h of hosts) {
        const sends = hosts
          .filter((p) => p !== h)
          .flatMap((p) =>
            FAMILIES.map((f) => `setsid -f imlab-udp-send ${lab.host(p)[f][0]} ${PORT} '${payload} ${h}-${p}-${f}' ${STREAM_SECONDS * 10} ${INTERVAL} > /dev/null 2>&1 < /dev/null`),
          );
        await lab.exec(h, ['sh', '-c', sends.join('; ')], { check: true });
      }
      await new Promise((r) => setTimeout(r, 5_000));
      // 1. ca2 appears and is trusted everywhere; certificates still from ca1.
      await setCa({ current: 'ca1', next: 'ca2' });
      for (const h of hosts) expect((await trustedCas(h)).charon, `${h} after step 1`).toEqual(['ca1', 'ca2']);
      // 2. Host certificates re-issued by ca2; both trusted.
      await setCa({ current: 'ca2', previous: 'ca1' });
      for (const h of hosts) for (const sa of await lab.listSas(h)) idsBeforeRetire.add(`${h}:${sa.uniqueId}`);
      // 3. ca1 retired.
      await setCa({ current: 'ca2' });
      await new Promise((r) => setTimeout(r, 2_000));
      seconds = (Date.now() - t0) / 1000;
    } finally {
      await Promise.all(hosts.map((h) => lab.exec(h, ['sh', '-c', "pkill -f '[i]mlab-udp-send'; true"]).catch(() => undefined)));
      await new Promise((r) => setTimeout(r, 1_000));
      frames = await Promise.all(captures.map((c) => c.stop()));
    }

    // No datagram's payload in cleartext on either site's wire, ESP between every pair.
    const { pairs } = await mesh();
    for (const [i, site] of sites.entries()) expect(summariseWire(frames[i]!, '', '', payload).leaks, `${site}: payload in cleartext`).toEqual([]);
    for (const pair of pairs.pairs) {
      for (const f of FAMILIES) {
        const esp = frames.reduce((n, fr) => n + summariseWire(fr, lab.host(pair.a)[f][0]!, lab.host(pair.b)[f][0]!, payload).esp, 0);
        expect(esp, `${pair.key} ${f}: ESP frames`).toBeGreaterThan(100);
      }
    }
    // Loss: the longest run of datagrams a receiver never got, as time at the senders' pace.
    const losses = [];
    for (const h of hosts) {
      const text = (await lab.exec(h, ['sh', '-c', 'cat /tmp/ca-udp; kill "$(cat /tmp/ca-udp.bound)" 2>/dev/null; true'], { check: true })).stdout;
      losses.push(...streamLoss(text, payload));
    }
    expect(losses.map((l) => l.stream).sort()).toEqual(hosts.flatMap((h) => hosts.filter((p) => p !== h).flatMap((p) => FAMILIES.map((f) => `${h}-${p}-${f}`))).sort());
    const pace = (l: StreamLoss): number => seconds / (l.last + 1); // seconds per datagram, as sent
    console.log(
      `CA rollover, ${seconds.toFixed(0)} s of traffic: ${losses.map((l) => `${l.stream} ${l.received}/${l.last + 1} received, longest outage ${(l.longestRun * pace(l)).toFixed(2)} s`).join('; ')}`,
    );
    for (const l of losses) {
      // At least two a second (emulated guests send slower than asked): outages are resolved to 0.5 s.
      expect(l.last + 1, `${l.stream}: datagrams sent (as far as received)`).toBeGreaterThan(2 * seconds);
      expect(l.longestRun * pace(l), `${l.stream}: longest outage, seconds`).toBeLessThanOrEqual(MAX_OUTAGE_SECONDS);
    }
    // Every host trusts ca2 only, presents a ca2 certificate, and every SA is newer than the step
    // that removed ca1 (so authenticated with ca2 as the only mesh CA).
    for (const h of hosts) {
      expect(await trustedCas(h), h).toEqual({ files: [`ipsec-mesh_${NAME}_ca_ca2.pem`], charon: ['ca2'] });
      const pem = (await lab.exec(h, ['cat', `/etc/swanctl/x509/ipsec-mesh_${NAME}_${h}.pem`], { check: true })).stdout;
      expect(new X509Certificate(pem).issuer, `${h}'s certificate`).toContain(`mesh CA ca2`);
    }
    const after = await waitAllEncrypted();
    expect(after.every((r) => r.health === 'encrypted')).toBe(true);
    const perConnection = new Map<string, number>();
    for (const h of hosts) {
      for (const sa of await lab.listSas(h)) {
        expect(idsBeforeRetire.has(`${h}:${sa.uniqueId}`), `${h}: IKE_SA ${sa.name}[${sa.uniqueId}] from before ca1 was retired`).toBe(false);
        perConnection.set(`${h}:${sa.name}`, (perConnection.get(`${h}:${sa.name}`) ?? 0) + 1);
      }
    }
    // Both ends renewing at once can leave two (docs/delivery.md, make before break): reported.
    console.log(`IKE_SAs per connection after the rollover: ${[...perConnection].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }, 900_000);
});

describe('vm lab, staged rollout gated on CHILD_SAs (real ESP)', () => {
  const CONF = `/etc/swanctl/conf.d/ipsec-mesh_${NAME}.conf`;
  const passedHosts = (out: string): string[] => [...new Set([...out.matchAll(/ (h\d): rollout gate passed: \d+ pair\/family target\(s\) with an INSTALLED CHILD_SA/g)].map((m) => m[1]!))].sort();

  it('the gates pass on a healthy mesh; an ESP proposal the others reject keeps the IKE_SAs but fails the canary gate, and the others keep their files', async () => {
    inventoryPath = writeLabInventory(lab);
    await labPulumi(lab, ['config', 'set', 'ipsec-mesh:rollout', JSON.stringify({ canaryHosts: ['h1'], gate: 'child', gateTimeoutSeconds: 30 })]);
    try {
      const healthy = await labPulumi(lab, ['up', '--yes', '--skip-preview']);
      expect(passedHosts(healthy.stdout), healthy.stdout).toEqual(['h1', 'h2', 'h3']);

      // Only the CHILD_SA proposal changes on h1: IKE still agrees (an `ike` gate would pass).
      const conf = async (h: string) => (await lab.exec(h, ['cat', CONF], { check: true })).stdout;
      const before = new Map([['h2', await conf('h2')], ['h3', await conf('h3')]]);
      writeLabInventory(lab, { mesh: { espProposals: ['aes128gcm16-ecp256'] } });
      const broken = await labPulumi(lab, ['up', '--yes', '--skip-preview'], { allowFailure: true });
      const said = `${broken.stdout}\n${broken.stderr}`;
      expect(broken.code, said).not.toBe(0);
      expect(said).toMatch(/h1: rollout gate FAILED: after 30s still without an INSTALLED CHILD_SA: h1~h2 \(ipv4\) h1~h2 \(ipv6\) h1~h3 \(ipv4\) h1~h3 \(ipv6\)\./);
      for (const [h, text] of before) expect(await conf(h), h).toBe(text);
      const ike = (await lab.listSas('h1')).filter((s) => s.state === 'ESTABLISHED');
      expect(ike.length, 'h1 still has IKE_SAs with its peers').toBeGreaterThan(0);
    } finally {
      await labPulumi(lab, ['config', 'rm', 'ipsec-mesh:rollout']);
      inventoryPath = writeLabInventory(lab);
      await labPulumi(lab, ['up', '--yes', '--skip-preview']);
    }
    await waitAllEncrypted();
  }, 600_000);
});

describe('vm lab, enforcement use', () => {
  it("when h1's charon stops, its pairs fall back to cleartext, and the status matrix says so", async () => {
    inventoryPath = writeLabInventory(lab, { mesh: { enforcement: 'use' } });
    await labPulumi(lab, ['up', '--yes', '--skip-preview']);
    // A clean start under `use`: SAs made under `require` keep that config's actions until
    // they close (charon does not re-apply a reloaded config to running SAs). Responders
    // first: a `use` initiator tries once when its config loads (swanctl's keyingtries
    // default is 1) and never again if the peer was not ready — docs/vm-lab.md "Findings".
    for (const h of lab.hosts) await lab.stopCharon(h.name);
    for (const h of [...lab.hosts].reverse()) await lab.startCharon(h.name);
    const before = await waitAllEncrypted();
    expect(before.every((r) => r.enforcement === 'use' && !r.cleartext)).toBe(true);

    // h1 sorts first: it is the one initiator of both its pairs; h2 and h3 only respond, and
    // drop their SAs when h1's charon says goodbye (DELETE).
    await lab.stopCharon('h1');
    const gone = await waitFor(
      async () => {
        const sas = await lab.listSas('h2');
        return sas.some((s) => s.remoteHost === lab.host('h1').ipv4[0] || s.remoteHost === lab.host('h1').ipv6[0]) ? undefined : true;
      },
      30_000,
      1_000,
    );
    expect(gone, "h2 dropped its SAs with h1").toBe(true);
    for (const family of FAMILIES) {
      const p = await probePayload(lab, { from: 'h2', to: 'h1', family });
      expect(p.wire.esp).toBe(0);
      expect(p.wire.plaintextOccurrences, `h2 → h1 ${family}: the payload goes in cleartext`).toBeGreaterThan(0);
      expect(p.received, 'and arrives').toBe(8);
    }
    const rows = await matrix();
    for (const r of rows) {
      const withH1 = r.pair.split('~').includes('h1');
      expect(r.enforcement).toBe('use');
      expect(r.cleartext, `${r.pair} ${r.family}: cleartext flag`).toBe(withH1);
      expect(r.health, `${r.pair} ${r.family}`).toBe(withH1 ? 'down' : 'encrypted');
    }
    await lab.startCharon('h1');
  }, 600_000);
});
