// The benchmarks' inventories: dual-stack full meshes of N hosts in four sites. Addresses are
// data only (nothing is sent): IPv4 from 198.18.0.0/15 (RFC 2544, reserved for benchmarks — the
// documentation ranges hold too few addresses for 1000 hosts), IPv6 from 2001:db8::/32.
import type { InventoryInput } from '../components/inventory/inventory-input.js';

const SITES = 4;

/** A layout, or compact with `compactSelectors: site-prefixes`. */
export type BenchVariant = 'compact' | 'compact-site-prefixes' | 'per-peer';

/**
 * `hosts` hosts, `sites` sites (default 4) with a /20 (IPv4, inside 198.18.0.0/15: at most 32
 * sites of 4094) and a /48 each; hosts round-robin over the sites. One full mesh per cluster of
 * `sitesPerCluster` consecutive sites (default: every site, one full mesh).
 */
export function benchInventory(hosts: number, variant: BenchVariant, shape: { sites?: number; sitesPerCluster?: number } = {}): InventoryInput {
  const layout = variant === 'per-peer' ? 'per-peer' : 'compact';
  const siteCount = shape.sites ?? SITES;
  const perCluster = shape.sitesPerCluster ?? siteCount;
  const v4 = (s: number, n: number): string => {
    const x = (18 << 16) + s * 4096 + n; // offset inside 198.18.0.0/15, /20 per site
    return `198.${x >> 16}.${(x >> 8) & 255}.${x & 255}`;
  };
  const sites = Array.from({ length: siteCount }, (_, s) => ({
    name: `site${s}`,
    prefixes: [`${v4(s, 0)}/20`, `2001:db8:${s.toString(16)}::/48`],
  }));
  const clusters = Math.ceil(siteCount / perCluster);
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
      const s = i % siteCount;
      const n = Math.floor(i / siteCount) + 1; // < 4095 per site (the /20)
      return {
        name: `h${i}`,
        site: `site${s}`,
        cluster: `c${Math.floor(s / perCluster)}`,
        addresses: { ipv4: [v4(s, n)], ipv6: [`2001:db8:${s.toString(16)}::${n.toString(16)}`] },
      };
    }),
    rules: Array.from({ length: clusters }, (_, c) => ({ mesh: { clusters: [`c${c}`] } })),
  };
}
