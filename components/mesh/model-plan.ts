// Which model resources a mesh has and what each says (docs/components.md, "The model as
// resources"): one Site per site, and per pair either a HostPair (per-peer layout) or, in the
// compact layout, one SitePair per pair of sites that has host pairs. Pure: the component
// classes only register what this returns.
import type { AddressFamily, AuthMode, Enforcement, Inventory, Layout } from '../inventory/model.js';
import type { HostPair } from '../topology/host-pair.js';
import type { HostPairSet } from '../topology/host-pair-set.js';

export interface SiteFacts {
  readonly name: string;
  readonly mtu: number;
  readonly prefixes: { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] };
  /** Host names of the site, in inventory order. */
  readonly hosts: readonly string[];
}

/** What every pair of the mesh shares: the settings a HostPair and a SitePair both report. */
export interface PairSettings {
  readonly layout: Layout;
  readonly auth: AuthMode;
  readonly proposals: readonly string[];
  readonly espProposals: readonly string[];
}

export interface PairFamilyFacts {
  readonly family: AddressFamily;
  readonly a: string;
  readonly b: string;
  /** 1:1 NAT: where the other end reaches `a` (`b`), when not at `a` (`b`). */
  readonly aPublic?: string;
  readonly bPublic?: string;
}

export interface HostPairFacts extends PairSettings {
  /** `a~b`, a < b. */
  readonly key: string;
  readonly a: string;
  readonly b: string;
  readonly siteA: string;
  readonly siteB: string;
  readonly families: readonly PairFamilyFacts[];
  readonly enforcement: Enforcement;
}

export interface SitePairFacts extends PairSettings {
  /** `x~y` of the two site names, x ≤ y (`east~east`: the pairs inside one site). */
  readonly key: string;
  readonly siteA: string;
  readonly siteB: string;
  /** Host pairs between the two sites. */
  readonly pairs: number;
  /** Families any of those pairs use. */
  readonly families: readonly AddressFamily[];
  /** Host pairs per enforcement level. */
  readonly enforcement: Readonly<Record<Enforcement, number>>;
}

export interface ModelPlan {
  readonly sites: readonly SiteFacts[];
  /** per-peer layout: one per host pair, in pair order; compact: empty. */
  readonly hostPairs: readonly HostPairFacts[];
  /** compact layout: one per site pair with host pairs, sorted by key; per-peer: empty. */
  readonly sitePairs: readonly SitePairFacts[];
}

export function pairSettings(inventory: Inventory): PairSettings {
  const m = inventory.mesh;
  return { layout: m.layout, auth: m.auth, proposals: [...m.proposals], espProposals: [...m.espProposals] };
}

export function sitePairKey(x: string, y: string): string {
  return x <= y ? `${x}~${y}` : `${y}~${x}`;
}

export function planModelResources(inventory: Inventory, pairs: HostPairSet): ModelPlan {
  const siteOf = new Map(inventory.hosts.map((h) => [h.name, h.site]));
  const hostsBySite = new Map<string, string[]>();
  for (const h of inventory.hosts) {
    const list = hostsBySite.get(h.site);
    if (list) list.push(h.name);
    else hostsBySite.set(h.site, [h.name]);
  }
  const sites: SiteFacts[] = inventory.sites.map((s) => ({
    name: s.name,
    mtu: s.mtu,
    prefixes: { ipv4: [...s.prefixes.ipv4], ipv6: [...s.prefixes.ipv6] },
    hosts: hostsBySite.get(s.name) ?? [],
  }));
  const settings = pairSettings(inventory);
  const site = (host: string): string => siteOf.get(host) ?? '';
  if (inventory.mesh.layout === 'per-peer') {
    return { sites, hostPairs: pairs.pairs.map((p) => hostPairFacts(p, site(p.a), site(p.b), settings)), sitePairs: [] };
  }
  return { sites, hostPairs: [], sitePairs: summarizeBySitePair(pairs.pairs, site, settings) };
}

function hostPairFacts(p: HostPair, siteA: string, siteB: string, settings: PairSettings): HostPairFacts {
  return {
    key: p.key,
    a: p.a,
    b: p.b,
    siteA,
    siteB,
    families: p.families.map((f) => ({
      family: f.family,
      a: f.a,
      b: f.b,
      ...(f.aPublic === undefined ? {} : { aPublic: f.aPublic }),
      ...(f.bPublic === undefined ? {} : { bPublic: f.bPublic }),
    })),
    enforcement: p.enforcement,
    ...settings,
  };
}

function summarizeBySitePair(pairs: readonly HostPair[], site: (host: string) => string, settings: PairSettings): SitePairFacts[] {
  const acc = new Map<string, { siteA: string; siteB: string; pairs: number; v4: boolean; v6: boolean; enforcement: Record<Enforcement, number> }>();
  for (const p of pairs) {
    const x = site(p.a);
    const y = site(p.b);
    const key = sitePairKey(x, y);
    let s = acc.get(key);
    if (s === undefined) {
      s = { siteA: x <= y ? x : y, siteB: x <= y ? y : x, pairs: 0, v4: false, v6: false, enforcement: { off: 0, use: 0, require: 0 } };
      acc.set(key, s);
    }
    s.pairs++;
    s.enforcement[p.enforcement]++;
    for (const f of p.families) {
      if (f.family === 'ipv4') s.v4 = true;
      else s.v6 = true;
    }
  }
  return [...acc.entries()]
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([key, s]) => ({
      key,
      siteA: s.siteA,
      siteB: s.siteB,
      pairs: s.pairs,
      families: [...(s.v4 ? (['ipv4'] as const) : []), ...(s.v6 ? (['ipv6'] as const) : [])],
      enforcement: s.enforcement,
      ...settings,
    }));
}
