// The model resources' facts (pure): one Site per site, one HostPair per pair in the per-peer
// layout, one SitePair per pair of sites in the compact layout, with what each reports.
import { describe, expect, it } from 'vitest';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import { planModelResources, sitePairKey } from '../../components/mesh/model-plan.js';
import { computeHostPairs } from '../../components/topology/compute-host-pairs.js';
import { meshInventory } from './mesh-fixtures.js';

function plan(input: ReturnType<typeof meshInventory>) {
  const inventory = parseInventory(input);
  return planModelResources(inventory, computeHostPairs(inventory));
}

describe('planModelResources', () => {
  it('per-peer: a Site per site with its MTU, prefixes and hosts; a HostPair per pair with hosts, sites, families and settings', () => {
    const input = meshInventory({ perSite: 2, dualStack: true });
    const p = plan({
      ...input,
      mesh: { ...input.mesh, pairOverrides: [{ hosts: ['ams1', 'fra2'], enforcement: 'use' }] },
      sites: [{ name: 'ams', mtu: 1400, prefixes: ['198.51.100.0/24', '2001:db8:1::/48'] }, { name: 'fra' }],
    });
    expect(p.sites).toEqual([
      { name: 'ams', mtu: 1400, prefixes: { ipv4: ['198.51.100.0/24'], ipv6: ['2001:db8:1::/48'] }, hosts: ['ams1', 'ams2'] },
      { name: 'fra', mtu: 1500, prefixes: { ipv4: [], ipv6: [] }, hosts: ['fra1', 'fra2'] },
    ]);
    expect(p.sitePairs).toEqual([]);
    expect(p.hostPairs.map((x) => x.key)).toEqual(['ams1~ams2', 'ams1~fra1', 'ams1~fra2', 'ams2~fra1', 'ams2~fra2', 'fra1~fra2']);
    expect(p.hostPairs.find((x) => x.key === 'ams1~fra2')).toEqual({
      key: 'ams1~fra2',
      a: 'ams1',
      b: 'fra2',
      siteA: 'ams',
      siteB: 'fra',
      families: [
        { family: 'ipv4', a: '198.51.100.1', b: '203.0.113.2' },
        { family: 'ipv6', a: '2001:db8:1::1', b: '2001:db8:2::2' },
      ],
      enforcement: 'use',
      layout: 'per-peer',
      auth: 'certificate',
      proposals: ['aes256gcm16-prfsha384-ecp384'],
      espProposals: ['aes256gcm16-ecp384'],
    });
    expect(p.hostPairs.filter((x) => x.enforcement === 'require')).toHaveLength(5);
  });

  it('compact: no HostPair; one SitePair per pair of sites (within a site too) counting its pairs per level', () => {
    const input = meshInventory({ perSite: 3, layout: 'compact' });
    const p = plan({ ...input, mesh: { ...input.mesh, pairOverrides: [{ hosts: ['ams1', 'fra1'], enforcement: 'off' }] } });
    expect(p.hostPairs).toEqual([]);
    expect(p.sitePairs.map((s) => [s.key, s.pairs, s.enforcement, s.families])).toEqual([
      ['ams~ams', 3, { off: 0, use: 0, require: 3 }, ['ipv4']],
      ['ams~fra', 9, { off: 1, use: 0, require: 8 }, ['ipv4']],
      ['fra~fra', 3, { off: 0, use: 0, require: 3 }, ['ipv4']],
    ]);
    expect(p.sitePairs[1]).toMatchObject({ siteA: 'ams', siteB: 'fra', layout: 'compact', auth: 'certificate' });
  });

  it('grows with pairs in per-peer (4950 HostPairs at 100 hosts) and with site pairs only in compact (3 at 100 hosts)', () => {
    expect(plan(meshInventory({ perSite: 50 })).hostPairs).toHaveLength(4950);
    const compact = plan(meshInventory({ perSite: 50, layout: 'compact' }));
    expect(compact.hostPairs).toHaveLength(0);
    expect(compact.sitePairs).toHaveLength(3);
  });

  it('names a site pair the same whichever way round', () => {
    expect(sitePairKey('fra', 'ams')).toBe('ams~fra');
    expect(sitePairKey('ams', 'fra')).toBe('ams~fra');
    expect(sitePairKey('ams', 'ams')).toBe('ams~ams');
  });
});
