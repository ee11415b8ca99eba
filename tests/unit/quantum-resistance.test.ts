// Post-quantum preshared keys (RFC 8784) from the inventory to the rendered text: the PPK_ID
// and ppk_required on each connection, the keys in their own 0600 secrets file, staged per
// site like enforcement, and what cannot work refused by name.
import { describe, expect, it } from 'vitest';
import { deriveMeshPpk, derivePairPpk } from '../../components/credentials/ppk-derivation.js';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { InventoryError, parseInventory, type InventoryInput } from '../../components/inventory/index.js';
import { pairPpkId, renderHostConfig, renderPpkSecrets } from '../../components/render/index.js';
import { computeHostPairs, pairsForHost } from '../../components/topology/index.js';
import { connectionsOf, parseConf, val } from './render-conf-parser.js';

const MASTER = 'a post-quantum master secret of at least 32 bytes!!';

function input(mesh: Partial<InventoryInput['mesh']> = {}, sites: Partial<Record<'s1' | 's2', object>> = {}): InventoryInput {
  return {
    mesh: { name: 'm', ...mesh },
    sites: [{ name: 's1', ...sites.s1 }, { name: 's2', ...sites.s2 }],
    hosts: [
      { name: 'a', site: 's1', addresses: { ipv4: ['198.51.100.1'] }, ssh: { insecureAcceptAnyHostKey: true } },
      { name: 'b', site: 's1', addresses: { ipv4: ['198.51.100.2'] }, ssh: { insecureAcceptAnyHostKey: true } },
      { name: 'c', site: 's2', addresses: { ipv4: ['203.0.113.3'] }, ssh: { insecureAcceptAnyHostKey: true } },
    ],
    rules: [{ mesh: { sites: ['s1', 's2'] } }],
  };
}

function render(inv: InventoryInput, host = 'a') {
  const inventory = parseInventory(inv);
  const pairs = pairsForHost(computeHostPairs(inventory), host);
  const h = inventory.hosts.find((x) => x.name === host)!;
  const swanctl = renderHostConfig({ inventory, host: h, pairs })[0]!.content;
  const ppk = renderPpkSecrets({ inventory, host: h, pairs, ppkFor: (p) => (p === undefined ? deriveMeshPpk(MASTER, 'm') : derivePairPpk(MASTER, 'm', p.a, p.b)) });
  return { conns: connectionsOf(swanctl), swanctl, ppk };
}

describe('post-quantum preshared keys', () => {
  it('required by default: every connection requires its pair\'s PPK', () => {
    const r = render(input());
    expect([val(r.conns.get('m_b_v4'), 'ppk_id'), val(r.conns.get('m_b_v4'), 'ppk_required')]).toEqual(['a.b.m.ppk', 'yes']);
    expect([val(r.conns.get('m_c_v4'), 'ppk_id'), val(r.conns.get('m_c_v4'), 'ppk_required')]).toEqual(['a.c.m.ppk', 'yes']);
    expect(r.ppk).toMatchObject({ mode: 0o600, secret: true });
  });

  it('a rotation (ppkGeneration) gives every pair a PPK_ID of its generation, in the connections and the key file alike', () => {
    const r = render(input({ ppkGeneration: 2 }));
    expect(val(r.conns.get('m_b_v4'), 'ppk_id')).toBe('a.b.m.g2.ppk');
    expect(val(r.conns.get('m_c_v4'), 'ppk_id')).toBe('a.c.m.g2.ppk');
    const secrets = parseConf(r.ppk!.content).sections.get('secrets')!;
    expect(secrets.order.map((k) => secrets.sections.get(k)!.values.get('id'))).toEqual(['a.b.m.g2.ppk', 'a.c.m.g2.ppk']);
    const compact = render(input({ layout: 'compact', ppkGeneration: 1 }));
    expect(val(compact.conns.get('m_v4'), 'ppk_id')).toBe('m.g1.ppk');
    // Generation 0 keeps the first release's ids (no rotation for stacks that never asked).
    expect(val(render(input({ ppkGeneration: 0 })).conns.get('m_b_v4'), 'ppk_id')).toBe('a.b.m.ppk');
    expect(() => parseInventory(input({ ppkGeneration: -1 }))).toThrow(/mesh\.ppkGeneration/);
  });

  it('off: no ppk_id, no PPK file', () => {
    const r = render(input({ quantumResistance: 'off' }));
    expect(r.swanctl).not.toContain('ppk_id');
    expect(r.ppk).toBeUndefined();
  });

  it('a pair override sets one pair\'s level over its sites\' and the mesh\'s, either way', () => {
    const r = render({ ...input({ quantumResistance: 'required', pairOverrides: [{ hosts: ['c', 'a'], quantumResistance: 'preferred' }] }, { s1: { quantumResistance: 'off' } }) });
    // a–b: both sites say off; a–c: the override says preferred though s1 says off.
    expect(r.conns.get('m_b_v4')!.values.has('ppk_id')).toBe(false);
    expect([val(r.conns.get('m_c_v4'), 'ppk_id'), val(r.conns.get('m_c_v4'), 'ppk_required')]).toEqual(['a.c.m.ppk', 'no']);
    expect(parseConf(r.ppk!.content).sections.get('secrets')!.order).toEqual(['ppk-m_c']);
    const lowered = render(input({ pairOverrides: [{ hosts: ['a', 'b'], quantumResistance: 'off' }] }));
    expect(lowered.conns.get('m_b_v4')!.values.has('ppk_id')).toBe(false);
    expect(val(lowered.conns.get('m_c_v4'), 'ppk_required')).toBe('yes');
    // An override may set enforcement alone, quantumResistance alone or both; not neither.
    expect(() => parseInventory(input({ pairOverrides: [{ hosts: ['a', 'b'] } as never] }))).toThrow(/pairOverrides\[0\].*sets enforcement, quantumResistance or both/s);
  });

  it('required: every connection names its pair\'s PPK_ID and requires it; the keys are in a 0600 file, one per pair', () => {
    const r = render(input({ quantumResistance: 'required' }));
    expect([val(r.conns.get('m_b_v4'), 'ppk_id'), val(r.conns.get('m_b_v4'), 'ppk_required')]).toEqual(['a.b.m.ppk', 'yes']);
    expect(val(r.conns.get('m_c_v4'), 'ppk_id')).toBe(pairPpkId('m', 'c', 'a'));
    expect(r.ppk).toMatchObject({ path: '/etc/swanctl/conf.d/ipsec-mesh_m_ppk.conf', mode: 0o600, secret: true });
    const secrets = parseConf(r.ppk!.content).sections.get('secrets')!;
    expect(secrets.order).toEqual(['ppk-m_b', 'ppk-m_c']);
    expect(secrets.sections.get('ppk-m_c')!.values.get('id')).toBe('a.c.m.ppk');
    expect(secrets.sections.get('ppk-m_c')!.values.get('secret')).toBe(derivePairPpk(MASTER, 'm', 'a', 'c'));
    // Both ends derive the same key; a PPK never equals the pair's PSK from the same master.
    expect(derivePairPpk(MASTER, 'm', 'c', 'a')).toBe(derivePairPpk(MASTER, 'm', 'a', 'c'));
    expect(derivePairPpk(MASTER, 'm', 'a', 'c')).not.toBe(derivePairPsk(MASTER, 'm', 'a', 'c'));
    expect(derivePairPpk(MASTER, 'm', 'a', 'c')).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it('staged per site like enforcement: the weaker end wins', () => {
    const r = render(input({ quantumResistance: 'required' }, { s2: { quantumResistance: 'preferred' } }));
    expect(val(r.conns.get('m_b_v4'), 'ppk_required')).toBe('yes');
    expect(val(r.conns.get('m_c_v4'), 'ppk_required')).toBe('no');
    const off = render(input({ quantumResistance: 'required' }, { s2: { quantumResistance: 'off' } }));
    expect(off.conns.get('m_c_v4')!.values.has('ppk_id')).toBe(false);
    expect(parseConf(off.ppk!.content).sections.get('secrets')!.order).toEqual(['ppk-m_b']);
  });

  it('compact: one mesh-wide PPK on its one connection', () => {
    const r = render(input({ layout: 'compact', quantumResistance: 'preferred' }));
    expect([val(r.conns.get('m_v4'), 'ppk_id'), val(r.conns.get('m_v4'), 'ppk_required')]).toEqual(['m.ppk', 'no']);
    expect(parseConf(r.ppk!.content).sections.get('secrets')!.sections.get('ppk-m')!.values.get('secret')).toBe(deriveMeshPpk(MASTER, 'm'));
  });

  it('hybrid ML-KEM between two strongSwan 6 hosts (site or host says so); the mesh\'s proposals towards a 5.9 host', () => {
    const inv = input({}, { s1: { strongswan: '6' } });
    const r = render(inv);
    const ab = r.conns.get('m_b_v4')!;
    expect(val(ab, 'proposals')).toBe('aes256gcm16-prfsha384-ecp384-ke1_mlkem768');
    expect(val(ab.sections.get('children')!.sections.get('m_b_v4')!, 'esp_proposals')).toBe('aes256gcm16-ecp384-ke1_mlkem768');
    const ac = r.conns.get('m_c_v4')!;
    expect(val(ac, 'proposals'), 'c runs 5.9: the mesh template').toBe('aes256gcm16-prfsha384-ecp384');
    expect(val(ac.sections.get('children')!.sections.get('m_c_v4')!, 'esp_proposals')).toBe('aes256gcm16-ecp384');
    const hostLevel = { ...inv, hosts: inv.hosts.map((h) => (h.name === 'c' ? { ...h, strongswan: '6' as const } : h)) };
    expect(val(render(hostLevel).conns.get('m_c_v4'), 'proposals')).toBe('aes256gcm16-prfsha384-ecp384-ke1_mlkem768');
    expect(parseInventory(inv).hosts.map((h) => h.strongswan)).toEqual(['6', '6', undefined]);
  });

  it('refuses per-site and per-pair levels in the compact layout; PPKs towards an unmanaged host are fine', () => {
    const issues = (inv: unknown): string[] => {
      try {
        parseInventory(inv);
        return [];
      } catch (e) {
        if (e instanceof InventoryError) return e.issues.map((i) => `${i.path}: ${i.message}`);
        throw e;
      }
    };
    expect(issues(input({ layout: 'compact' }, { s2: { quantumResistance: 'required' } }))).toEqual([expect.stringMatching(/^sites\[1\]\.quantumResistance: the compact layout shares one mesh-wide PPK/)]);
    expect(issues(input({ layout: 'compact', pairOverrides: [{ hosts: ['a', 'c'], quantumResistance: 'off' }] }))).toEqual([
      expect.stringMatching(/^mesh\.pairOverrides\[0\]\.quantumResistance: the compact layout shares one mesh-wide PPK/),
    ]);
    // An unmanaged host takes its PPKs from its peer sheet (the peers' side is the same).
    const base = input({ auth: 'psk', quantumResistance: 'required' });
    expect(issues({ ...base, hosts: [...base.hosts.slice(0, 2), { name: 'c', site: 's2', managed: false, addresses: { ipv4: ['203.0.113.3'] } }] })).toEqual([]);
    expect(issues(input({ quantumResistance: 'always' as never }))[0]).toMatch(/^mesh\.quantumResistance: /);
  });
});
