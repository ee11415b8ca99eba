// Structure of the swanctl.conf per layout, auth, mode and enforcement, read back with the
// test parser (references resolved as strongSwan resolves them).
import { describe, expect, it } from 'vitest';
import type { Host } from '../../components/inventory/model.js';
import {
  describeHostConfig,
  MESH_POLICY_PRIORITY,
  RenderError,
  renderHostConfig,
  type HostConfigInput,
} from '../../components/render/index.js';
import type { HostPair } from '../../components/topology/host-pair.js';
import { childrenOf, connectionsOf, val, type ConfSection } from './render-conf-parser.js';
import { fullMesh, mkHost, mkInventory, mkPair, pairsOf } from './render-fixtures.js';

const alpha = mkHost('alpha', 1);
const bravo = mkHost('bravo', 2, { site: 'dc2' });
const charlie = mkHost('charlie', 3, { v6: false });
const delta = mkHost('delta', 4, { v4: false });
const HOSTS = [alpha, bravo, charlie, delta];

function swanctl(input: HostConfigInput): string {
  const f = renderHostConfig(input).find((x) => x.path.startsWith('/etc/swanctl/conf.d/'));
  if (f === undefined) throw new Error('no swanctl file');
  return f.content;
}

function meshConns(text: string): Map<string, ConfSection> {
  const conns = connectionsOf(text);
  conns.delete('prod_bypass');
  return conns;
}

function input(host: Host, pairs: HostPair[], mesh: Parameters<typeof mkInventory>[1] = {}, extra: Partial<HostConfigInput> = {}): HostConfigInput {
  return { inventory: mkInventory(HOSTS, mesh), host, pairs: pairsOf(pairs, host.name), ...extra };
}

describe('per-peer layout', () => {
  const pairs = fullMesh(HOSTS);

  it('has one connection per peer per shared family, named <mesh>_<peer>_v4/v6, peers sorted', () => {
    const conns = meshConns(swanctl(input(alpha, pairs)));
    // charlie is IPv4-only, delta IPv6-only: one family each.
    expect([...conns.keys()]).toEqual(['prod_bravo_v4', 'prod_bravo_v6', 'prod_charlie_v4', 'prod_delta_v6']);
  });

  it('renders IKEv2, transport, addresses, identities and certificate auth pinned to the CA', () => {
    const c = meshConns(swanctl(input(alpha, pairs, {}, { caCertFiles: ['ipsec-mesh_prod_ca_ca1.pem', 'ipsec-mesh_prod_ca_ca2.pem'] }))).get('prod_bravo_v6')!;
    expect(val(c, 'version')).toBe('2');
    expect(val(c, 'mobike')).toBe('no');
    expect(val(c, 'keyingtries')).toBe('0');
    expect(val(c, 'reauth_time')).toBe('0');
    expect(val(c, 'rekey_time')).toBe('14400s');
    expect(val(c, 'dpd_delay')).toBe('30s');
    expect(val(c, 'proposals')).toBe('aes256gcm16-prfsha384-ecp384');
    expect(val(c, 'local_addrs')).toBe('2001:db8::1');
    expect(val(c, 'remote_addrs')).toBe('2001:db8::2');
    expect(val(c, 'local.auth')).toBe('pubkey');
    expect(val(c, 'local.id')).toBe('alpha.dc1.mesh.example');
    expect(val(c, 'local.certs')).toBe('ipsec-mesh_prod_alpha.pem');
    expect(val(c, 'remote.auth')).toBe('pubkey');
    expect(val(c, 'remote.id')).toBe('bravo.dc2.mesh.example');
    expect(val(c, 'remote.cacerts')).toBe('ipsec-mesh_prod_ca_ca1.pem,ipsec-mesh_prod_ca_ca2.pem');
    expect(val(c, 'send_cert')).toBe('always');
    const [child, ...more] = childrenOf(c);
    expect(more).toEqual([]);
    expect(child!.name).toBe('prod_bravo_v6');
    expect(val(child, 'mode')).toBe('transport');
    expect(val(child, 'esp_proposals')).toBe('aes256gcm16-ecp384');
    expect(val(child, 'rekey_time')).toBe('3600s');
    expect(val(child, 'rekey_bytes')).toBe('50000000000');
    expect(val(child, 'local_ts')).toBe('2001:db8::1/128');
    expect(val(child, 'remote_ts')).toBe('2001:db8::2/128');
    expect(val(child, 'priority')).toBe(String(MESH_POLICY_PRIORITY));
  });

  it('trusts the default CA file when no CA files are given', () => {
    const c = meshConns(swanctl(input(alpha, pairs))).get('prod_bravo_v4')!;
    expect(val(c, 'remote.cacerts')).toBe('ipsec-mesh_prod_ca_ca1.pem');
  });

  it('uses PSK auth without certificates in psk mode', () => {
    const c = meshConns(swanctl(input(alpha, pairs, { auth: 'psk' }))).get('prod_bravo_v4')!;
    expect(val(c, 'local.auth')).toBe('psk');
    expect(val(c, 'remote.auth')).toBe('psk');
    expect(val(c, 'local.id')).toBe('alpha.dc1.mesh.example');
    expect(val(c, 'remote.id')).toBe('bravo.dc2.mesh.example');
    expect(c.sections.get('local')!.values.has('certs')).toBe(false);
    expect(c.sections.get('remote')!.values.has('cacerts')).toBe(false);
    expect(c.values.has('send_cert')).toBe(false);
  });

  it('renders the mesh proposals and lifetimes when overridden', () => {
    const mesh = {
      proposals: ['aes256gcm16-prfsha512-ecp521', 'chacha20poly1305-prfsha256-curve25519'],
      espProposals: ['aes256gcm16-ecp521', 'chacha20poly1305-curve25519'],
      lifetimes: { ikeRekeySeconds: 7200, childRekeySeconds: 900, childRekeyBytes: 1_000_000, dpdDelaySeconds: 10 },
    };
    const c = meshConns(swanctl(input(alpha, pairs, mesh))).get('prod_bravo_v4')!;
    expect(val(c, 'proposals')).toBe('aes256gcm16-prfsha512-ecp521,chacha20poly1305-prfsha256-curve25519');
    expect(val(c, 'rekey_time')).toBe('7200s');
    expect(val(c, 'dpd_delay')).toBe('10s');
    const child = childrenOf(c)[0]!;
    expect(val(child, 'esp_proposals')).toBe('aes256gcm16-ecp521,chacha20poly1305-curve25519');
    expect(val(child, 'rekey_time')).toBe('900s');
    expect(val(child, 'rekey_bytes')).toBe('1000000');
  });

  it('uses host selectors in tunnel mode', () => {
    const conns = meshConns(swanctl(input(alpha, pairs, { mode: 'tunnel' })));
    const v4 = childrenOf(conns.get('prod_bravo_v4')!)[0]!;
    const v6 = childrenOf(conns.get('prod_bravo_v6')!)[0]!;
    expect(val(v4, 'mode')).toBe('tunnel');
    expect([val(v4, 'local_ts'), val(v4, 'remote_ts')]).toEqual(['198.51.100.1/32', '198.51.100.2/32']);
    expect(val(v6, 'mode')).toBe('tunnel');
    expect([val(v6, 'local_ts'), val(v6, 'remote_ts')]).toEqual(['2001:db8::1/128', '2001:db8::2/128']);
  });

  it('quotes an identity that is not a bare word, and it reads back unchanged', () => {
    const dn = 'C=CH, O=Example "Mesh", CN=bravo';
    const b = mkHost('bravo', 2, { identity: dn });
    const inv = mkInventory([alpha, b]);
    const text = swanctl({ inventory: inv, host: alpha, pairs: [mkPair(alpha, b)] });
    expect(val(meshConns(text).get('prod_bravo_v4'), 'remote.id')).toBe(dn);
  });
});

describe('enforcement levels (per-peer)', () => {
  const level = (a: string, b: string) => (b === 'bravo' ? 'require' : b === 'charlie' ? 'use' : 'off');
  const pairs = fullMesh([alpha, bravo, charlie, delta], (a, b) => (a === 'alpha' ? level(a, b) : 'require'));

  it('require: trap on start, DPD and close', () => {
    const child = childrenOf(meshConns(swanctl(input(alpha, pairs))).get('prod_bravo_v4')!)[0]!;
    expect([val(child, 'start_action'), val(child, 'dpd_action'), val(child, 'close_action')]).toEqual(['trap', 'trap', 'trap']);
  });

  it('describe lists the children a host starts itself', () => {
    expect(describeHostConfig(input(alpha, pairs)).initiators).toEqual(['prod_charlie_v4']);
    expect(describeHostConfig(input(charlie, pairs)).initiators).toEqual([]);
  });

  it('use: exactly one end starts (the name sorting first); the other only responds', () => {
    const fromA = childrenOf(meshConns(swanctl(input(alpha, pairs))).get('prod_charlie_v4')!)[0]!;
    const fromC = childrenOf(meshConns(swanctl(input(charlie, pairs))).get('prod_alpha_v4')!)[0]!;
    expect([val(fromA, 'start_action'), val(fromA, 'dpd_action'), val(fromA, 'close_action')]).toEqual(['start', 'restart', 'start']);
    expect([val(fromC, 'start_action'), val(fromC, 'dpd_action'), val(fromC, 'close_action')]).toEqual(['none', 'clear', 'none']);
    for (const c of [fromA, fromC]) expect(c.values.get('start_action')).not.toBe('trap');
  });

  it('off: the pair has no connection on either end', () => {
    expect([...meshConns(swanctl(input(alpha, pairs))).keys()]).toEqual(['prod_bravo_v4', 'prod_bravo_v6', 'prod_charlie_v4']);
    expect([...meshConns(swanctl(input(delta, pairs))).keys()]).toEqual(['prod_bravo_v6']);
  });

  it('every host of a full mesh has exactly one initiator per use pair', () => {
    const hosts = [alpha, bravo, charlie];
    const usePairs = fullMesh(hosts, () => 'use');
    const starters = new Map<string, number>();
    for (const h of hosts) {
      for (const [name, conn] of meshConns(swanctl({ inventory: mkInventory(hosts), host: h, pairs: pairsOf(usePairs, h.name) }))) {
        const child = childrenOf(conn)[0]!;
        const peer = name.split('_')[1]!;
        const key = [h.name, peer].sort().join('~') + name.slice(-3);
        if (val(child, 'start_action') === 'start') starters.set(key, (starters.get(key) ?? 0) + 1);
      }
    }
    expect([...starters.values()].every((n) => n === 1)).toBe(true);
    expect(starters.size).toBe(4); // alpha~bravo v4+v6, alpha~charlie v4, bravo~charlie v4
  });
});

describe('compact layout', () => {
  const mesh = { layout: 'compact' as const };

  it('has one trap connection per family: any remote address, any identity of the mesh CA, peers in remote_ts', () => {
    const pairs = fullMesh(HOSTS);
    const conns = meshConns(swanctl(input(alpha, pairs, mesh)));
    expect([...conns.keys()]).toEqual(['prod_v4', 'prod_v6']);
    const v4 = conns.get('prod_v4')!;
    // Family-specific wildcards: the kernel refuses IPv6 trap policies of a plain %any (EINVAL).
    expect(val(v4, 'remote_addrs')).toBe('%any4');
    expect(val(conns.get('prod_v6')!, 'remote_addrs')).toBe('%any6');
    expect(val(v4, 'remote.id')).toBe('%any');
    expect(val(v4, 'remote.auth')).toBe('pubkey');
    expect(val(v4, 'remote.cacerts')).toBe('ipsec-mesh_prod_ca_ca1.pem');
    expect(val(v4, 'local_addrs')).toBe('198.51.100.1');
    const child = childrenOf(v4)[0]!;
    expect(child.name).toBe('prod_v4');
    expect(val(child, 'mode')).toBe('transport');
    expect(val(child, 'start_action')).toBe('trap');
    expect(val(child, 'local_ts')).toBe('198.51.100.1/32');
    expect(val(child, 'remote_ts')).toBe('198.51.100.2/32,198.51.100.3/32');
    expect(val(childrenOf(conns.get('prod_v6')!)[0], 'remote_ts')).toBe('2001:db8::2/128,2001:db8::4/128');
  });

  it('leaves a pair at off out of remote_ts, and drops a family with no peer left', () => {
    const pairs = fullMesh(HOSTS, (a, b) => (b === 'bravo' || b === 'delta' ? 'off' : 'require'));
    const conns = meshConns(swanctl(input(alpha, pairs, mesh)));
    expect([...conns.keys()]).toEqual(['prod_v4']);
    expect(val(childrenOf(conns.get('prod_v4')!)[0], 'remote_ts')).toBe('198.51.100.3/32');
  });

  it('rejects a pair at use with a RenderError naming host and pair', () => {
    const pairs = fullMesh(HOSTS, (a, b) => (b === 'charlie' ? 'use' : 'require'));
    let err: unknown;
    try {
      renderHostConfig(input(alpha, pairs, mesh));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RenderError);
    const r = err as RenderError;
    expect(r.code).toBe('compact-use');
    expect(r.host).toBe('alpha');
    expect(r.pair).toBe('alpha~charlie');
    expect(r.message).toContain('alpha~charlie');
    expect(() => describeHostConfig(input(alpha, pairs, mesh))).toThrow(RenderError);
  });

  it('rejects PSK auth', () => {
    expect(() => renderHostConfig(input(alpha, fullMesh(HOSTS), { layout: 'compact', auth: 'psk' }))).toThrow(
      expect.objectContaining({ code: 'compact-psk' }),
    );
  });
});

describe('describeHostConfig', () => {
  it('names exactly the connections and children rendered', () => {
    for (const mesh of [{}, { layout: 'compact' as const }, { auth: 'psk' as const, mode: 'tunnel' as const }]) {
      for (const h of HOSTS) {
        const inp = input(h, fullMesh(HOSTS), mesh);
        const d = describeHostConfig(inp);
        const conns = connectionsOf(swanctl(inp));
        const mesh_ = [...conns.keys()].filter((n) => n !== d.bypassConnection);
        expect(d.connections).toEqual(mesh_);
        expect(d.children).toEqual(mesh_.flatMap((n) => childrenOf(conns.get(n)!).map((c) => c.name)));
        expect(d.bypass).toEqual(childrenOf(conns.get(d.bypassConnection)!).map((c) => c.name));
        expect(d.initiators).toEqual(d.children.filter((n) => val(childrenOf(conns.get(n)!)[0], 'start_action') === 'start'));
      }
    }
  });
});

describe('connection fingerprints', () => {
  const pairs = fullMesh(HOSTS);
  const fp = (host: Host, mesh: Parameters<typeof mkInventory>[1] = {}, extra: Partial<HostConfigInput> = {}, ps: HostPair[] = pairs) =>
    describeHostConfig(input(host, ps, mesh, extra)).connectionFingerprints;

  it('has one sha256 per mesh connection (none for the bypass connection), stable for the same input', () => {
    for (const mesh of [{}, { layout: 'compact' as const }, { auth: 'psk' as const }]) {
      const d = describeHostConfig(input(alpha, pairs, mesh));
      expect(Object.keys(d.connectionFingerprints).sort()).toEqual([...d.connections].sort());
      for (const v of Object.values(d.connectionFingerprints)) expect(v).toMatch(/^[0-9a-f]{64}$/);
      expect(fp(alpha, mesh)).toEqual(d.connectionFingerprints);
    }
    // The pair order and a fresh inventory object change nothing.
    expect(describeHostConfig({ inventory: mkInventory(HOSTS), host: alpha, pairs: pairsOf(pairs, 'alpha').reverse() }).connectionFingerprints).toEqual(fp(alpha));
    expect(describeHostConfig(input(alpha, pairs, {}, { enabled: false })).connectionFingerprints).toEqual({});
  });

  it('changes for every connection when a shared template changes (IKE or ESP proposal, lifetimes, CA files)', () => {
    const base = fp(alpha);
    const variants = [
      fp(alpha, { proposals: ['aes128gcm16-prfsha256-ecp256'] }),
      fp(alpha, { espProposals: ['aes128gcm16-ecp256'] }),
      fp(alpha, { lifetimes: { ikeRekeySeconds: 7_200, childRekeySeconds: 3_600, childRekeyBytes: 50_000_000_000, dpdDelaySeconds: 30 } }),
      fp(alpha, {}, { caCertFiles: ['ipsec-mesh_prod_ca_ca1.pem', 'ipsec-mesh_prod_ca_ca2.pem'] }),
    ];
    for (const v of variants) {
      expect(Object.keys(v)).toEqual(Object.keys(base));
      for (const name of Object.keys(base)) expect(v[name], name).not.toBe(base[name]);
    }
  });

  it('changes only for the connections whose own section or role changed', () => {
    const base = fp(alpha);
    // bravo's pair drops to `use`: only alpha's connections to bravo reference another role template.
    const use = fp(alpha, {}, {}, fullMesh(HOSTS, (a, b) => ([a, b].sort().join('~') === 'alpha~bravo' ? 'use' : 'require')));
    const changed = Object.keys(base).filter((n) => use[n] !== base[n]);
    expect(changed.sort()).toEqual(['prod_bravo_v4', 'prod_bravo_v6']);
    // A new address of charlie changes only the connection to charlie of that family.
    const charlie2 = { ...charlie, addresses: { ...charlie.addresses, ipv4: [{ address: '198.51.100.99', network: 'default' }] } };
    const hosts = [alpha, bravo, charlie2, delta];
    const moved = describeHostConfig({ inventory: mkInventory(hosts), host: alpha, pairs: pairsOf(fullMesh(hosts), 'alpha') }).connectionFingerprints;
    expect(Object.keys(base).filter((n) => moved[n] !== base[n])).toEqual(['prod_charlie_v4']);
  });
});

describe('determinism and input checks', () => {
  it('renders identical text whatever the order of the pairs', () => {
    const pairs = pairsOf(fullMesh(HOSTS), 'alpha');
    const inv = mkInventory(HOSTS);
    const a = renderHostConfig({ inventory: inv, host: alpha, pairs });
    const b = renderHostConfig({ inventory: inv, host: alpha, pairs: [...pairs].reverse() });
    const c = renderHostConfig({ inventory: mkInventory(HOSTS), host: alpha, pairs });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('rejects a pair that does not involve the host, and an unknown peer', () => {
    const inv = mkInventory(HOSTS);
    expect(() => renderHostConfig({ inventory: inv, host: alpha, pairs: [mkPair(bravo, charlie)] })).toThrow(
      expect.objectContaining({ code: 'pair-not-for-host', pair: 'bravo~charlie' }),
    );
    const stranger = mkHost('zulu', 9);
    expect(() => renderHostConfig({ inventory: inv, host: alpha, pairs: [mkPair(alpha, stranger)] })).toThrow(
      expect.objectContaining({ code: 'unknown-host' }),
    );
  });

  it('rejects names that cannot be file or connection names, and unrenderable values', () => {
    expect(() => renderHostConfig({ inventory: mkInventory(HOSTS, { name: 'prod.eu' }), host: alpha, pairs: [] })).toThrow(
      expect.objectContaining({ code: 'bad-name' }),
    );
    expect(() => renderHostConfig({ inventory: mkInventory([...HOSTS, mkHost('eve_1', 5)]), host: alpha, pairs: [] })).toThrow(
      expect.objectContaining({ code: 'bad-name', host: 'eve_1' }),
    );
    expect(() => renderHostConfig({ inventory: mkInventory(HOSTS, { proposals: ['aes256gcm16-prfsha384-ecp384!'] }), host: alpha, pairs: [] })).toThrow(
      expect.objectContaining({ code: 'bad-proposal' }),
    );
    const lifetimes = { ikeRekeySeconds: 14_400, childRekeySeconds: 3_600, childRekeyBytes: 10 ** 16, dpdDelaySeconds: 30 };
    expect(() => renderHostConfig({ inventory: mkInventory(HOSTS, { lifetimes }), host: alpha, pairs: [] })).toThrow(
      expect.objectContaining({ code: 'bad-value' }),
    );
    expect(() => renderHostConfig({ ...input(alpha, fullMesh(HOSTS)), caCertFiles: ['a.pem,b.pem'] })).toThrow(
      expect.objectContaining({ code: 'bad-ca-file' }),
    );
  });
});
