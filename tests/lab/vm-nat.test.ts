// A cloud site behind 1:1 NAT that drops ESP, on real kernels (docs/topology.md "1:1 NAT"):
// what tests/lab/nat-unmanaged.test.ts proves for IKE on namespace hosts, here with CHILD_SAs
// installed and the payload on the wire. Three qemu guests (Debian's kernel, which has ESP):
// c1 and c2 in site `cloud` (198.51.100.128/25, public 203.0.113.128/25 on the lab router,
// IP protocol 50 dropped to and from it), e1 in site `east`. The inventory gives the cloud
// hosts their public addresses and makes the site force UDP encapsulation; enforcement
// require, transport mode, certificates (the defaults). See docs/vm-lab.md.
//
// Needs root, qemu-system-x86, debootstrap and nftables, the Pulumi engine and `npm run
// build`, like tests/lab/vm-mesh.test.ts. Anything missing fails the file with a message.
import { beforeAll, describe, expect, it } from 'vitest';
import type { AddressFamily } from '../../components/inventory/model.js';
import type { PairFamilyStatus } from '../../components/operations/index.js';
import { sendDatagrams } from '../../lab/pair-traffic.js';
import { type LabSpec, espDropCount, waitFor } from '../../lab/netns/index.js';
import { maskXfrmKeys } from '../../lab/vm/esp-proof.js';
import { type VmHost, type VmLab } from '../../lab/vm/index.js';
import { newPayload } from '../../lab/vm/payload-probe.js';
import { IP_PROTO, type PcapFrame, natTKind, summariseWire } from '../../lab/vm/pcap.js';
import { vmMatrix, vmMeshForFile } from './vm-test-support.js';

const NAME = 'vmn';
const FAMILIES: readonly AddressFamily[] = ['ipv4', 'ipv6'];
const SITES = ['cloud', 'east'] as const;
const DATAGRAMS = 8;

const spec: LabSpec = {
  name: NAME,
  sites: [
    { name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' },
    { name: 'cloud', ipv4: '198.51.100.128/25', ipv6: '2001:db8:c::/64', nat: { ipv4: '203.0.113.128/25', dropEsp: true } },
  ],
  hosts: [
    { name: 'c1', site: 'cloud' },
    { name: 'c2', site: 'cloud' },
    { name: 'e1', site: 'east' },
  ],
  // The default operator link (198.51.100.252/30) lies inside the cloud's private /25.
  operator: { ipv4: '198.51.100.64/30' },
};

let lab: VmLab;
let inventoryPath: string;
let espDropsAtStart: number | undefined;

/** How `host` appears on site `site`'s bridge: at its public IPv4 outside its own NAT site, else as itself. */
function seenOn(host: VmHost, family: AddressFamily, site: string): string {
  const pub = host.publicIpv4[0];
  return family === 'ipv4' && pub !== undefined && site !== host.site ? pub : host[family][0]!;
}
/** The address `from` reaches `to` at (and its charon names as the remote): as `to` is seen in `from`'s site. */
const reach = (from: VmHost, to: VmHost, family: AddressFamily): string => seenOn(to, family, from.site);
/** Every pair touching the cloud renders `encap = yes` (the site forces it). */
const encapExpected = (a: VmHost, b: VmHost): boolean => a.site === 'cloud' || b.site === 'cloud';

const matrix = () => vmMatrix({ lab, inventoryPath });

/** What charon logged about selectors and NAT (the first thing to read when a pair does not come up). */
async function charonNotes(host: string): Promise<string> {
  const r = await lab.exec(host, ['sh', '-c', "grep -E 'TS_UNACCEPTABLE|traffic selectors|NAT|unable to install' /var/log/charon.log | tail -n 40; true"]);
  return `--- ${host}: /var/log/charon.log (selectors, NAT)\n${r.stdout.trim()}`;
}

/** One datagram from every guest to every peer at the address it reaches it at (traps start IKE), until every row is encrypted. */
async function waitAllEncrypted(timeoutMs = 120_000): Promise<PairFamilyStatus[]> {
  let last: PairFamilyStatus[] = [];
  const ok = await waitFor(
    async () => {
      await Promise.all(
        lab.hosts.map((h) => sendDatagrams(lab, h.name, lab.hosts.filter((p) => p.name !== h.name).flatMap((p) => FAMILIES.map((f) => reach(h, p, f))))),
      );
      last = await matrix();
      return last.length > 0 && last.every((r) => r.health === 'encrypted') ? true : undefined;
    },
    timeoutMs,
    2_000,
  );
  if (ok !== true) {
    const notes = await Promise.all(lab.hosts.map((h) => charonNotes(h.name)));
    throw new Error(`not every pair got encrypted:\n${last.map((r) => `${r.pair} ${r.family} ${r.health}`).join('\n')}\n${notes.join('\n')}`);
  }
  return last;
}

/** One `src A dst B` block of `ip xfrm state` or `ip xfrm policy`. */
interface XfrmBlock {
  readonly src: string;
  readonly dst: string;
  readonly text: string;
}
function xfrmStates(text: string): XfrmBlock[] {
  return text
    .split(/^(?=src )/m)
    .filter((b) => b.startsWith('src '))
    .map((b) => {
      const m = /^src (\S+) dst (\S+)/.exec(b)!;
      return { src: m[1]!, dst: m[2]!, text: b };
    });
}
const ESPINUDP = /encap type espinudp sport 4500 dport 4500\b/;

interface CrossProbe {
  readonly sent: number;
  readonly received: number;
  readonly payload: string;
  readonly frames: Readonly<Record<(typeof SITES)[number], PcapFrame[]>>;
}

/** DATAGRAMS UDP datagrams from `from` to `to` (at the address `from` reaches it at) while both site bridges are captured. */
async function probeAcross(from: string, to: string, family: AddressFamily): Promise<CrossProbe> {
  const payload = newPayload();
  const port = 5001;
  const sink = `/tmp/imlab-sink-${payload}`;
  await lab.exec(to, ['imlab-udp-sink', String(port), '60', sink], { check: true });
  const captures = await Promise.all(SITES.map((site) => lab.capture({ site })));
  let sent = 0;
  let frames: PcapFrame[][] = [];
  try {
    const r = await lab.exec(from, ['imlab-udp-send', reach(lab.host(from), lab.host(to), family), String(port), payload, String(DATAGRAMS), '0.5'], { timeoutMs: 90_000 });
    sent = Number(/sent (\d+) of/.exec(r.stdout)?.[1] ?? 0);
    await new Promise((r) => setTimeout(r, 500)); // the last frames cross the bridges
  } finally {
    frames = await Promise.all(captures.map((c) => c.stop()));
  }
  const r = await lab.exec(to, ['sh', '-c', `cat ${sink}; kill $(cat ${sink}.bound) 2>/dev/null; rm -f ${sink}*`]);
  const received = r.stdout.split('\n').filter((l) => l.startsWith(`${payload} `)).length;
  return { sent, received, payload, frames: { cloud: frames[0]!, east: frames[1]! } };
}

/** Every address a host of `site` has on any wire (private, public, IPv6). */
function siteAddresses(site: string): Set<string> {
  return new Set(lab.hosts.filter((h) => h.site === site).flatMap((h) => [...h.ipv4, ...h.publicIpv4, ...h.ipv6]));
}
/** IP protocol 50 frames between a host of one site and a host of the other. */
function rawEspBetweenSites(frames: readonly PcapFrame[]): number {
  const [cloud, east] = [siteAddresses('cloud'), siteAddresses('east')];
  return frames.filter(
    (f) => f.protocol === IP_PROTO.esp && ((cloud.has(f.src ?? '') && east.has(f.dst ?? '')) || (east.has(f.src ?? '') && cloud.has(f.dst ?? ''))),
  ).length;
}

const file = vmMeshForFile('vm-nat', spec, { siteFields: { cloud: { forceUdpEncap: true } } }, { afterStart: async (l) => { espDropsAtStart = await espDropCount(l.spec, 'cloud'); } });
// The tests below read the lab as module state, set once the file's lab is up.
beforeAll(() => {
  ({ lab, inventoryPath } = file());
});

describe('vm lab, a cloud site behind 1:1 NAT that drops ESP (forceUdpEncap), require', () => {
  it('every pair and family has INSTALLED transport-mode CHILD_SAs on both ends, UDP-encapsulated on 4500; the cloud is reached at its public IPv4 across sites, at its private one inside', async () => {
    const rows = await waitAllEncrypted();
    expect(rows.map((r) => `${r.pair} ${r.family} ${r.enforcement} ${r.health}`).sort()).toEqual(
      ['c1~c2', 'c1~e1', 'c2~e1'].flatMap((p) => FAMILIES.map((f) => `${p} ${f} require encrypted`)).sort(),
    );
    for (const host of lab.hosts) {
      const sas = await lab.listSas(host.name);
      for (const peer of lab.hosts.filter((h) => h.name !== host.name)) {
        for (const family of FAMILIES) {
          const what = `${host.name} → ${peer.name} ${family} (${host[family][0]} → ${reach(host, peer, family)})`;
          const ike = sas.find((s) => s.state === 'ESTABLISHED' && s.localHost === host[family][0] && s.remoteHost === reach(host, peer, family));
          expect(ike, `${what}: an ESTABLISHED IKE_SA\n${await charonNotes(host.name)}`).toBeDefined();
          const raw = ike!.raw as Record<string, unknown>;
          expect([raw['local-port'], raw['remote-port']], `${what}: IKE on 4500`).toEqual(['4500', '4500']);
          const child = ike!.children.find((c) => c.state === 'INSTALLED');
          expect(child, `${what}: an INSTALLED CHILD_SA\n${await charonNotes(host.name)}`).toBeDefined();
          expect(child!.mode).toBe('TRANSPORT');
          expect(child!.protocol).toBe('ESP');
          expect(child!.encap, `${what}: CHILD_SA UDP-encapsulated`).toBe(encapExpected(host, peer));
        }
      }
      const log = (await lab.exec(host.name, ['cat', '/var/log/charon.log'], { check: true })).stdout;
      expect(log, `${host.name}: charon refused no selectors`).not.toMatch(/TS_UNACCEPTABLE|no acceptable traffic selectors/);
    }
  }, 300_000);

  it('a payload cloud → east and back, both families, arrives, and both site bridges show it only as ESP-in-UDP on 4500: no ESP, no cleartext; c1 at its public IPv4 on the east bridge, its private one on the cloud bridge', async () => {
    const [c1, e1] = [lab.host('c1'), lab.host('e1')];
    for (const [from, to] of [['c1', 'e1'], ['e1', 'c1']] as const) {
      for (const family of FAMILIES) {
        const p = await probeAcross(from, to, family);
        const what = `${from} → ${to} ${family}`;
        const figures: string[] = [];
        for (const site of SITES) {
          const frames = p.frames[site];
          const [cAddr, eAddr] = [seenOn(c1, family, site), seenOn(e1, family, site)];
          const w = summariseWire(frames, cAddr, eAddr, p.payload);
          const encapsulated = frames.filter((f) => natTKind(f) === 'esp' && [f.src, f.dst].includes(cAddr) && [f.src, f.dst].includes(eAddr));
          const rawEsp = rawEspBetweenSites(frames);
          figures.push(
            `${site} bridge: ${w.frames} frames, ${w.espInUdp} ESP-in-UDP and ${w.ikeOn4500} IKE on 4500 between ${cAddr} and ${eAddr}, ` +
              `${rawEsp} ESP (protocol 50) between the sites, ${frames.filter((f) => f.protocol === IP_PROTO.esp).length} ESP in all, ${w.plaintextFrames} with the payload`,
          );
          expect(rawEsp, `${what}, ${site} bridge: IP protocol 50 frames between the sites`).toBe(0);
          expect(w.esp, `${what}, ${site} bridge: ESP between ${cAddr} and ${eAddr}`).toBe(0);
          expect(w.espInUdp, `${what}, ${site} bridge: ESP-in-UDP frames between ${cAddr} and ${eAddr}`).toBeGreaterThanOrEqual(DATAGRAMS);
          expect(encapsulated.every((f) => f.srcPort === 4500 && f.dstPort === 4500), `${what}, ${site} bridge: ESP-in-UDP from 4500 to 4500`).toBe(true);
          expect(w.leaks, `${what}, ${site} bridge: frames with the payload in cleartext`).toEqual([]);
          expect(w.plaintextOccurrences).toBe(0);
          if (family === 'ipv4') {
            // The NAT is on the router: the cloud's bridge never sees c1's public address, east's never its private one.
            const hidden = site === 'east' ? c1.ipv4[0]! : c1.publicIpv4[0]!;
            const seen = frames.filter((f) => f.src === hidden || f.dst === hidden).length;
            expect(seen, `${what}, ${site} bridge: frames with c1 at ${hidden}`).toBe(0);
          }
        }
        console.log(`vm-nat payload ${what} (${DATAGRAMS} datagrams, sent ${p.sent}, received ${p.received}):\n  ${figures.join('\n  ')}`);
        expect(p.sent, `${what}: datagrams the sender's kernel took`).toBe(DATAGRAMS);
        expect(p.received, `${what}: copies received`).toBe(DATAGRAMS);
      }
    }
  }, 300_000);

  it('TCP across the NAT in transport mode (checksums over an address the NAT rewrote) delivers every line both ways, as ESP-in-UDP only', async () => {
    const [c1, e1] = [lab.host('c1'), lab.host('e1')];
    const port = 5002;
    // IPv4 only: the kernel at each end sums over the other end's address as it sees it, which
    // the NAT made differ from the sender's (IPv6 is not translated: nothing to add there).
    for (const [from, to] of [['e1', 'c1'], ['c1', 'e1']] as const) {
      for (const family of ['ipv4'] as const) {
        const what = `TCP ${from} → ${to} ${family}`;
        const payload = newPayload();
        const sink = `/tmp/imlab-tcp-${payload}`;
        await lab.exec(to, ['imlab-tcp-sink', String(port), '60', sink], { check: true });
        const capture = await lab.capture({ site: 'east' });
        let frames: PcapFrame[] = [];
        let sent = 0;
        try {
          const r = await lab.exec(from, ['imlab-tcp-send', reach(lab.host(from), lab.host(to), family), String(port), payload, '3', '0.2'], { check: true, timeoutMs: 60_000 });
          sent = Number(/sent (\d+) lines/.exec(r.stdout)?.[1] ?? 0);
          await new Promise((r) => setTimeout(r, 500));
        } finally {
          frames = await capture.stop();
        }
        const got = await waitFor(async () => {
          const n = Number((await lab.exec(to, ['sh', '-c', `grep -c ${payload} ${sink} || true`], { check: true })).stdout.trim());
          return n >= sent ? n : undefined;
        }, 10_000, 500);
        await lab.exec(to, ['sh', '-c', `kill $(cat ${sink}.bound) 2>/dev/null; rm -f ${sink}*`]);
        const w = summariseWire(frames, seenOn(c1, family, 'east'), seenOn(e1, family, 'east'), payload);
        console.log(`vm-nat ${what}: sent ${sent} lines, received ${got ?? 'fewer'}; east bridge: ${w.espInUdp} ESP-in-UDP, ${w.esp} ESP, ${w.plaintextFrames} with the payload`);
        expect(sent, `${what}: lines written`).toBeGreaterThanOrEqual(5);
        expect(got, `${what}: lines received`).toBe(sent);
        expect(w.espInUdp, `${what}: ESP-in-UDP frames`).toBeGreaterThanOrEqual(sent);
        expect(w.esp).toBe(0);
        expect(w.leaks, `${what}: cleartext`).toEqual([]);
      }
    }
  }, 300_000);

  it("the kernels: c1 holds its SAs with e1 on its own private address, e1 holds them with c1's public one; every SA of the mesh is ESP-in-UDP 4500 ↔ 4500, transport mode", async () => {
    const [c1, c2, e1] = [lab.host('c1'), lab.host('c2'), lab.host('e1')];
    const views: Record<string, { state: XfrmBlock[]; policy: string }> = {};
    for (const h of [c1, c2, e1]) {
      const state = (await lab.exec(h.name, ['ip', 'xfrm', 'state'], { check: true })).stdout;
      const policy = (await lab.exec(h.name, ['ip', 'xfrm', 'policy'], { check: true })).stdout;
      views[h.name] = { state: xfrmStates(state), policy };
      console.log(`--- ${h.name}: ip xfrm state (keys hidden)\n${maskXfrmKeys(state).trim()}\n--- ${h.name}: ip xfrm policy\n${policy.trim()}`);
    }
    const sasBetween = (host: VmHost, a: string, b: string): XfrmBlock[] => views[host.name]!.state.filter((s) => (s.src === a && s.dst === b) || (s.src === b && s.dst === a));
    const expectSas = (host: VmHost, own: string, peer: string): void => {
      const sas = sasBetween(host, own, peer);
      const what = `${host.name}: SAs ${own} ↔ ${peer}`;
      expect(sas.some((s) => s.src === own) && sas.some((s) => s.dst === own), `${what}, out and in`).toBe(true);
      for (const s of sas) {
        expect(s.text, what).toContain('mode transport');
        expect(s.text, `${what}: ESP-in-UDP`).toMatch(ESPINUDP);
      }
    };
    // Across the NAT, IPv4: each kernel sees what its own wire shows.
    expectSas(c1, c1.ipv4[0]!, e1.ipv4[0]!);
    expectSas(e1, e1.ipv4[0]!, c1.publicIpv4[0]!);
    const c1State = views.c1!.state.map((s) => s.text).join('');
    const e1State = views.e1!.state.map((s) => s.text).join('');
    expect(c1State, "c1's kernel never uses its public address").not.toContain(c1.publicIpv4[0]!);
    expect(e1State, "e1's kernel never uses c1's private address").not.toMatch(new RegExp(`${c1.ipv4[0]!.replace(/\./g, '\\.')}(?![0-9])`));
    // Policies likewise: c1 selects its private address, e1 the public one.
    expect(views.c1!.policy).toContain(`src ${c1.ipv4[0]!}/32 dst ${e1.ipv4[0]!}/32`);
    expect(views.e1!.policy).toContain(`src ${e1.ipv4[0]!}/32 dst ${c1.publicIpv4[0]!}/32`);
    expect(views.e1!.policy).not.toMatch(new RegExp(`${c1.ipv4[0]!.replace(/\./g, '\\.')}/`));
    // IPv6 is not translated, but the cloud forces encapsulation; inside the cloud, private addresses.
    expectSas(c1, c1.ipv6[0]!, e1.ipv6[0]!);
    expectSas(e1, e1.ipv6[0]!, c1.ipv6[0]!);
    expectSas(c1, c1.ipv4[0]!, c2.ipv4[0]!);
    expectSas(c2, c2.ipv6[0]!, c1.ipv6[0]!);
    // Nothing of the mesh is plain ESP anywhere.
    for (const h of [c1, c2, e1]) {
      const esp = views[h.name]!.state.filter((s) => /proto esp/.test(s.text));
      expect(esp.length, `${h.name}: ESP SAs`).toBeGreaterThanOrEqual(2 * 2 * FAMILIES.length);
      expect(esp.filter((s) => !ESPINUDP.test(s.text)).map((s) => `${s.src} → ${s.dst}`), `${h.name}: SAs without UDP encapsulation`).toEqual([]);
    }
  }, 120_000);

  it("the router's ESP drop counter for the cloud stayed 0: nothing tried raw ESP", async () => {
    expect(espDropsAtStart, 'at the start').toBe(0);
    expect(await espDropCount(lab.spec, 'cloud'), 'after every pair and probe').toBe(0);
  });
});
