// The example inventories in examples/inventories must stay valid and mean what they say.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadInventoryFile, selectHosts } from '../../components/inventory/index.js';

const example = (name: string): string => fileURLToPath(new URL(`../../examples/inventories/${name}`, import.meta.url));

describe('example inventories', () => {
  it('cache-core.yaml: cache sites ↔ core sites, dual-stack, staged enforcement', async () => {
    const inv = await loadInventoryFile(example('cache-core.yaml'));
    expect(inv.mesh).toMatchObject({ name: 'dc-mesh', layout: 'per-peer', auth: 'certificate', enforcement: 'require' });
    expect(inv.sites.map((s) => s.name)).toEqual(['eqiad', 'codfw', 'esams', 'ulsfo', 'eqsin']);
    expect(inv.sites.find((s) => s.name === 'eqsin')).toMatchObject({ mtu: 1450, enforcement: 'use' });
    expect(inv.hosts.length).toBeGreaterThanOrEqual(10);
    for (const h of inv.hosts) {
      expect(h.addresses.ipv4.length, h.name).toBeGreaterThan(0);
      expect(h.addresses.ipv6.length, h.name).toBeGreaterThan(0);
    }
    expect(inv.hosts.find((h) => h.name === 'cp3001')?.identity).toBe('cp3001.esams.example.net');
    expect(inv.rules.map((r) => r.kind)).toEqual(['between', 'between']);
    const cacheSites = selectHosts(inv.hosts, { sites: ['esams', 'ulsfo', 'eqsin'] });
    const coreSites = selectHosts(inv.hosts, { sites: ['eqiad', 'codfw'] });
    expect([cacheSites.length, coreSites.length]).toEqual([6, 4]);
  });

  it('clusters.yaml: isolated full-mesh clusters, IPv4, compact layout', async () => {
    const inv = await loadInventoryFile(example('clusters.yaml'));
    expect(inv.mesh).toMatchObject({ name: 'hg-mesh', layout: 'compact', auth: 'certificate', enforcement: 'require', xfrmGcThresh: 65_536 });
    for (const h of inv.hosts) expect(h.addresses.ipv6, h.name).toEqual([]);
    expect(inv.rules[0]).toEqual({ kind: 'mesh', select: { clusters: ['ingest', 'storage', 'render'] }, by: 'cluster', index: 0 });
    expect(inv.rules[1]).toEqual({ kind: 'mesh', select: { tags: ['alerting'] }, index: 1 });
    const store5 = inv.hosts.find((h) => h.name === 'store5');
    expect(store5?.addresses.ipv4).toEqual([
      { address: '203.0.113.21', network: 'wan' },
      { address: '203.0.113.53', network: 'lan' },
    ]);
    expect(store5?.ssh).toMatchObject({ host: '203.0.113.53', port: 2222, user: 'deploy', insecureAcceptAnyHostKey: false });
    expect(store5?.ssh.hostKey).toMatch(/^ssh-ed25519 /);
  });
});
