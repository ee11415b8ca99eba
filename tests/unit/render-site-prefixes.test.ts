// compact `site-prefixes`: remote_ts and the backstop hold the peers' site prefixes, so a
// host's files do not change when a host joins a site; what else lives in those prefixes is
// passed by a shunt (from the inventory) or by the user's bypass rules.
import { describe, expect, it } from 'vitest';
import type { InventoryInput } from '../../components/inventory/inventory-input.js';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import { renderHostConfig } from '../../components/render/host-config.js';
import type { RenderedFile } from '../../components/render/rendered-file.js';
import { computeHostPairs, pairsForHost } from '../../components/topology/index.js';
import { inventoryIssues } from './inventory-issues.js';

const SITES = [
  { name: 'east', prefixes: ['198.51.100.0/25', '2001:db8:e::/64'] },
  { name: 'west', prefixes: ['198.51.100.128/25', '2001:db8:f::/64'] },
];

/** `perSite` hosts in each site, dual-stack, one full mesh; `extra` is merged into the input. */
function meshInput(perSite: number, extra: Partial<InventoryInput> = {}, selectors: 'site-prefixes' | 'peer-addresses' = 'site-prefixes'): InventoryInput {
  const hosts = SITES.flatMap((s, si) =>
    Array.from({ length: perSite }, (_, i) => ({
      name: `${s.name}${i + 1}`,
      site: s.name,
      addresses: { ipv4: [`198.51.100.${si * 128 + i + 10}`], ipv6: [`2001:db8:${si === 0 ? 'e' : 'f'}::${(i + 10).toString(16)}`] },
      ssh: { hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHfOtuHyB8ZW3dmrYq4ZS7e1zqWa7yQoVO5YKxqHBpgh' },
    })),
  );
  return {
    mesh: { name: 'pfx', layout: 'compact', compactSelectors: selectors, auth: 'certificate', enforcement: 'require' },
    sites: SITES,
    hosts,
    rules: [{ mesh: { sites: ['east', 'west'] } }],
    ...extra,
  } as InventoryInput;
}

function filesOf(input: InventoryInput, host: string): Map<string, string> {
  const inventory = parseInventory(input, '<test>');
  const pairs = computeHostPairs(inventory);
  const h = inventory.hosts.find((x) => x.name === host)!;
  const files: RenderedFile[] = renderHostConfig({ inventory, host: h, pairs: pairsForHost(pairs, host) });
  return new Map(files.map((f) => [f.path, f.content]));
}

function file(files: Map<string, string>, suffix: string): string {
  const hit = [...files].filter(([p]) => p.endsWith(suffix));
  expect(hit.map(([p]) => p)).toHaveLength(1);
  return hit[0]![1];
}

describe('compact site-prefixes', () => {
  it('traps the peer sites\' prefixes, not the peers, and passes the host itself', () => {
    const files = filesOf(meshInput(3), 'east1');
    const swanctl = file(files, 'conf.d/ipsec-mesh_pfx.conf');
    expect(swanctl).toContain('remote_ts = 198.51.100.0/25,198.51.100.128/25');
    expect(swanctl).toContain('remote_ts = 2001:db8:e::/64,2001:db8:f::/64');
    // No peer address anywhere in the connection; the host's own address passes (local traffic).
    expect(swanctl).not.toContain('198.51.100.11/32');
    expect(swanctl).toMatch(/pfx_pass_outside-mesh_v4 : [^{]*\{[^}]*remote_ts = 198\.51\.100\.10\/32\n/);
    expect(swanctl).toMatch(/pfx_pass_outside-mesh_v6 : [^{]*\{[^}]*remote_ts = 2001:db8:e::a\/128\n/);
    const nft = file(files, '.nft');
    expect(nft).toContain('\t\tflags interval\n\t\telements = { 198.51.100.0/25, 198.51.100.128/25 }');
    expect(nft).toContain('\t\tflags interval\n\t\telements = { 2001:db8:e::/64, 2001:db8:f::/64 }');
    // The exception is accepted before the drop, in both directions.
    expect(nft).toMatch(/chain to_peer_v4 \{[\s\S]*?ip daddr 198\.51\.100\.10\/32 accept comment "pfx_pass_outside-mesh_v4"[\s\S]*?counter drop/);
    expect(nft).toMatch(/chain from_peer_v4 \{[\s\S]*?ip saddr 198\.51\.100\.10\/32 accept comment "pfx_pass_outside-mesh_v4"[\s\S]*?counter drop/);
  });

  it('a host joining a site changes no other host\'s files (the default mode changes all of them)', () => {
    for (const selectors of ['site-prefixes', 'peer-addresses'] as const) {
      const before = filesOf(meshInput(3, {}, selectors), 'west2');
      const after = filesOf(meshInput(4, {}, selectors), 'west2');
      const changed = [...after].filter(([p, c]) => before.get(p) !== c).map(([p]) => p);
      if (selectors === 'site-prefixes') {
        expect([...after.keys()]).toEqual([...before.keys()]);
        expect(changed).toEqual([]);
      } else {
        expect(changed.length).toBeGreaterThan(0);
      }
    }
  });

  it("a host's files are the same size with 3 or 60 peers per site", () => {
    const bytes = (n: number): number => [...filesOf(meshInput(n), 'east1').values()].reduce((s, c) => s + c.length, 0);
    expect(bytes(60)).toBe(bytes(3));
  });

  it('hosts inside the prefixes that are not this host\'s require peers pass; excluded pairs too', () => {
    const input = meshInput(3, { rules: [{ mesh: { sites: ['east', 'west'] } }, { exclude: { pairs: [['east1', 'west3']] } }] } as Partial<InventoryInput>);
    const east1 = file(filesOf(input, 'east1'), 'conf.d/ipsec-mesh_pfx.conf');
    expect(east1).toMatch(/pfx_pass_outside-mesh_v4 : [^{]*\{[^}]*remote_ts = 198\.51\.100\.10\/32,198\.51\.100\.140\/32\n/);
    const east2 = file(filesOf(input, 'east2'), 'conf.d/ipsec-mesh_pfx.conf');
    expect(east2).toMatch(/pfx_pass_outside-mesh_v4 : [^{]*\{[^}]*remote_ts = 198\.51\.100\.11\/32\n/);
  });

  it('non-mesh addresses inside a prefix go in as bypass rules (shunt and backstop)', () => {
    const input = meshInput(2);
    const withRouter = { ...input, mesh: { ...input.mesh, bypass: [{ name: 'routers', protocol: 'any', cidrs: ['198.51.100.1/32'] }] } } as InventoryInput;
    const files = filesOf(withRouter, 'east1');
    expect(file(files, 'conf.d/ipsec-mesh_pfx.conf')).toMatch(/pfx_rule_routers_v4 : [^{]*\{[^}]*remote_ts = 198\.51\.100\.1\/32\n/);
    expect(file(files, '.nft')).toMatch(/chain to_peer_v4 \{[\s\S]*?ip daddr 198\.51\.100\.1\/32 accept comment "pfx_rule_routers_v4"/);
  });

  it('the monitor names no peer: it watches what charon has on the mesh connections', () => {
    const monitor = file(filesOf(meshInput(3), 'east1'), '_monitor.sh');
    expect(monitor).toContain("DISCOVER='pfx_v4 pfx_v6'");
    expect(monitor).toContain("DISCOVER_LOCALS='198.51.100.10 2001:db8:e::a'");
    expect(monitor).not.toMatch(/^T /m);
  });

  it('is refused where it cannot hold', () => {
    const perPeer = meshInput(2);
    const issues = inventoryIssues;
    expect(issues({ ...perPeer, mesh: { ...perPeer.mesh, layout: 'per-peer' } } as InventoryInput)).toEqual([
      'mesh.compactSelectors: compactSelectors "site-prefixes" applies to layout "compact" only (this mesh is "per-peer"): per-peer connections always name one peer address',
    ]);
    const noV6 = { ...perPeer, sites: [SITES[0], { name: 'west', prefixes: ['198.51.100.128/25'] }] } as InventoryInput;
    expect(issues(noV6)).toEqual([
      'hosts[2].addresses.ipv6[0]: mesh.compactSelectors "site-prefixes" traps the sites\' prefixes, but site "west" declares no ipv6 prefix for 2001:db8:f::a: add one to sites[].prefixes',
      'hosts[3].addresses.ipv6[0]: mesh.compactSelectors "site-prefixes" traps the sites\' prefixes, but site "west" declares no ipv6 prefix for 2001:db8:f::b: add one to sites[].prefixes',
    ]);
  });
});
