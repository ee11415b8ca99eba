// The benchmarks' inventories: dual-stack full meshes of N hosts in four sites. Addresses are
// data only (nothing is sent): IPv4 from 198.18.0.0/15 (RFC 2544, reserved for benchmarks — the
// documentation ranges hold too few addresses for 1000 hosts), IPv6 from 2001:db8::/32.
import type { InventoryInput } from '../components/inventory/inventory-input.js';

const SITES = 4;

/** A layout, or compact with `compactSelectors: site-prefixes`. */
export type BenchVariant = 'compact' | 'compact-site-prefixes' | 'per-peer';

export function benchInventory(hosts: number, variant: BenchVariant): InventoryInput {
  const layout = variant === 'per-peer' ? 'per-peer' : 'compact';
  const sites = Array.from({ length: SITES }, (_, s) => ({
    name: `site${s}`,
    // /17 per site inside 198.18.0.0/15 and a /48 per site: compact can use prefixes.
    prefixes: [`198.${18 + (s >> 1)}.${(s & 1) * 128}.0/17`, `2001:db8:${s}::/48`],
  }));
  return {
    mesh: {
      name: 'bench',
      domain: 'example.net',
      layout,
      ...(variant === 'compact-site-prefixes' ? { compactSelectors: 'site-prefixes' as const } : {}),
      auth: 'certificate',
      enforcement: 'require',
    },
    sites,
    hosts: Array.from({ length: hosts }, (_, i) => {
      const s = i % SITES;
      const n = Math.floor(i / SITES) + 1; // < 32768 per site (the /17)
      return {
        name: `h${i}`,
        site: `site${s}`,
        cluster: 'all',
        addresses: {
          ipv4: [`198.${18 + (s >> 1)}.${(s & 1) * 128 + (n >> 8)}.${n & 255}`],
          ipv6: [`2001:db8:${s}::${n.toString(16)}`],
        },
      };
    }),
    rules: [{ mesh: { clusters: ['all'] } }],
  };
}
