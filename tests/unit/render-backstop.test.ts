// The mesh's nftables table and its boot unit: which peers the `require` backstop covers, that
// every bypass shunt is accepted before the drop, the TCP MSS clamp per link, and that nft and
// systemd accept what is rendered.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Host } from '../../components/inventory/model.js';
import { backstopTable, describeHostConfig, meshFilePaths, renderBackstopUnit, renderHostConfig, requirePeerAddresses } from '../../components/render/index.js';
import { espInnerMtu, tcpMss } from '../../components/render/esp-overhead.js';
import { fullMesh, mkHost, mkInventory, mkSite, pairsOf } from './render-fixtures.js';

const alpha = mkHost('alpha', 1, { sshPort: 2222 });
const bravo = mkHost('bravo', 2, { v6: false });
const charlie = mkHost('charlie', 3);
const delta = mkHost('delta', 4);
const HOSTS = [alpha, bravo, charlie, delta];
// alpha–delta is `use`, every other pair `require`.
const level = (a: string, b: string): 'use' | 'require' => (a === 'alpha' && b === 'delta' ? 'use' : 'require');
const PAIRS = fullMesh(HOSTS, level);
const tmp = mkdtempSync(join(tmpdir(), 'backstop-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function backstop(host: Host, opts: { enabled?: boolean; pairs?: typeof PAIRS; mesh?: Parameters<typeof mkInventory>[1] } = {}): string | undefined {
  const files = renderHostConfig({
    inventory: mkInventory(HOSTS, opts.mesh ?? {}),
    host,
    pairs: pairsOf(opts.pairs ?? PAIRS, host.name),
    monitor: false,
    ...(opts.enabled !== undefined && { enabled: opts.enabled }),
  });
  return files.find((f) => f.path === meshFilePaths(mkInventory(HOSTS).mesh, host).backstopNft)?.content;
}

/** The rule lines of one chain, in order. */
function chain(text: string, name: string): string[] {
  const start = text.indexOf(`\tchain ${name} {`);
  expect(start, `chain ${name}`).toBeGreaterThan(-1);
  const body = text.slice(start, text.indexOf('\n\t}', start)).split('\n').slice(1);
  return body.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

describe('require backstop (nftables)', () => {
  it('covers exactly the require peers, per family: a use pair is left to IPsec alone', () => {
    expect(requirePeerAddresses('alpha', pairsOf(PAIRS, 'alpha'))).toEqual({ ipv4: ['198.51.100.2', '198.51.100.3'], ipv6: ['2001:db8::3'] });
    const text = backstop(alpha)!;
    expect(text).toContain('elements = { 198.51.100.2, 198.51.100.3 }');
    expect(text).toContain('elements = { 2001:db8::3 }');
    expect(text).not.toContain('198.51.100.4'); // delta: use
    // bravo has no IPv6: its table has no IPv6 set or chains.
    const b = backstop(bravo)!;
    expect(b).not.toContain('ip6');
    expect(b).not.toContain('to_peer_v6');
  });

  it('replaces the whole table atomically (create, delete, define in one nft -f transaction)', () => {
    const lines = backstop(alpha)!.split('\n').filter((l) => !l.startsWith('#'));
    expect(lines.slice(0, 3)).toEqual([`table ${backstopTable('prod')} {}`, `delete table ${backstopTable('prod')}`, `table ${backstopTable('prod')} {`]);
  });

  it('accepts IKE, ESP and every bypass shunt that applies to peers before it drops what IPsec does not protect', () => {
    const mesh = { sshFrom: ['198.51.100.200/29', '2001:db8:ff::/64'] };
    const text = backstop(alpha, { mesh })!;
    const shunts = describeHostConfig({ inventory: mkInventory(HOSTS, mesh), host: alpha, pairs: pairsOf(PAIRS, 'alpha') }).bypass;
    for (const [name, verdict] of [
      ['to_peer_v4', 'rt ipsec exists accept'],
      ['from_peer_v4', 'meta ipsec exists accept'],
      ['to_peer_v6', 'rt ipsec exists accept'],
      ['from_peer_v6', 'meta ipsec exists accept'],
    ] as const) {
      const rules = chain(text, name);
      expect(rules.slice(0, 3)).toEqual(['meta l4proto esp accept', 'udp sport { 500, 4500 } accept', 'udp dport { 500, 4500 } accept']);
      expect(rules.at(-2)).toBe(verdict);
      expect(rules.at(-1)).toMatch(/^counter drop comment/);
      const family = name.endsWith('v4') ? '_v4' : '_v6';
      const commented = rules.map((r) => /comment "([^"]+)"/.exec(r)?.[1]).filter((c): c is string => c !== undefined && c.endsWith(family));
      expect(commented.sort()).toEqual(shunts.filter((s) => s.endsWith(family)).sort());
    }
    // Directions mirror each other: this host's sshd port is the source going out, the destination coming in.
    expect(chain(text, 'to_peer_v4')).toContain('ip daddr 198.51.100.200/29 tcp sport 2222 accept comment "prod_pass_ssh-in_v4"');
    expect(chain(text, 'from_peer_v4')).toContain('ip saddr 198.51.100.200/29 tcp dport 2222 accept comment "prod_pass_ssh-in_v4"');
    // Without sshFrom, SSH in from anywhere yields to the mesh: a peer's SSH is not accepted unprotected.
    expect(backstop(alpha)!).not.toContain('ssh-in');
    expect(chain(text, 'to_peer_v4')).toContain('icmp type 3 icmp code 4 accept comment "prod_pass_frag-needed_v4"');
  });

  it('user bypass rules become accept rules scoped to their CIDRs and ports', () => {
    const text = backstop(alpha, { mesh: { bypass: [{ name: 'dns', protocol: 'udp', port: 53, cidrs: ['198.51.100.0/24'] }] } })!;
    expect(chain(text, 'to_peer_v4')).toContain('ip daddr 198.51.100.0/24 udp dport 53 accept comment "prod_rule_dns_out_v4"');
    expect(chain(text, 'from_peer_v4')).toContain('ip saddr 198.51.100.0/24 udp sport 53 accept comment "prod_rule_dns_out_v4"');
    expect(text).not.toContain('prod_rule_dns_out_v6'); // an IPv4 rule only
  });

  it('is not rendered with no require peer, nor with the mesh switched off (the push then deletes the table)', () => {
    expect(backstop(alpha, { enabled: false })).toBeUndefined();
    expect(backstop(alpha, { pairs: fullMesh(HOSTS, () => 'use') })).toBeUndefined();
    expect(backstop(alpha, { pairs: [] })).toBeUndefined();
  });

  it('is a valid nft script (nft -c), also when applied twice', () => {
    const file = join(tmp, 'backstop.nft');
    writeFileSync(file, backstop(alpha, { mesh: { bypass: [{ name: 'dns', protocol: 'udp', port: 53, cidrs: ['198.51.100.0/24', '2001:db8::/32'] }] } })!);
    // --check parses and validates against the kernel without committing anything.
    const r = spawnSync('nft', ['--check', '-f', file], { encoding: 'utf8' });
    if (r.error) throw new Error(`nft did not run (${r.error.message}): scripts/install-system-deps.sh installs nftables`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('boots before the network and strongSwan, and never removes the table when stopped (systemd-analyze verify)', () => {
    const unit = renderBackstopUnit('prod', '/etc/swanctl/ipsec-mesh_prod_backstop.nft');
    expect(unit).toContain('Before=network-pre.target strongswan.service strongswan-starter.service');
    expect(unit).toContain('DefaultDependencies=no');
    expect(unit).toContain('WantedBy=sysinit.target');
    expect(unit).not.toMatch(/ExecStop/);
    const file = join(tmp, 'ipsec-mesh_prod_backstop.service');
    writeFileSync(file, unit);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' } });
    if (r.error) throw new Error(`systemd-analyze did not run: ${r.error.message}`);
    // Only complaints about this unit count (other units on the machine are not ours).
    const ours = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('ipsec-mesh_prod_backstop'));
    expect(ours).toEqual([]);
  });
});

describe('TCP MSS clamp (same table)', () => {
  const P = 'aes256gcm16-ecp384';
  const east1 = mkHost('east1', 11, { site: 'east' });
  const east2 = mkHost('east2', 12, { site: 'east' });
  const west1 = mkHost('west1', 21, { site: 'west' });
  const south1 = mkHost('south1', 31, { site: 'south', v6: false });
  const MESH_HOSTS = [east1, east2, west1, south1];
  // west declares MTU 1400; east and south say nothing (1500 by default).
  const SITES = [mkSite('east'), mkSite('west', 1400), mkSite('south')];
  const mss = (link: number, family: 'ipv4' | 'ipv6'): number => tcpMss(espInnerMtu(link, P, 'transport', false, family), family);

  function table(host: Host, opts: { mssClamp?: 'auto' | 'on' | 'off'; level?: (a: string, b: string) => 'off' | 'use' | 'require'; enabled?: boolean } = {}): string | undefined {
    const inventory = mkInventory(MESH_HOSTS, opts.mssClamp ? { mssClamp: opts.mssClamp } : {}, SITES);
    const files = renderHostConfig({
      inventory,
      host,
      pairs: pairsOf(fullMesh(MESH_HOSTS, opts.level), host.name),
      monitor: false,
      ...(opts.enabled !== undefined && { enabled: opts.enabled }),
    });
    return files.find((f) => f.path === meshFilePaths(inventory.mesh, host).backstopNft)?.content;
  }

  it('auto (default): exactly the links touching a site that declares an MTU, at the MSS that fits it with ESP, both directions, before the require jumps', () => {
    const text = table(east1)!;
    const v4 = mss(1400, 'ipv4');
    const v6 = mss(1400, 'ipv6');
    expect(v4).toBeLessThan(1400 - 40);
    // east1 ~ west1 crosses the 1400 link; east2 (same site) and south1 (neither site declares) do not.
    expect(text).toContain(`\tset mss_v4_${v4} {\n\t\ttype ipv4_addr\n\t\telements = { 198.51.100.21 }\n\t}`);
    expect(text).toContain(`\tset mss_v6_${v6} {\n\t\ttype ipv6_addr\n\t\telements = { 2001:db8::15 }\n\t}`);
    expect(text.match(/\tset mss_/g)).toHaveLength(2);
    const output = chain(text, 'output');
    expect(output).toEqual([
      'type filter hook output priority filter; policy accept;',
      `ip daddr @mss_v4_${v4} tcp flags & (syn | rst) == syn tcp option maxseg size > ${v4} counter tcp option maxseg size set ${v4} comment "link MTU 1400"`,
      `ip6 daddr @mss_v6_${v6} tcp flags & (syn | rst) == syn tcp option maxseg size > ${v6} counter tcp option maxseg size set ${v6} comment "link MTU 1400"`,
      'ip daddr @require_v4 jump to_peer_v4',
      'ip6 daddr @require_v6 jump to_peer_v6',
    ]);
    expect(chain(text, 'input').slice(1, 3)).toEqual([
      `ip saddr @mss_v4_${v4} tcp flags & (syn | rst) == syn tcp option maxseg size > ${v4} counter tcp option maxseg size set ${v4} comment "link MTU 1400"`,
      `ip6 saddr @mss_v6_${v6} tcp flags & (syn | rst) == syn tcp option maxseg size > ${v6} counter tcp option maxseg size set ${v6} comment "link MTU 1400"`,
    ]);
    // west1 clamps towards every peer: its own site declares the MTU.
    const west = table(west1)!;
    expect(west).toContain(`elements = { 198.51.100.11, 198.51.100.12, 198.51.100.31 }`);
    expect(west).toContain(`elements = { 2001:db8::b, 2001:db8::c }`);
    // south1 ~ east: nothing declared on that link.
    expect(table(south1)!).not.toContain('198.51.100.11 }\n\t}\n\tset mss');
    expect(table(south1)!.match(/\tset mss_v4_\d+ \{\n\t\ttype ipv4_addr\n\t\telements = \{ ([^}]*) \}/)?.[1]).toBe('198.51.100.21');
  });

  it('`on` clamps every link (1500 ones too), `off` none; a site without a declared MTU changes nothing in auto', () => {
    const on = table(east1, { mssClamp: 'on' })!;
    expect(on).toContain(`\tset mss_v4_${mss(1500, 'ipv4')} {\n\t\ttype ipv4_addr\n\t\telements = { 198.51.100.12, 198.51.100.31 }`);
    expect(on).toContain(`\tset mss_v4_${mss(1400, 'ipv4')} {`);
    const off = table(east1, { mssClamp: 'off' })!;
    expect(off).not.toContain('maxseg');
    expect(off).toContain('jump to_peer_v4'); // the backstop stays
    const undeclared = renderHostConfig({ inventory: mkInventory(MESH_HOSTS, {}, [mkSite('east'), mkSite('south'), { ...mkSite('west'), mtu: 1400 }]), host: east1, pairs: pairsOf(fullMesh(MESH_HOSTS), 'east1'), monitor: false });
    expect(undeclared.some((f) => f.content.includes('maxseg'))).toBe(false);
  });

  it('renders a table for `use` pairs too (clamp only, no backstop); pairs at off and a switched-off mesh get none', () => {
    const use = table(east1, { level: () => 'use' })!;
    expect(use).toContain('maxseg size set');
    expect(use).not.toContain('require_');
    expect(use).not.toContain('drop');
    expect(use).toContain('TCP MSS clamp');
    expect(use).not.toContain('Kernel backstop');
    // Only east1 ~ west1 crosses the declared link; at `off` it carries no ESP.
    expect(table(east1, { level: (a, b) => (a === 'east1' && b === 'west1' ? 'off' : 'use') })).toBeUndefined();
    expect(table(east1, { enabled: false })).toBeUndefined();
  });

  it('is a valid nft script (nft -c) with clamps and the backstop together, and with clamps alone', () => {
    for (const [name, text] of [['both', table(west1)!], ['clamp-only', table(west1, { level: () => 'use' })!]] as const) {
      const file = join(tmp, `clamp-${name}.nft`);
      writeFileSync(file, text);
      const r = spawnSync('nft', ['--check', '-f', file], { encoding: 'utf8' });
      if (r.error) throw new Error(`nft did not run (${r.error.message}): scripts/install-system-deps.sh installs nftables`);
      expect(r.stderr, name).toBe('');
      expect(r.status, name).toBe(0);
    }
  });
});
