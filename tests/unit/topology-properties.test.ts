// Property-based tests: random inventories (sites, clusters, tags, families, networks, rules,
// overrides) checked against a deliberately naive O(N²·R) oracle written from the spec.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Enforcement, Host, HostSelector, Inventory, PairRule } from '../../components/inventory/model.js';
import { matchesSelector } from '../../components/inventory/host-selector.js';
import { selectHostIndexes } from '../../components/topology/host-selector.js';
import { analyseHostPairs, findPair, pairsForHost, type HostPair, type PairEndpoints } from '../../components/topology/index.js';
import { host, inventory, site, type RuleSpec } from './topology-fixtures.js';

const NAMES = ['a', 'a1', 'a10', 'a9', 'b', 'b2', 'cp1', 'cp2', 'db1', 'db10', 'db2', 'x'];
const SITES = ['s0', 's1', 's2'];
const CLUSTERS = ['c0', 'c1', 'c2'];
const TAGS = ['t0', 't1', 't2'];
const NETWORKS = ['default', 'wan', 'lan'];
const LEVELS: Enforcement[] = ['off', 'use', 'require'];
const RUNS = { numRuns: 200 };

interface HostShape {
  site: string;
  cluster: string | undefined;
  tags: string[];
  v4: readonly string[]; // network of each address
  v6: readonly string[];
}

// Mostly the default network, so that rules without `network` and with one both find addresses.
const networkArb = fc.oneof({ weight: 4, arbitrary: fc.constant('default') }, { weight: 1, arbitrary: fc.constantFrom('wan', 'lan') });
const addressNetworks = fc.array(networkArb, { minLength: 1, maxLength: 2 });
const noAddress = fc.constant<string[]>([]);

const hostShape: fc.Arbitrary<HostShape> = fc.record({
  site: fc.constantFrom(...SITES),
  cluster: fc.option(fc.constantFrom(...CLUSTERS), { nil: undefined, freq: 4 }),
  tags: fc.subarray(TAGS, { minLength: 1 }),
  // dual-stack, v4-only, v6-only, and rarely no address at all
  families: fc.oneof(
    { weight: 5, arbitrary: fc.constant('dual') },
    { weight: 2, arbitrary: fc.constantFrom('v4', 'v6') },
    { weight: 1, arbitrary: fc.constant('none') },
  ),
}).chain(({ families, ...rest }) =>
  fc.record({
    v4: families === 'dual' || families === 'v4' ? addressNetworks : noAddress,
    v6: families === 'dual' || families === 'v6' ? addressNetworks : noAddress,
  }).map((a) => ({ ...rest, ...a })),
);

/** Hosts with unique names and unique lab addresses (derived from a running counter). */
const hostsArb: fc.Arbitrary<Host[]> = fc
  .oneof(
    { weight: 10, arbitrary: fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 2, maxLength: 10, size: 'max' }) },
    { weight: 1, arbitrary: fc.uniqueArray(fc.constantFrom(...NAMES), { maxLength: 1 }) },
  )
  .chain((names) => fc.tuple(fc.constant(names), fc.array(hostShape, { minLength: names.length, maxLength: names.length })))
  .map(([names, shapes]) => {
    let n = 0;
    return names.map((name, i) => {
      const s = shapes[i]!;
      return host(name, {
        site: s.site,
        ...(s.cluster !== undefined ? { cluster: s.cluster } : {}),
        tags: s.tags,
        v4: s.v4.map((network) => ({ address: `198.51.100.${++n}`, network })),
        v6: s.v6.map((network) => ({ address: `2001:db8::${(++n).toString(16)}`, network })),
      });
    });
  });

function selectorArb(names: readonly string[]): fc.Arbitrary<HostSelector> {
  const criteria = {
    sites: fc.subarray(SITES, { minLength: 1 }),
    clusters: fc.subarray(CLUSTERS, { minLength: 2 }),
    tags: fc.subarray(TAGS, { minLength: 1, maxLength: 1 }),
    hosts: fc.subarray(names.length > 0 ? [...names] : NAMES.slice(0, 2), { minLength: Math.min(2, Math.max(1, names.length)) }),
  };
  // Mostly one criterion (as real inventories do); sometimes several, ANDed.
  const single = fc.oneof(...(Object.keys(criteria) as (keyof typeof criteria)[]).map((k) => criteria[k].map((v): HostSelector => ({ [k]: v }))));
  const several = fc.record(criteria, { requiredKeys: [] }).map((s) => (Object.keys(s).length === 0 ? { sites: SITES.slice(0, 2) } : s));
  return fc.oneof({ weight: 3, arbitrary: single }, { weight: 1, arbitrary: several });
}

function nameArb(names: readonly string[]): fc.Arbitrary<string> {
  // Mostly inventory hosts, sometimes a name the inventory lacks.
  return names.length === 0 ? fc.constantFrom(...NAMES) : fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: fc.constantFrom(...NAMES) });
}

/** Mostly two distinct inventory hosts; sometimes a self pair or an unknown name. */
function pairArb(names: readonly string[]): fc.Arbitrary<readonly [string, string]> {
  const any = fc.tuple(nameArb(names), nameArb(names));
  if (names.length < 2) return any;
  const distinct = fc.uniqueArray(fc.constantFrom(...names), { minLength: 2, maxLength: 2 }).map(([x, y]) => [x!, y!] as const);
  return fc.oneof({ weight: 6, arbitrary: distinct }, { weight: 1, arbitrary: any });
}

function ruleArb(names: readonly string[], kinds: readonly PairRule['kind'][]): fc.Arbitrary<RuleSpec> {
  const sel = selectorArb(names);
  const pair = pairArb(names);
  const pool = names.length > 0 ? [...names] : NAMES.slice(0, 2);
  const network = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...NETWORKS) });
  const byKind: Record<PairRule['kind'], fc.Arbitrary<RuleSpec>> = {
    mesh: fc.record({ kind: fc.constant('mesh' as const), select: sel, by: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant('cluster' as const) }), network }),
    between: fc.record({ kind: fc.constant('between' as const), from: sel, to: sel, network }),
    pairs: fc.record({ kind: fc.constant('pairs' as const), pairs: fc.array(pair, { minLength: 1, maxLength: 4 }), network }),
    exclude: fc.oneof(
      fc.record({ kind: fc.constant('exclude' as const), pairs: fc.array(pair, { minLength: 1, maxLength: 3 }) }),
      // usually a host or two (retiring hosts), sometimes a whole group
      fc.record({ kind: fc.constant('exclude' as const), select: fc.oneof({ weight: 3, arbitrary: fc.subarray(pool, { minLength: 1, maxLength: Math.min(2, pool.length) }).map((hosts) => ({ hosts })) }, { weight: 1, arbitrary: sel }) }),
    ),
  };
  // Excludes are rarer than additive rules, or most random meshes would end up empty.
  const weight: Record<PairRule['kind'], number> = { mesh: 3, between: 2, pairs: 2, exclude: 1 };
  return fc.oneof(...kinds.map((k) => ({ weight: weight[k], arbitrary: byKind[k] })));
}

function inventoryArb(kinds: readonly PairRule['kind'][] = ['mesh', 'between', 'pairs', 'exclude']): fc.Arbitrary<Inventory> {
  return hostsArb.chain((hosts) => {
    const names = hosts.map((h) => h.name);
    return fc
      .record({
        rules: fc.oneof({ weight: 15, arbitrary: fc.array(ruleArb(names, kinds), { minLength: 1, maxLength: 5, size: 'max' }) }, { weight: 1, arbitrary: fc.constant([]) }),
        meshLevel: fc.constantFrom(...LEVELS),
        siteLevels: fc.array(fc.option(fc.constantFrom(...LEVELS), { nil: undefined }), { minLength: SITES.length, maxLength: SITES.length }),
        overrides: fc.array(fc.record({ hosts: pairArb(names), enforcement: fc.constantFrom(...LEVELS) }), { maxLength: 3 }),
      })
      .map(({ rules, meshLevel, siteLevels, overrides }) =>
        inventory({
          hosts,
          rules,
          enforcement: meshLevel,
          sites: SITES.map((s, i) => site(s, siteLevels[i])),
          pairOverrides: overrides,
        }),
      );
  });
}

// ---- the oracle: the spec, read literally, by brute force over every pair of names ----

function matches(h: Host, s: HostSelector): boolean {
  if (s.sites === undefined && s.clusters === undefined && s.tags === undefined && s.hosts === undefined) return false;
  return (
    (s.sites === undefined || s.sites.includes(h.site)) &&
    (s.clusters === undefined || (h.cluster !== undefined && s.clusters.includes(h.cluster))) &&
    (s.tags === undefined || s.tags.every((t) => h.tags.includes(t))) &&
    (s.hosts === undefined || s.hosts.includes(h.name))
  );
}

const samePair = (p: readonly [string, string], x: string, y: string) => (p[0] === x && p[1] === y) || (p[0] === y && p[1] === x);

function implies(rule: PairRule, x: Host, y: Host): boolean {
  switch (rule.kind) {
    case 'mesh':
      return matches(x, rule.select) && matches(y, rule.select) && (rule.by !== 'cluster' || (x.cluster !== undefined && x.cluster === y.cluster));
    case 'between':
      return (matches(x, rule.from) && matches(y, rule.to)) || (matches(y, rule.from) && matches(x, rule.to));
    case 'pairs':
      return rule.pairs.some((p) => samePair(p, x.name, y.name));
    case 'exclude':
      return false;
  }
}

function excludes(rule: PairRule, x: Host, y: Host): boolean {
  if (rule.kind !== 'exclude') return false;
  return (rule.pairs ?? []).some((p) => samePair(p, x.name, y.name)) || (rule.select !== undefined && (matches(x, rule.select) || matches(y, rule.select)));
}

const RANK: Record<Enforcement, number> = { off: 0, use: 1, require: 2 };

interface Expected {
  /** Every pair some additive rule implies (before excludes), with its first producing rule. */
  readonly implied: Map<string, PairRule>;
  readonly excluded: Set<string>;
  /** The final pairs. */
  readonly pairs: HostPair[];
}

function oracle(inv: Inventory): Expected {
  const hosts = [...inv.hosts].sort((p, q) => (p.name < q.name ? -1 : 1));
  const implied = new Map<string, PairRule>();
  const excluded = new Set<string>();
  const pairs: HostPair[] = [];
  for (let i = 0; i < hosts.length; i++) {
    for (let j = i + 1; j < hosts.length; j++) {
      const x = hosts[i]!;
      const y = hosts[j]!;
      const key = `${x.name}~${y.name}`;
      const rule = inv.rules.find((r) => implies(r, x, y));
      if (rule === undefined || rule.kind === 'exclude') continue;
      implied.set(key, rule);
      if (inv.rules.some((r) => excludes(r, x, y))) {
        excluded.add(key);
        continue;
      }
      const families: PairEndpoints[] = [];
      for (const family of ['ipv4', 'ipv6'] as const) {
        const pick = (h: Host) => h.addresses[family].find((a) => rule.network === undefined || a.network === rule.network)?.address;
        const ea = pick(x);
        const eb = pick(y);
        if (ea !== undefined && eb !== undefined) families.push({ family, a: ea, b: eb });
      }
      if (families.length === 0) continue;
      const level = (h: Host) => inv.sites.find((s) => s.name === h.site)?.enforcement ?? inv.mesh.enforcement;
      const override = inv.mesh.pairOverrides.find((o) => o.hosts[0] !== o.hosts[1] && samePair(o.hosts, x.name, y.name));
      const weaker = RANK[level(x)] <= RANK[level(y)] ? level(x) : level(y);
      pairs.push({ a: x.name, b: y.name, key, families, enforcement: override?.enforcement ?? weaker });
    }
  }
  return { implied, excluded, pairs };
}

function shuffledHosts(inv: Inventory): fc.Arbitrary<Inventory> {
  return fc.shuffledSubarray([...inv.hosts], { minLength: inv.hosts.length }).map((hosts) => ({ ...inv, hosts }));
}

// ---- properties ----

describe('topology properties', () => {
  it('pairs are sorted by (a, b) with a < b, no self pair, no duplicate, key = a~b', () => {
    fc.assert(
      fc.property(inventoryArb(), (inv) => {
        const { pairs } = analyseHostPairs(inv).set;
        for (let n = 0; n < pairs.length; n++) {
          const p = pairs[n]!;
          expect(p.a < p.b).toBe(true);
          expect(p.key).toBe(`${p.a}~${p.b}`);
          const prev = pairs[n - 1];
          if (prev !== undefined) expect(prev.a < p.a || (prev.a === p.a && prev.b < p.b)).toBe(true);
        }
        expect(new Set(pairs.map((p) => p.key)).size).toBe(pairs.length);
      }),
      RUNS,
    );
  });

  it('matches the brute-force oracle exactly: pairs, addresses (first rule’s network) and enforcement', () => {
    fc.assert(
      fc.property(inventoryArb(), (inv) => {
        expect(analyseHostPairs(inv).set.pairs).toEqual(oracle(inv).pairs);
      }),
      RUNS,
    );
  });

  it('honours every additive rule: each pair it implies is present unless excluded or without a usable family', () => {
    fc.assert(
      fc.property(inventoryArb(), (inv) => {
        const { set, issues } = analyseHostPairs(inv);
        const { excluded } = oracle(inv);
        const hosts = new Map(inv.hosts.map((h) => [h.name, h]));
        for (const rule of inv.rules) {
          for (const x of inv.hosts) {
            for (const y of inv.hosts) {
              if (x.name >= y.name || !implies(rule, x, y)) continue;
              const key = `${x.name}~${y.name}`;
              if (excluded.has(key) || findPair(set, x.name, y.name) !== undefined) continue;
              // Otherwise the first rule producing it must have left it without a family — and said so.
              const first = inv.rules.find((r) => implies(r, x, y))!;
              expect(first.kind === 'exclude' ? [] : ['ipv4', 'ipv6'].filter((f) => [x, y].every((h) => hosts.get(h.name)!.addresses[f as 'ipv4'].some((a) => first.network === undefined || a.network === first.network)))).toEqual([]);
              expect(issues.some((i) => (i.kind === 'no-shared-family' || i.kind === 'no-address-on-network') && i.ruleIndex === first.index)).toBe(true);
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('never keeps an excluded pair, nor any pair touching a host an exclude selector matches', () => {
    fc.assert(
      fc.property(inventoryArb(), (inv) => {
        const { set } = analyseHostPairs(inv);
        const byName = new Map(inv.hosts.map((h) => [h.name, h]));
        for (const rule of inv.rules) {
          if (rule.kind !== 'exclude') continue;
          for (const [x, y] of rule.pairs ?? []) {
            if (byName.has(x) && byName.has(y) && x !== y) expect(findPair(set, x, y)).toBeUndefined();
          }
          if (rule.select !== undefined) {
            for (const h of inv.hosts) if (matches(h, rule.select)) expect(pairsForHost(set, h.name)).toEqual([]);
          }
        }
      }),
      RUNS,
    );
  });

  it('keeps isolated clusters isolated when the mesh is built only from by-cluster meshes', () => {
    const byClusterOnly = inventoryArb(['mesh', 'exclude']).map((inv) => ({
      ...inv,
      rules: inv.rules.map((r) => (r.kind === 'mesh' ? { ...r, by: 'cluster' as const } : r)),
    }));
    fc.assert(
      fc.property(byClusterOnly, (inv) => {
        const cluster = new Map(inv.hosts.map((h) => [h.name, h.cluster]));
        for (const p of analyseHostPairs(inv).set.pairs) {
          expect(cluster.get(p.a)).toBeDefined();
          expect(cluster.get(p.a)).toBe(cluster.get(p.b));
        }
      }),
      RUNS,
    );
  });

  it('gives every pair only families both hosts have, ipv4 before ipv6, with addresses of those hosts', () => {
    fc.assert(
      fc.property(inventoryArb(), (inv) => {
        const byName = new Map(inv.hosts.map((h) => [h.name, h]));
        for (const p of analyseHostPairs(inv).set.pairs) {
          expect(p.families.length).toBeGreaterThan(0);
          expect(p.families.map((f) => f.family)).toEqual(['ipv4', 'ipv6'].filter((f) => p.families.some((e) => e.family === f)));
          for (const e of p.families) {
            expect(byName.get(p.a)!.addresses[e.family].map((a) => a.address)).toContain(e.a);
            expect(byName.get(p.b)!.addresses[e.family].map((a) => a.address)).toContain(e.b);
          }
        }
      }),
      RUNS,
    );
  });

  it('indexes symmetrically: a pair is listed for a iff for b, and each host’s list is exactly its pairs by peer', () => {
    fc.assert(
      fc.property(inventoryArb(), (inv) => {
        const { set } = analyseHostPairs(inv);
        let total = 0;
        for (const name of set.hostNames) {
          const mine = pairsForHost(set, name);
          total += mine.length;
          const expected = set.pairs.filter((p) => p.a === name || p.b === name);
          expect(mine.length).toBe(expected.length);
          for (const p of expected) expect(mine).toContain(p); // same objects, not copies
          const peers = mine.map((p) => (p.a === name ? p.b : p.a));
          expect(peers).toEqual([...peers].sort((u, v) => (u < v ? -1 : u > v ? 1 : 0)));
        }
        expect(total).toBe(2 * set.pairs.length);
        for (const p of set.pairs) {
          expect(pairsForHost(set, p.a).includes(p)).toBe(pairsForHost(set, p.b).includes(p));
          expect(findPair(set, p.b, p.a)).toBe(p);
        }
        for (const x of set.hostNames) for (const y of set.hostNames) expect(findPair(set, x, y)).toBe(findPair(set, y, x));
      }),
      RUNS,
    );
  });

  it('is deterministic: the same input, or the hosts in another order, gives the same pairs and issues', () => {
    fc.assert(
      fc.property(
        inventoryArb().chain((inv) => fc.tuple(fc.constant(inv), shuffledHosts(inv))),
        ([inv, shuffled]) => {
          const first = analyseHostPairs(inv);
          expect(analyseHostPairs(inv)).toEqual(first);
          const other = analyseHostPairs(shuffled);
          expect(other.set.pairs).toEqual(first.set.pairs);
          expect(other.set.hostNames).toEqual(first.set.hostNames);
          expect(other.issues).toEqual(first.issues);
        },
      ),
      RUNS,
    );
  });

  it('selects exactly the hosts the inventory layer’s matchesSelector matches', () => {
    const arb = hostsArb.chain((hosts) =>
      fc.tuple(
        fc.constant(hosts),
        fc.oneof(
          selectorArb(hosts.map((h) => h.name)),
          // edge cases: given-but-empty lists, and names the inventory lacks
          fc.record({ sites: fc.subarray(SITES), hosts: fc.subarray(NAMES) }, { requiredKeys: [] }),
        ),
      ),
    );
    fc.assert(
      fc.property(arb, ([hosts, selector]) => {
        const expected = hosts.flatMap((h, i) => (matchesSelector(h, selector) ? [i] : []));
        expect(selectHostIndexes(hosts, selector)).toEqual(expected);
      }),
      RUNS,
    );
  });

  it('reports "matches nothing" exactly for the rules that imply or remove no pair, and "empty mesh" exactly when no pair is left', () => {
    fc.assert(
      fc.property(inventoryArb(), (inv) => {
        const { set, issues } = analyseHostPairs(inv);
        const { implied } = oracle(inv);
        const names = new Set(inv.hosts.map((h) => h.name));
        const flagged = new Set(issues.filter((i) => i.kind === 'rule-matches-nothing').map((i) => i.ruleIndex));
        for (const rule of inv.rules) {
          let matchesSomething: boolean;
          if (rule.kind === 'exclude') {
            const hits = (x: Host, y: Host) => implied.has(x.name < y.name ? `${x.name}~${y.name}` : `${y.name}~${x.name}`) && excludes(rule, x, y);
            matchesSomething = inv.hosts.some((x) => inv.hosts.some((y) => x.name !== y.name && hits(x, y)));
          } else if (rule.kind === 'pairs') {
            matchesSomething = rule.pairs.length > 0; // bad entries get their own issues
          } else {
            matchesSomething = inv.hosts.some((x) => inv.hosts.some((y) => x.name !== y.name && implies(rule, x, y)));
          }
          expect(flagged.has(rule.index)).toBe(!matchesSomething);
          if (rule.kind === 'pairs') {
            for (const [x, y] of rule.pairs) {
              if (!names.has(x) || !names.has(y)) expect(issues.some((i) => i.kind === 'unknown-host' && i.ruleIndex === rule.index)).toBe(true);
              else if (x === y) expect(issues.some((i) => i.kind === 'self-pair' && i.ruleIndex === rule.index && i.hosts[0] === x)).toBe(true);
            }
          }
        }
        expect(issues.some((i) => i.kind === 'empty-mesh')).toBe(set.pairs.length === 0);
      }),
      RUNS,
    );
  });
});
