// Bypass (pass) shunts: what they cover, that they win over every mesh policy, and the off switch.
import { describe, expect, it } from 'vitest';
import type { BypassRule, Host } from '../../components/inventory/model.js';
import {
  BYPASS_POLICY_PRIORITY,
  FALLBACK_BYPASS_POLICY_PRIORITY,
  describeHostConfig,
  MESH_POLICY_PRIORITY,
  renderHostConfig,
  type HostConfigInput,
} from '../../components/render/index.js';
import { checkHostTrust } from '../../components/inventory/host-trust.js';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import { fixtureHostKey } from './mesh-fixtures.js';
import { childrenOf, connectionsOf, val, type ConfSection } from './render-conf-parser.js';
import { fullMesh, mkHost, mkInventory, pairsOf } from './render-fixtures.js';

const dual = mkHost('alpha', 1, { sshPort: 2222 });
const v4only = mkHost('bravo', 2, { v6: false });
const v6only = mkHost('charlie', 3, { v4: false });
const HOSTS = [dual, v4only, v6only];

function conf(host: Host, mesh: Parameters<typeof mkInventory>[1] = {}, extra: Partial<HostConfigInput> = {}): Map<string, ConfSection> {
  const text = renderHostConfig({ inventory: mkInventory(HOSTS, mesh), host, pairs: pairsOf(fullMesh(HOSTS), host.name), ...extra })[0]!.content;
  return connectionsOf(text);
}

function shunts(host: Host, mesh: Parameters<typeof mkInventory>[1] = {}, extra: Partial<HostConfigInput> = {}): Map<string, ConfSection> {
  const bypass = conf(host, mesh, extra).get('prod_bypass');
  if (bypass === undefined) throw new Error('no bypass connection');
  return new Map(childrenOf(bypass).map((c) => [c.name, c]));
}

describe('bypass shunts', () => {
  it('are pass policies installed at load, in a connection no peer can match', () => {
    const bypass = conf(dual).get('prod_bypass')!;
    expect(val(bypass, 'remote_addrs')).toBe('127.0.0.1');
    expect(childrenOf(bypass).length).toBeGreaterThan(0);
    for (const s of childrenOf(bypass)) {
      expect(val(s, 'mode')).toBe('pass');
      expect(val(s, 'start_action')).toBe('trap');
    }
  });

  it('win over every mesh policy: explicit priorities, bypass lower (preferred) than mesh; SSH from any source yields to it', () => {
    expect(BYPASS_POLICY_PRIORITY).toBeLessThan(MESH_POLICY_PRIORITY);
    expect(FALLBACK_BYPASS_POLICY_PRIORITY).toBeGreaterThan(MESH_POLICY_PRIORITY);
    for (const mesh of [{}, { layout: 'compact' as const }, { auth: 'psk' as const, mode: 'tunnel' as const }]) {
      const conns = conf(dual, mesh);
      const children = childrenOf(conns.get('prod_bypass')!);
      // Without mesh.sshFrom, SSH in from anywhere loses to a peer's mesh policy: the peer's SSH takes its SA both ways.
      expect(children.filter((c) => c.name.includes('ssh-in')).map((c) => Number(val(c, 'priority')))).toEqual([FALLBACK_BYPASS_POLICY_PRIORITY, FALLBACK_BYPASS_POLICY_PRIORITY]);
      const pass = children.filter((c) => !c.name.includes('ssh-in')).map((c) => Number(val(c, 'priority')));
      const protect = [...conns.entries()].filter(([n]) => n !== 'prod_bypass').flatMap(([, c]) => childrenOf(c).map((x) => Number(val(x, 'priority'))));
      expect(protect.length).toBeGreaterThan(0);
      expect(Math.max(...pass)).toBeLessThan(Math.min(...protect));
      expect(pass.every((p) => p > 0)).toBe(true); // 0 would mean strongSwan's automatic priority
    }
  });

  it('let SSH in to this host’s sshd only; SSH from one mesh host to another is protected like other traffic', () => {
    const s = shunts(dual);
    expect(val(s.get('prod_pass_ssh-in_v4'), 'local_ts')).toBe('0.0.0.0/0[6/2222]');
    expect(val(s.get('prod_pass_ssh-in_v4'), 'remote_ts')).toBe('0.0.0.0/0[6]');
    expect(val(s.get('prod_pass_ssh-in_v6'), 'local_ts')).toBe('::/0[6/2222]');
    expect(val(shunts(v4only).get('prod_pass_ssh-in_v4'), 'local_ts')).toBe('0.0.0.0/0[6/22]');
    expect([...s.keys()].filter((n) => n.includes('ssh-out'))).toEqual([]);
  });

  it('narrow SSH in to mesh.sshFrom (per family) plus the host’s jump host given by address', () => {
    const jumped = { ...dual, ssh: { ...dual.ssh, jumpHost: { host: '203.0.113.250', port: 22, user: 'ops' } } };
    const s = shunts(jumped, { sshFrom: ['198.51.100.200/29'] });
    expect(val(s.get('prod_pass_ssh-in_v4'), 'remote_ts')).toBe('198.51.100.200/29[6],203.0.113.250/32[6]');
    // No IPv6 source declared: no IPv6 SSH bypass at all.
    expect(s.has('prod_pass_ssh-in_v6')).toBe(false);
    // Declared sources win over the mesh policies, whoever they are.
    expect(Number(val(s.get('prod_pass_ssh-in_v4'), 'priority'))).toBe(BYPASS_POLICY_PRIORITY);
    expect(val(shunts(v4only, { sshFrom: ['198.51.100.200/29', '2001:db8:ff::/64'] }).get('prod_pass_ssh-in_v4'), 'remote_ts')).toBe('198.51.100.200/29[6]');
  });

  it('let only PMTU discovery through of ICMP (frag-needed 3/4 as type<<8|code, ICMPv6 packet too big), for the families the host has', () => {
    const s = shunts(dual);
    expect([val(s.get('prod_pass_frag-needed_v4'), 'local_ts'), val(s.get('prod_pass_frag-needed_v4'), 'remote_ts')]).toEqual(['0.0.0.0/0[1/772]', '0.0.0.0/0[1/772]']);
    expect([val(s.get('prod_pass_ptb_v6'), 'local_ts'), val(s.get('prod_pass_ptb_v6'), 'remote_ts')]).toEqual(['::/0[58/2]', '::/0[58/2]']);
    // No blanket ICMP: echo, port unreachable and the rest go through IPsec like other traffic.
    const selectors = [...s.values()].flatMap((c) => [val(c, 'local_ts'), val(c, 'remote_ts')]);
    expect(selectors.filter((t) => /\[(1|58)\]/.test(t ?? ''))).toEqual([]);
    expect([...shunts(v4only).keys()].some((n) => n.endsWith('_v6'))).toBe(false);
    expect([...shunts(v6only).keys()].some((n) => n.endsWith('_v4'))).toBe(false);
  });

  it('carry neighbour discovery (ICMPv6 135/136, type on both selectors) exactly when the host has IPv6', () => {
    const nd = (h: Host) => [...shunts(h).values()].filter((c) => /\[58\/13[56]\]/.test(c.values.get('local_ts') ?? ''));
    expect(nd(v4only)).toEqual([]);
    for (const h of [dual, v6only]) {
      const found = nd(h);
      expect(found.map((c) => c.name)).toEqual(['prod_pass_nd-ns_v6', 'prod_pass_nd-na_v6']);
      expect(found.map((c) => [val(c, 'local_ts'), val(c, 'remote_ts')])).toEqual([
        ['::/0[58/135]', '::/0[58/135]'],
        ['::/0[58/136]', '::/0[58/136]'],
      ]);
    }
  });

  it('add the inventory’s own rules per family: port both ways, CIDRs of the family, ICMP types', () => {
    const bypass: BypassRule[] = [
      { name: 'oldvpn', protocol: 'udp', port: 1194, cidrs: ['203.0.113.0/24', '2001:db8:ff::/48'] },
      { name: 'v6mon', protocol: 'tcp', port: 9100, cidrs: ['2001:db8:aa::/48'] },
      { name: 'gre', protocol: 'any', cidrs: ['198.51.100.0/24'] },
      { name: 'echo', protocol: 'icmp', port: 8 },
      { name: 'esp-legacy', protocol: 'esp' },
    ];
    const s = shunts(dual, { bypass });
    const ts = (n: string) => [val(s.get(n), 'local_ts'), val(s.get(n), 'remote_ts')];
    expect(ts('prod_rule_oldvpn_in_v4')).toEqual(['0.0.0.0/0[17/1194]', '203.0.113.0/24[17]']);
    expect(ts('prod_rule_oldvpn_out_v4')).toEqual(['0.0.0.0/0[17]', '203.0.113.0/24[17/1194]']);
    expect(ts('prod_rule_oldvpn_in_v6')).toEqual(['::/0[17/1194]', '2001:db8:ff::/48[17]']);
    expect(s.has('prod_rule_v6mon_in_v4')).toBe(false);
    expect(ts('prod_rule_v6mon_out_v6')).toEqual(['::/0[6]', '2001:db8:aa::/48[6/9100]']);
    expect(ts('prod_rule_gre_v4')).toEqual(['0.0.0.0/0', '198.51.100.0/24']);
    expect(s.has('prod_rule_gre_v6')).toBe(false);
    expect(ts('prod_rule_echo_v4')).toEqual(['0.0.0.0/0[1/8]', '0.0.0.0/0[1/8]']);
    expect(s.has('prod_rule_echo_v6')).toBe(false);
    expect(ts('prod_rule_esp-legacy_v6')).toEqual(['::/0[50]', '::/0[50]']);
    expect(() => shunts(dual, { bypass: [bypass[0]!, { ...bypass[1]!, name: 'oldvpn' }] })).toThrow(expect.objectContaining({ code: 'duplicate-bypass' }));
  });
});

describe('off switch (enabled: false)', () => {
  it('renders no mesh connection at all and keeps every bypass shunt', () => {
    for (const mesh of [{}, { layout: 'compact' as const }]) {
      const on = conf(dual, mesh);
      const off = conf(dual, mesh, { enabled: false });
      expect([...off.keys()]).toEqual(['prod_bypass']);
      expect(childrenOf(off.get('prod_bypass')!).map((c) => c.name)).toEqual(childrenOf(on.get('prod_bypass')!).map((c) => c.name));
      const d = describeHostConfig({ inventory: mkInventory(HOSTS, mesh), host: dual, pairs: pairsOf(fullMesh(HOSTS), 'alpha'), enabled: false });
      expect(d.connections).toEqual([]);
      expect(d.children).toEqual([]);
      expect(d.bypass.length).toBe(childrenOf(off.get('prod_bypass')!).length);
    }
  });

  it('works even when a pair could not be rendered (use reaching the compact layout)', () => {
    const pairs = pairsOf(fullMesh(HOSTS, () => 'use'), 'alpha');
    const inventory = mkInventory(HOSTS, { layout: 'compact' });
    expect(() => renderHostConfig({ inventory, host: dual, pairs })).toThrow(expect.objectContaining({ code: 'compact-use' }));
    expect([...connectionsOf(renderHostConfig({ inventory, host: dual, pairs, enabled: false })[0]!.content).keys()]).toEqual(['prod_bypass']);
  });
});

describe('mesh.sshFrom validation', () => {
  const base = {
    mesh: { name: 'prod', sshFrom: ['198.51.100.200/29'] },
    sites: [{ name: 'dc1' }],
    rules: [{ mesh: { sites: ['dc1'] } }],
  };
  const key = fixtureHostKey(1);
  it('names a host the declared sources could not reach once IPsec is required, and a jump host known only by name', () => {
    const inventory = parseInventory({
      ...base,
      hosts: [
        { name: 'a', site: 'dc1', addresses: { ipv4: ['198.51.100.1'] }, ssh: { hostKey: key } },
        { name: 'b', site: 'dc1', addresses: { ipv6: ['2001:db8::2'] }, ssh: { hostKey: key } },
        { name: 'c', site: 'dc1', addresses: { ipv4: ['198.51.100.3'] }, ssh: { hostKey: key, jumpHost: { host: 'bastion.example.net', hostKey: key } } },
      ],
    });
    const messages = checkHostTrust(inventory).map((i) => `${i.path}: ${i.message}`);
    expect(messages).toEqual([
      expect.stringMatching(/^mesh\.sshFrom: host "b" is reached over IPv6 \(ssh 2001:db8::2\) but mesh\.sshFrom lists no IPv6 source/),
      expect.stringMatching(/^hosts\[2\]\.ssh\.jumpHost\.host: host "c": its jump host "bastion\.example\.net" is a name/),
    ]);
  });
});
