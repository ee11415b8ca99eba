// A roaming host (addresses: dynamic) on real kernels (docs/topology.md "Roaming hosts"): what
// tests/lab/roaming.test.ts shows for IKE on namespace hosts, here with CHILD_SAs installed —
// which the namespace lab cannot have (no ESP in its kernel, so charon there logs "unable to
// reauthenticate IKE_SA, no CHILD_SA to recreate"). Three qemu guests: a (east), c (west) and
// r (east, roaming). r initiates to every peer; a and c accept it by its certificate from any
// address and never initiate to it. Then r is carried to west: its tap is re-plugged into west's
// bridge and its addresses and default routes change inside the guest. MOBIKE is off, so charon
// on r re-authenticates each IKE_SA from its new address of the same family; the test measures
// how long until a and c hold ESTABLISHED IKE_SAs with INSTALLED CHILD_SAs from r's new
// addresses, and that the payload then crosses the wire as ESP only. See docs/vm-lab.md.
//
// Needs root, qemu-system-x86, debootstrap and nftables, the Pulumi engine and `npm run
// build`, like tests/lab/vm-mesh.test.ts. Anything missing fails the file with a message.
import { appendFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AddressFamily } from '../../components/inventory/model.js';
import type { PairFamilyStatus } from '../../components/operations/index.js';
import { type IkeSaStatus, parseListSas } from '../../components/operations/swanctl-status.js';
import { sendDatagrams } from '../../lab/pair-traffic.js';
import { type LabSpec, waitFor } from '../../lab/netns/index.js';
import { siteBridge, switchNetns } from '../../lab/netns/lab-names.js';
import { ipBatch } from '../../lab/netns/lab-network.js';
import { type ExecResult, type RunOptions, run } from '../../lab/netns/run-command.js';
import type { VmLab } from '../../lab/vm/index.js';
import { newPayload } from '../../lab/vm/payload-probe.js';
import { IP_PROTO, type PcapFrame, summariseWire } from '../../lab/vm/pcap.js';
import { vmMatrix, vmMeshForFile } from './vm-test-support.js';

const NAME = 'vmr';
const FAMILIES: readonly AddressFamily[] = ['ipv4', 'ipv6'];
const PEERS = ['a', 'c'] as const;
const DATAGRAMS = 8;
/** r's addresses in west after the move. */
const NEW: Readonly<Record<AddressFamily, string>> = { ipv4: '203.0.113.50', ipv6: '2001:db8:f::50' };
const suffix = (f: AddressFamily): string => (f === 'ipv4' ? 'v4' : 'v6');

const spec: LabSpec = {
  name: NAME,
  sites: [
    { name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' },
    { name: 'west', ipv4: '203.0.113.0/26', ipv6: '2001:db8:f::/64' },
  ],
  hosts: [
    { name: 'a', site: 'east' },
    { name: 'c', site: 'west' },
    { name: 'r', site: 'east' },
  ],
};

let lab: VmLab;
let inventoryPath: string;
let moved = false;

const matrix = () => vmMatrix({ lab, inventoryPath });

/**
 * Runs argv on r wherever it is: over SSH to its first lab IPv4 before the move, to its new
 * one after (the lab's own exec knows only the addresses the lab gave it).
 */
async function execR(argv: readonly string[], opts: Omit<RunOptions, 'context'> = {}): Promise<ExecResult> {
  if (!moved) return lab.exec('r', argv, opts);
  const ssh = lab.sshArgv('r', argv);
  const at = ssh.indexOf(`root@${lab.host('r').ipv4[0]!}`);
  ssh[at] = `root@${NEW.ipv4}`;
  return run(ssh, { ...opts, context: 'ssh to r (moved)' });
}
/** exec for every guest, r wherever it is. */
const execOn = (host: string, argv: readonly string[], opts: Omit<RunOptions, 'context'> = {}): Promise<ExecResult> =>
  host === 'r' ? execR(argv, opts) : lab.exec(host, argv, opts);
const sasOn = async (host: string): Promise<IkeSaStatus[]> => parseListSas((await execOn(host, ['swanctl', '--list-sas', '--pretty'], { check: true })).stdout);
/** r's current address of `family`. */
const rAddress = (family: AddressFamily): string => (moved ? NEW[family] : lab.host('r')[family][0]!);

/** charon's log lines on `host` about roaming, re-authentication, addresses, DPD and MOBIKE. */
async function charonRoamNotes(host: string, lines = 80): Promise<string> {
  const r = await execOn(host, ['sh', '-c', `grep -iE 'roam|reauth|address|DPD|MOBIKE|unable|retransmit|giving up|deleting|establish' /var/log/charon.log | tail -n ${lines}; true`]);
  return `--- ${host}: /var/log/charon.log (roam, reauth, address, DPD, MOBIKE)\n${r.stdout.trim()}`;
}

const describeSa = (s: IkeSaStatus): string =>
  `${s.name} #${s.uniqueId} ${s.state} ${s.localHost} → ${s.remoteHost} initiator=${s.initiator} children: ${s.children.map((c) => `${c.name} ${c.state}`).join(', ') || 'none'}`;

/** The ESTABLISHED IKE_SA of `conn` on `host` with `remote` as the remote host, holding an INSTALLED CHILD_SA. */
const upWith = (sas: readonly IkeSaStatus[], conn: string, remote: string): IkeSaStatus | undefined =>
  sas.find((s) => s.state === 'ESTABLISHED' && s.name === conn && s.remoteHost === remote && s.children.some((c) => c.state === 'INSTALLED'));

/** No IPv4 connection's IKE_SA runs over IPv6 or the other way round. */
function crossedFamilies(sas: readonly IkeSaStatus[]): string[] {
  return sas
    .filter((s) => s.state === 'ESTABLISHED')
    .filter((s) => (s.name.endsWith('_v4') && (s.localHost.includes(':') || s.remoteHost.includes(':'))) || (s.name.endsWith('_v6') && !(s.localHost.includes(':') && s.remoteHost.includes(':'))))
    .map(describeSa);
}

const file = vmMeshForFile('vm-roaming', spec, { roamingHosts: ['r'] });
// The tests below read the lab as module state, set once the file's lab is up.
beforeAll(() => {
  ({ lab, inventoryPath } = file());
});

describe('vm lab, a roaming host (addresses: dynamic), certificates, transport, require', () => {
  it('r initiates to a and c: every pair and family encrypted, CHILD_SAs INSTALLED on both ends; a and c never initiate to r', async () => {
    const [a, c] = [lab.host('a'), lab.host('c')];
    let last: PairFamilyStatus[] = [];
    const ok = await waitFor(
      async () => {
        await Promise.all([
          sendDatagrams(lab, 'r', PEERS.flatMap((p) => FAMILIES.map((f) => lab.host(p)[f][0]!))),
          sendDatagrams(lab, 'a', FAMILIES.map((f) => c[f][0]!)),
          sendDatagrams(lab, 'c', FAMILIES.map((f) => a[f][0]!)),
        ]);
        last = await matrix();
        return last.length > 0 && last.every((r) => r.health === 'encrypted') ? true : undefined;
      },
      120_000,
      2_000,
    );
    if (ok !== true) console.log(`${last.map((r) => `${r.pair} ${r.family} ${r.health}`).join('\n')}\n${(await Promise.all(['a', 'c', 'r'].map((h) => charonRoamNotes(h)))).join('\n')}`);
    expect(last.map((r) => `${r.pair} ${r.family} ${r.enforcement} ${r.health}`).sort()).toEqual(
      ['a~c', 'a~r', 'c~r'].flatMap((p) => FAMILIES.map((f) => `${p} ${f} require encrypted`)).sort(),
    );
    const rSas = await lab.listSas('r');
    for (const peer of PEERS) {
      const peerSas = await lab.listSas(peer);
      for (const family of FAMILIES) {
        const onPeer = upWith(peerSas, `${NAME}_r_${suffix(family)}`, lab.host('r')[family][0]!);
        expect(onPeer, `${peer}: r's ${family} IKE_SA with an INSTALLED CHILD_SA\n${peerSas.map(describeSa).join('\n')}`).toBeDefined();
        expect(onPeer!.initiator, `${peer} never initiates to r (${family})`).toBe(false);
        expect(onPeer!.children.find((ch) => ch.state === 'INSTALLED')!.mode).toBe('TRANSPORT');
        const onR = upWith(rSas, `${NAME}_${peer}_${suffix(family)}`, lab.host(peer)[family][0]!);
        expect(onR, `r: ${peer}'s ${family} IKE_SA with an INSTALLED CHILD_SA\n${rSas.map(describeSa).join('\n')}`).toBeDefined();
        expect(onR!.initiator, `r initiated to ${peer} (${family})`).toBe(true);
      }
    }
  }, 300_000);

  it('r moves from east to west: a and c get ESTABLISHED IKE_SAs with INSTALLED CHILD_SAs from its new addresses (re-authenticated), no family crossed', async () => {
    const r = lab.host('r');
    const [east, west] = [lab.spec.sites.find((s) => s.name === 'east')!, lab.spec.sites.find((s) => s.name === 'west')!];
    const before = Object.fromEntries(
      await Promise.all(PEERS.map(async (p) => [p, (await lab.listSas(p)).filter((s) => s.name.startsWith(`${NAME}_r_`)).map((s) => s.uniqueId)] as const)),
    );
    // r's sshd will answer at its new address: the same pinned host key there.
    appendFileSync(lab.knownHostsPath, `${NEW.ipv4},${NEW.ipv6} ${r.sshHostKey}\n`);
    const targets = PEERS.flatMap((p) => FAMILIES.map((f) => lab.host(p)[f][0]!));
    // Inside the guest, detached from the SSH session the move cuts: re-address after 0.5 s,
    // then a datagram to every peer address every 0.5 s for 90 s (r's traps start its SAs).
    const readdress = [
      `addr del ${r.ipv4[0]}/${east.ipv4!.prefixLength} dev eth0`,
      `addr del ${r.ipv6[0]}/${east.ipv6!.prefixLength} dev eth0`,
      `addr add ${NEW.ipv4}/${west.ipv4!.prefixLength} dev eth0`,
      `addr add ${NEW.ipv6}/${west.ipv6!.prefixLength} dev eth0 nodad`,
      `route replace default via ${west.ipv4!.gateway} dev eth0 onlink`,
      `route replace ::/0 via ${west.ipv6!.gateway} dev eth0 onlink`,
    ];
    await lab.exec('r', ['sh', '-c', 'cat > /tmp/imlab-move.batch'], { stdin: `${readdress.join('\n')}\n`, check: true });
    const sender = `for i in $(seq 1 180); do ${targets.map((t) => `echo ipsec-mesh-lab >/dev/udp/${t}/9 2>/dev/null`).join('; ')}; sleep 0.5; done`;
    await lab.exec('r', ['sh', '-c', [
      `setsid sh -c 'sleep 0.5; ip -batch /tmp/imlab-move.batch; echo moved $(date +%s.%N)' > /tmp/imlab-move.log 2>&1 < /dev/null &`,
      `setsid bash -c '${sender}' > /dev/null 2>&1 < /dev/null & echo $! > /tmp/imlab-sender.pid`,
    ].join('\n')], { check: true });
    // The laptop is carried to the other site: its tap leaves east's bridge for west's.
    const tMove = Date.now();
    await ipBatch(switchNetns(NAME), [`link set ${r.tap} nomaster`, `link set ${r.tap} master ${siteBridge(west.index)}`], 'moving r to west');
    moved = true;

    const followed: Record<string, number> = {};
    const ok = await waitFor(
      async () => {
        for (const p of PEERS) {
          if (followed[p] !== undefined) continue;
          const sas = await lab.listSas(p);
          if (FAMILIES.every((f) => upWith(sas, `${NAME}_r_${suffix(f)}`, NEW[f]) !== undefined)) followed[p] = (Date.now() - tMove) / 1000;
        }
        return PEERS.every((p) => followed[p] !== undefined) ? true : undefined;
      },
      90_000,
      250,
    );
    const total = (Date.now() - tMove) / 1000;
    const sasAfter = Object.fromEntries(await Promise.all(['a', 'c', 'r'].map(async (h) => [h, await sasOn(h).catch((e: Error) => { console.log(`${h}: ${e.message}`); return [] as IkeSaStatus[]; })] as const)));
    const moveLog = (await execR(['cat', '/tmp/imlab-move.log']).catch((e: Error) => ({ stdout: e.message }))).stdout.trim();
    console.log(
      `vm-roaming: a followed r after ${followed.a?.toFixed(2) ?? 'never'} s, c after ${followed.c?.toFixed(2) ?? 'never'} s (from the tap re-plug; the guest re-addressed ~0.5 s after; waited ${total.toFixed(2)} s); guest: ${moveLog}\n` +
        ['a', 'c', 'r'].map((h) => `--- ${h}: SAs\n${sasAfter[h]!.map(describeSa).join('\n')}`).join('\n'),
    );
    const notes = (await Promise.all(['r', 'a', 'c'].map((h) => charonRoamNotes(h, 60).catch((e: Error) => `${h}: ${e.message}`)))).join('\n');
    console.log(notes);
    expect(ok, `a and c hold r's IKE_SAs with INSTALLED CHILD_SAs from ${NEW.ipv4} and ${NEW.ipv6}`).toBe(true);
    for (const p of PEERS) {
      for (const f of FAMILIES) {
        const sa = upWith(sasAfter[p]!, `${NAME}_r_${suffix(f)}`, NEW[f]);
        expect(sa, `${p}: r's ${f} IKE_SA from ${NEW[f]}`).toBeDefined();
        expect(sa!.initiator, `${p} did not initiate to r`).toBe(false);
        expect(before[p], `${p}: a new IKE_SA for ${f} (re-authenticated), not the one from east`).not.toContain(sa!.uniqueId);
      }
    }
    // r's own connections: each on its own family's new address.
    for (const p of PEERS) {
      for (const f of FAMILIES) {
        const sa = upWith(sasAfter.r!, `${NAME}_${p}_${suffix(f)}`, lab.host(p)[f][0]!);
        expect(sa?.localHost, `r: ${NAME}_${p}_${suffix(f)} from its new ${f} address`).toBe(NEW[f]);
      }
    }
    for (const h of ['a', 'c', 'r']) expect(crossedFamilies(sasAfter[h]!), `${h}: IKE_SAs over the other family`).toEqual([]);
    const rLog = (await execR(['cat', '/var/log/charon.log'], { check: true })).stdout;
    expect(rLog, "r's charon re-authenticated on the address change").toMatch(/reauthenticating IKE_SA due to address change/);
    expect(rLog, 'r never mentions MOBIKE being used').not.toMatch(/MOBIKE (enabled|update)|updating IKE_SA .* MOBIKE/i);
  }, 240_000);

  it("a payload from r's new address to a, both families, arrives and crosses west's and east's bridges as ESP only", async () => {
    await execR(['sh', '-c', 'kill $(cat /tmp/imlab-sender.pid) 2>/dev/null; true']);
    const a = lab.host('a');
    for (const family of FAMILIES) {
      const payload = newPayload();
      const port = 5001;
      const sink = `/tmp/imlab-sink-${payload}`;
      await lab.exec('a', ['imlab-udp-sink', String(port), '60', sink], { check: true });
      const captures = await Promise.all(['west', 'east'].map((site) => lab.capture({ site })));
      let sent = 0;
      let frames: PcapFrame[][] = [];
      try {
        const r = await execR(['imlab-udp-send', a[family][0]!, String(port), payload, String(DATAGRAMS), '0.5'], { timeoutMs: 90_000 });
        sent = Number(/sent (\d+) of/.exec(r.stdout)?.[1] ?? 0);
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        frames = await Promise.all(captures.map((c) => c.stop()));
      }
      const got = await lab.exec('a', ['sh', '-c', `cat ${sink}; kill $(cat ${sink}.bound) 2>/dev/null; rm -f ${sink}*`]);
      const received = got.stdout.split('\n').filter((l) => l.startsWith(`${payload} `)).length;
      const what = `r (${rAddress(family)}) → a (${a[family][0]}) ${family}`;
      const figures: string[] = [];
      for (const [i, site] of ['west', 'east'].entries()) {
        const w = summariseWire(frames[i]!, rAddress(family), a[family][0]!, payload);
        const udpBetween = frames[i]!.filter((f) => f.protocol === IP_PROTO.udp && [f.src, f.dst].includes(rAddress(family)) && [f.src, f.dst].includes(a[family][0]!) && ![500, 4500].includes(f.dstPort ?? -1));
        figures.push(`${site} bridge: ${w.frames} frames, ${w.esp} ESP and ${w.ike} IKE between them, ${udpBetween.length} other UDP, ${w.plaintextFrames} with the payload`);
        expect(w.esp, `${what}, ${site} bridge: ESP frames`).toBeGreaterThanOrEqual(DATAGRAMS);
        expect(w.espInUdp, `${what}, ${site} bridge: ESP-in-UDP`).toBe(0);
        expect(udpBetween.length, `${what}, ${site} bridge: cleartext UDP between them`).toBe(0);
        expect(w.leaks, `${what}, ${site} bridge: frames with the payload in cleartext`).toEqual([]);
        // Nothing comes from r's old address any more (the bridge may still carry the lab's own SSH
        // session to it, closing: a TCP segment from the router to port 22, seen once).
        const old = frames[i]!.filter((f) => f.src === lab.host('r')[family][0] || f.dst === lab.host('r')[family][0]);
        const describeFrame = (f: PcapFrame): string => `proto ${f.protocol ?? '?'} ${f.src ?? '?'}${f.srcPort ? `:${f.srcPort}` : ''} → ${f.dst ?? '?'}${f.dstPort ? `:${f.dstPort}` : ''}, ${f.length} bytes`;
        if (old.length) console.log(`${what}, ${site} bridge: frames with r's old address ${lab.host('r')[family][0]}:\n  ${old.map(describeFrame).join('\n  ')}`);
        expect(old.filter((f) => f.src === lab.host('r')[family][0]).map(describeFrame), `${what}, ${site} bridge: frames from r's old address`).toEqual([]);
      }
      console.log(`vm-roaming payload ${what} (${DATAGRAMS} datagrams, sent ${sent}, received ${received}):\n  ${figures.join('\n  ')}`);
      expect(sent, `${what}: datagrams the sender's kernel took`).toBe(DATAGRAMS);
      expect(received, `${what}: copies received`).toBe(DATAGRAMS);
    }
  }, 240_000);
});
