// Clouds behind 1:1 NAT, networks that drop ESP and unmanaged peers, from the inventory to
// the rendered swanctl and sysctl text (docs/topology.md, "1:1 NAT", "Unmanaged peers"), and
// every combination that cannot work refused by name before anything is pushed.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadInventoryFile, parseInventory, type InventoryInput } from '../../components/inventory/index.js';
import { espInnerMtu, formatPeerSheet, planPeerSheet, renderHostConfig } from '../../components/render/index.js';
import { computeHostPairs, pairsForHost, remoteAddress, TopologyError } from '../../components/topology/index.js';
import { connectionsOf, val } from './render-conf-parser.js';
import { inventoryIssues } from './inventory-issues.js';

const example = (name: string): string => fileURLToPath(new URL(`../../examples/inventories/${name}`, import.meta.url));

async function rendered(file: string, host: string) {
  const inventory = await loadInventoryFile(example(file));
  const pairs = computeHostPairs(inventory);
  const h = inventory.hosts.find((x) => x.name === host)!;
  const files = renderHostConfig({ inventory, host: h, pairs: pairsForHost(pairs, host) });
  const text = (prefix: string) => files.find((f) => f.path.startsWith(prefix))!.content;
  return { inventory, pairs, swanctl: text('/etc/swanctl/conf.d/'), sysctl: text('/etc/sysctl.d/') };
}

describe('1:1 NAT and sites that drop ESP (examples/inventories/cloud-nat.yaml)', () => {
  it('pairs across sites reach a NATed host at its public address; pairs inside its site at its private one', async () => {
    const { pairs } = await rendered('cloud-nat.yaml', 'api-e1');
    const fam = (key: string) => pairs.pairs.find((p) => p.key === key)!.families[0]!;
    expect(fam('api-e1~api-e2')).toEqual({ family: 'ipv4', a: '198.51.100.140', b: '198.51.100.141' });
    expect(fam('api-e1~db1')).toEqual({ family: 'ipv4', a: '198.51.100.140', b: '203.0.113.10', aPublic: '203.0.113.140' });
    expect(fam('api-e1~api-w1')).toEqual({ family: 'ipv4', a: '198.51.100.140', b: '198.51.100.200', aPublic: '203.0.113.140', bPublic: '203.0.113.200' });
    expect(remoteAddress(fam('api-e1~db1'), false)).toBe('203.0.113.140');
    expect(remoteAddress(fam('api-e1~db1'), true)).toBe('203.0.113.10');
  });

  it('renders own private address locally, the peer as reached, and encap = yes where a site drops ESP', async () => {
    const e1 = connectionsOf((await rendered('cloud-nat.yaml', 'api-e1')).swanctl);
    expect([val(e1.get('cloud-mesh_db1_v4'), 'local_addrs'), val(e1.get('cloud-mesh_db1_v4'), 'remote_addrs')]).toEqual(['198.51.100.140', '203.0.113.10']);
    expect(val(e1.get('cloud-mesh_db1_v4'), 'encap')).toBe('yes');
    expect(val(e1.get('cloud-mesh_api-w1_v4'), 'remote_addrs')).toBe('203.0.113.200');
    expect(val(e1.get('cloud-mesh_api-e2_v4'), 'remote_addrs')).toBe('198.51.100.141');
    const db1 = connectionsOf((await rendered('cloud-nat.yaml', 'db1')).swanctl);
    const c = db1.get('cloud-mesh_api-e1_v4')!;
    expect([val(c, 'local_addrs'), val(c, 'remote_addrs'), val(c, 'remote.id')]).toEqual(['203.0.113.10', '203.0.113.140', 'api-e1.aws-east.example.net']);
    expect(val(c, 'encap'), 'db1 is in a site that does not drop ESP, but its peer is').toBe('yes');
    const sel = c.sections.get('children')!.sections.get('cloud-mesh_api-e1_v4')!;
    expect([val(sel, 'local_ts'), val(sel, 'remote_ts')]).toEqual(['203.0.113.10/32', '203.0.113.140/32']);
  });

  it('counts the 8 bytes of UDP encapsulation in the MTU and MSS of links that use it, not others', async () => {
    const { sysctl } = await rendered('cloud-nat.yaml', 'db1');
    const plain = espInnerMtu(1500, 'aes256gcm16-ecp384', 'transport', false, 'ipv4');
    const udp = espInnerMtu(1500, 'aes256gcm16-ecp384', 'transport', true, 'ipv4');
    expect(udp).toBe(plain - 8);
    expect(sysctl).toContain(`to site aws-east (link MTU 1500): IPv4 MTU ${udp}`);
    expect(sysctl).toContain('NAT-T assumed');
    const noNat = await loadInventoryFile(example('cache-core.yaml'));
    const h = noNat.hosts[0]!;
    const files = renderHostConfig({ inventory: noNat, host: h, pairs: pairsForHost(computeHostPairs(noNat), h.name) });
    const text = files.map((f) => f.content).join('\n');
    expect(text).not.toContain('encap = yes');
    expect(text).not.toContain('NAT-T assumed');
  });
});

const base = (): InventoryInput => ({
  mesh: { name: 'm', auth: 'psk' },
  sites: [{ name: 's1' }, { name: 's2' }],
  hosts: [
    { name: 'a', site: 's1', addresses: { ipv4: [{ address: '198.51.100.10', public: '203.0.113.10' }] }, ssh: { insecureAcceptAnyHostKey: true } },
    { name: 'b', site: 's2', addresses: { ipv4: ['203.0.113.20'] }, ssh: { insecureAcceptAnyHostKey: true } },
    { name: 'r', site: 's2', managed: false, addresses: { ipv4: ['203.0.113.1'] } },
  ],
  rules: [{ mesh: { sites: ['s1', 's2'] } }],
});

const issues = inventoryIssues;

describe('what cannot work is refused by name', () => {
  it('accepts the base inventory', () => {
    expect(issues(base())).toEqual([]);
  });

  it('NAT needs per-peer layout and transport mode; a public address is unique and of its family', () => {
    const b = base();
    expect(issues({ ...b, mesh: { ...b.mesh, mode: 'tunnel' } })).toEqual([expect.stringMatching(/^hosts\[0\]\.addresses\.ipv4\[0\]\.public: a host behind 1:1 NAT needs mode "transport"/)]);
    expect(issues({ ...b, mesh: { name: 'm', layout: 'compact' }, hosts: b.hosts.slice(0, 2) })).toEqual([expect.stringMatching(/^hosts\[0\]\.addresses\.ipv4\[0\]\.public: a host behind 1:1 NAT needs layout "per-peer"/)]);
    const dup = { ...b, hosts: [b.hosts[0]!, { ...b.hosts[1]!, addresses: { ipv4: ['203.0.113.10'] } }, b.hosts[2]!] };
    expect(issues(dup)).toEqual([expect.stringMatching(/^hosts\[1\]\.addresses\.ipv4\[0\]: address 203\.0\.113\.10 is already used at hosts\[0\]\.addresses\.ipv4\[0\]\.public/)]);
    const v6 = { ...b, hosts: [{ ...b.hosts[0]!, addresses: { ipv4: [{ address: '198.51.100.10', public: '2001:db8::1' }] } }, ...b.hosts.slice(1)] };
    expect(issues(v6)).toEqual([expect.stringMatching(/^hosts\[0\]\.addresses\.ipv4\[0\]\.public: /)]);
  });

  it('forceUdpEncap needs the per-peer layout', () => {
    const b = base();
    expect(issues({ ...b, mesh: { name: 'm', layout: 'compact' }, sites: [{ name: 's1', forceUdpEncap: true }, { name: 's2' }], hosts: [b.hosts[1]!, { ...b.hosts[1]!, name: 'c', site: 's1', addresses: { ipv4: ['198.51.100.30'] } }] })).toEqual([
      expect.stringMatching(/^sites\[0\]\.forceUdpEncap: forcing UDP encapsulation needs layout "per-peer"/),
    ]);
  });

  it('an unmanaged host needs PSK mode and takes no ssh; two unmanaged hosts cannot pair', () => {
    const b = base();
    expect(issues({ ...b, mesh: { name: 'm' } })).toEqual([expect.stringMatching(/^hosts\[2\]\.managed: host "r" is unmanaged, which needs mesh\.auth psk/)]);
    expect(issues({ ...b, hosts: [...b.hosts.slice(0, 2), { ...b.hosts[2]!, ssh: { port: 22 } }] })).toEqual([expect.stringMatching(/^hosts\[2\]\.ssh: host "r" is unmanaged \(managed: false\)/)]);
    const two = parseInventory({ ...b, hosts: [...b.hosts, { name: 'r2', site: 's1', managed: false, addresses: { ipv4: ['198.51.100.2'] } }] });
    expect(() => computeHostPairs(two)).toThrow(TopologyError);
    expect(() => computeHostPairs(two)).toThrow(/pairs "r" and "r2", which are both unmanaged/);
    const inv = parseInventory(b);
    expect(inv.hosts.find((h) => h.name === 'r')?.unmanaged).toBe(true);
    expect(inv.hosts.find((h) => h.name === 'a')?.unmanaged).toBeUndefined();
  });
});

describe('peer sheet of an unmanaged host (examples/inventories/unmanaged-router.yaml)', () => {
  it('is the unmanaged side of each connection the managed peers render, with the command for its key, never the key', async () => {
    const inventory = await loadInventoryFile(example('unmanaged-router.yaml'));
    const pairs = computeHostPairs(inventory);
    const router = inventory.hosts.find((h) => h.name === 'edge-rtr')!;
    const sheet = planPeerSheet(inventory, router, pairsForHost(pairs, 'edge-rtr'));
    expect(sheet.connections.map((c) => c.peer)).toEqual(['relay1', 'relay2']);
    // Each connection mirrors the managed peer's rendered one.
    for (const c of sheet.connections) {
      const peer = inventory.hosts.find((h) => h.name === c.peer)!;
      const conn = connectionsOf(renderHostConfig({ inventory, host: peer, pairs: pairsForHost(pairs, peer.name) })[0]!.content).get(c.peerConnection)!;
      expect([val(conn, 'local_addrs'), val(conn, 'remote_addrs'), val(conn, 'remote.id'), val(conn, 'local.id')]).toEqual([c.remoteAddress, c.localAddress, c.localIdentity, c.remoteIdentity]);
      expect(val(conn, 'proposals')).toBe(sheet.ikeProposals);
    }
    const text = formatPeerSheet(sheet);
    expect(text).toContain(`pre-shared key:       pulumi stack output --show-secrets --json unmanagedPeerSecrets | jq -r '.["edge-rtr"]["relay2"]'`);
    expect(text).not.toMatch(/0x[0-9a-f]{16}/);
    const relay1 = inventory.hosts.find((h) => h.name === 'relay1')!;
    expect(() => planPeerSheet(inventory, relay1, pairsForHost(pairs, 'relay1'))).toThrow(/a peer sheet is for an unmanaged host/);
  });
});

describe('roaming hosts (examples/inventories/roaming.yaml)', () => {
  it('peers accept the roaming host from any address by its identity and never initiate; it traps from any source; MOBIKE stays off', async () => {
    const { pairs, swanctl } = await rendered('roaming.yaml', 'relay1');
    expect(pairs.pairs.find((p) => p.key === 'laptop-ana~relay1')!.families).toEqual([
      { family: 'ipv4', a: 'dynamic', b: '198.51.100.10' },
      { family: 'ipv6', a: 'dynamic', b: '2001:db8:a::10' },
    ]);
    const relay = connectionsOf(swanctl).get('ops-mesh_laptop-ana_v4')!;
    expect([val(relay, 'local_addrs'), val(relay, 'remote_addrs'), val(relay, 'remote.id'), val(relay, 'mobike')]).toEqual(['198.51.100.10', '%any4', 'laptop-ana.roaming.example.org', 'no']);
    const child = relay.sections.get('children')!.sections.get('ops-mesh_laptop-ana_v4')!;
    expect([val(child, 'remote_ts'), val(child, 'start_action'), val(child, 'dpd_action'), val(child, 'close_action')]).toEqual(['dynamic', 'none', 'clear', 'none']);
    expect(swanctl).toContain('# an end roams: it re-authenticates from each new address');
    const laptop = connectionsOf((await rendered('roaming.yaml', 'laptop-ana')).swanctl).get('ops-mesh_relay2_v6')!;
    expect([val(laptop, 'local_addrs'), val(laptop, 'remote_addrs'), val(laptop, 'mobike')]).toEqual(['%any', '2001:db8:f::10', 'no']);
    const lchild = laptop.sections.get('children')!.sections.get('ops-mesh_relay2_v6')!;
    expect([val(lchild, 'local_ts'), val(lchild, 'remote_ts'), val(lchild, 'start_action')]).toEqual(['::/0', '2001:db8:f::10/128', 'trap']);
  });

  it('refuses what cannot work: two roaming ends, "use" with the roaming end answering, an address identity, no ssh.host, compact, tunnel', () => {
    const b = base();
    const roamer = { name: 'm', site: 's1', addresses: 'dynamic' as const, ssh: { host: 'm.example.org', insecureAcceptAnyHostKey: true } };
    expect(issues({ ...b, hosts: [...b.hosts.slice(0, 2), roamer] })).toEqual([]);
    expect(issues({ ...b, hosts: [...b.hosts.slice(0, 2), { ...roamer, ssh: { insecureAcceptAnyHostKey: true } }] })).toEqual([expect.stringMatching(/^hosts\[2\]\.ssh\.host: host "m" roams/)]);
    expect(issues({ ...b, hosts: [...b.hosts.slice(0, 2), { ...roamer, identity: '198.51.100.99' }] })).toEqual([expect.stringMatching(/^hosts\[2\]\.identity: host "m" roams, so its IKE identity cannot be an address/)]);
    expect(issues({ ...b, mesh: { ...b.mesh, mode: 'tunnel' }, hosts: [b.hosts[1]!, roamer] })).toEqual([expect.stringMatching(/^hosts\[1\]\.addresses: a roaming host needs mode "transport"/)]);
    expect(issues({ ...b, mesh: { name: 'm', layout: 'compact' }, hosts: [b.hosts[1]!, roamer] })).toEqual([expect.stringMatching(/^hosts\[1\]\.addresses: a roaming host needs layout "per-peer"/)]);
    const two = parseInventory({ ...b, hosts: [b.hosts[1]!, roamer, { ...roamer, name: 'n', ssh: { host: 'n.example.org', insecureAcceptAnyHostKey: true } }] });
    expect(() => computeHostPairs(two)).toThrow(/pairs "m" and "n", which both roam/);
    // "use": fine when the roaming end sorts first (it starts the SA), refused when it answers.
    expect(() => computeHostPairs(parseInventory({ ...b, mesh: { ...b.mesh, enforcement: 'use' }, hosts: [b.hosts[1]!, { ...roamer, name: 'a0' }] }))).not.toThrow();
    expect(() => computeHostPairs(parseInventory({ ...b, mesh: { ...b.mesh, enforcement: 'use' }, hosts: [b.hosts[1]!, { ...roamer, name: 'z' }] }))).toThrow(/at enforcement "use", but "z" roams/);
  });
});
