// Pair rules → the set of encrypted host pairs, with the addresses and enforcement of each.
//
// Cost model (a 1000-host full mesh is ~500k pairs): hosts are sorted by name once and then
// handled by index, so a pair is a number until its HostPair is built — index order is name
// order, dedup is a numeric typed-array sort plus a linear scan (no 500k-entry Map), and the
// only string built per pair is its key. The per-host index references the same HostPair
// objects. What remains is the allocation of the HostPair objects themselves.
import type { AddressFamily, Enforcement, Host, HostAddress, HostSelector, Inventory, PairRule, QuantumResistance } from '../inventory/model.js';
import { DYNAMIC_ADDRESS, type HostPair, type PairEndpoints } from './host-pair.js';
import type { HostPairSet } from './host-pair-set.js';
import { isEmptySelector, selectHostIndexes } from './host-selector.js';
import { resolvePairEnforcement, siteEnforcement } from './pair-enforcement.js';
import { exactQuotient, PairCodeBuffer } from './pair-code-buffer.js';
import { TopologyError, type TopologyIssue } from './topology-error.js';

export interface TopologyResult {
  /** The pairs that could be built; problem pairs and rules are left out (see `issues`). */
  readonly set: HostPairSet;
  readonly issues: readonly TopologyIssue[];
}

/** Pair-level problems reported one by one per rule before being summarised (a typo'd network on a big mesh would otherwise yield ~N² issues). */
const MAX_PAIR_ISSUES_PER_RULE = 10;
/** Host names listed in one message before "…". */
const MAX_NAMES_IN_MESSAGE = 10;

const EMPTY: readonly HostPair[] = Object.freeze([]);
const NO_FAMILIES: readonly PairEndpoints[] = Object.freeze([]);

/** Computes the host pairs; throws a TopologyError listing every problem found. */
export function computeHostPairs(inventory: Inventory): HostPairSet {
  const result = analyseHostPairs(inventory);
  if (result.issues.length > 0) throw new TopologyError(result.issues);
  return result.set;
}

/** Computes the host pairs and collects problems instead of throwing (for validators). */
export function analyseHostPairs(inventory: Inventory): TopologyResult {
  const issues: TopologyIssue[] = [];

  // Hosts by name, so index order is name order (plain string comparison, not locale).
  const hosts = uniqueHostsByName(inventory.hosts, issues);
  const N = hosts.length;
  const indexOf = new Map<string, number>();
  for (let i = 0; i < N; i++) indexOf.set(hosts[i]!.name, i);

  const rules = inventory.rules;
  const R = Math.max(1, rules.length);
  // Every pair an additive rule implies, as ((i*N + j) * R + slot) with i < j: sorting these
  // sorts by (a, b) and, within one pair, by rule position — so the first rule wins.
  const produced = new PairCodeBuffer();
  const add = (i: number, j: number, slot: number): void => {
    produced.push((i < j ? i * N + j : j * N + i) * R + slot);
  };
  const select = (sel: HostSelector, rule: PairRule): number[] | undefined => {
    if (isEmptySelector(sel)) {
      issues.push({ kind: 'empty-selector', ruleIndex: rule.index, hosts: [], message: `${ruleLabel(rule)}: a selector needs at least one of sites, clusters, tags, hosts` });
      return undefined;
    }
    for (const name of sel.hosts ?? []) {
      if (!indexOf.has(name)) issues.push(unknownHost(rule, name));
    }
    return selectHostIndexes(hosts, sel);
  };
  const pairIndexes = (rule: PairRule, x: string, y: string): [number, number] | undefined => {
    const i = indexOf.get(x);
    const j = indexOf.get(y);
    if (i === undefined) issues.push(unknownHost(rule, x));
    if (j === undefined && y !== x) issues.push(unknownHost(rule, y));
    if (i === undefined || j === undefined) return undefined;
    if (i === j) {
      issues.push({ kind: 'self-pair', ruleIndex: rule.index, hosts: [x], message: `${ruleLabel(rule)}: pairs host "${x}" with itself` });
      return undefined;
    }
    return [i, j];
  };
  const nothing = (rule: PairRule, matched: readonly number[], why: string): void => {
    const names = matched.map((i) => hosts[i]!.name);
    issues.push({ kind: 'rule-matches-nothing', ruleIndex: rule.index, hosts: names, message: `${ruleLabel(rule)} ${why}${names.length > 0 ? ` (matched: ${listNames(names)})` : ''}` });
  };

  // 1. Additive rules, in order.
  const excludes: Extract<PairRule, { kind: 'exclude' }>[] = [];
  rules.forEach((rule, slot) => {
    switch (rule.kind) {
      case 'mesh': {
        const sel = select(rule.select, rule);
        if (sel === undefined) return;
        const groups = rule.by === 'cluster' ? groupByCluster(hosts, sel) : [sel];
        let implied = false;
        for (const g of groups) {
          if (g.length < 2) continue;
          implied = true;
          produced.reserve((g.length * (g.length - 1)) / 2);
          // groups are ascending, so i < j without a compare
          for (let x = 0; x < g.length; x++) {
            const base = g[x]! * N;
            for (let y = x + 1; y < g.length; y++) produced.push((base + g[y]!) * R + slot);
          }
        }
        if (!implied) nothing(rule, sel, rule.by === 'cluster' ? 'implies no pair: no cluster has two matched hosts' : 'implies no pair: it matches fewer than two hosts');
        return;
      }
      case 'between': {
        const from = select(rule.from, rule);
        const to = select(rule.to, rule);
        if (from === undefined || to === undefined) return;
        let implied = false;
        produced.reserve(from.length * to.length);
        for (const i of from) {
          for (const j of to) {
            if (i === j) continue; // a host on both sides pairs with the others, never itself
            implied = true;
            add(i, j, slot);
          }
        }
        if (!implied) nothing(rule, [...new Set([...from, ...to])], 'implies no pair: one side matches no host (or both only the same one)');
        return;
      }
      case 'pairs': {
        for (const [x, y] of rule.pairs) {
          const ij = pairIndexes(rule, x, y);
          if (ij !== undefined) add(ij[0], ij[1], slot);
        }
        // Bad entries are reported on their own; an empty list is the "matches nothing" case.
        if (rule.pairs.length === 0) nothing(rule, [], 'lists no pair');
        return;
      }
      case 'exclude':
        excludes.push(rule);
        return;
    }
  });

  // 2. Distinct pairs, each with the slot of the first rule that produced it.
  const all = produced.sorted();
  const codes = new Float64Array(all.length);
  const slots = new Int32Array(all.length);
  let distinct = 0;
  for (let n = 0, last = -1; n < all.length; n++) {
    const v = all[n]!;
    const code = exactQuotient(v, R);
    if (code === last) continue;
    last = code;
    codes[distinct] = code;
    slots[distinct++] = v - code * R;
  }

  // 3. Excludes, after every additive rule whatever their position.
  const dropped = excludes.length > 0 ? applyExcludes(excludes, codes.subarray(0, distinct), N, select, pairIndexes, nothing) : undefined;

  const siteLevels = new Map(inventory.sites.map((s) => [s.name, siteEnforcement(inventory, s.name)] as const));
  const siteLevel = hosts.map((h) => siteLevels.get(h.site) ?? inventory.mesh.enforcement);
  const overrides = pairOverrideCodes(inventory, indexOf, N, issues);
  const firstV4 = hosts.map((h) => h.addresses.ipv4[0]);
  const firstV6 = hosts.map((h) => h.addresses.ipv6[0]);
  const onNetwork = new Map<string, { v4: (HostAddress | undefined)[]; v6: (HostAddress | undefined)[] }>();
  const addressesOn = (network: string) => {
    let a = onNetwork.get(network);
    if (a === undefined) {
      a = {
        v4: hosts.map((h) => h.addresses.ipv4.find((x) => x.network === network)),
        v6: hosts.map((h) => h.addresses.ipv6.find((x) => x.network === network)),
      };
      onNetwork.set(network, a);
    }
    return a;
  };
  const behindNat = hosts.some((h) => h.addresses.ipv4.some((x) => x.public !== undefined) || h.addresses.ipv6.some((x) => x.public !== undefined));
  const unmanaged = hosts.map((h) => h.unmanaged === true);
  const roaming = hosts.map((h) => h.roaming === true);
  const anyRoaming = roaming.includes(true);
  const roamingIssuesPerRule = new Map<number, number>();
  const pairIssuesPerRule = new Map<number, number>();
  const unmanagedPairsPerRule = new Map<number, number>();

  const pairs: HostPair[] = [];
  const degree = new Int32Array(N);
  const pairI = new Int32Array(distinct); // host indexes of pairs[n], for the index below
  const pairJ = new Int32Array(distinct);
  const usedOverrides = new Set<number>();
  for (let n = 0; n < distinct; n++) {
    const k = codes[n]!;
    const i = exactQuotient(k, N);
    const j = k - i * N;
    if (dropped !== undefined && (dropped.codes.has(k) || dropped.hosts[i] === 1 || dropped.hosts[j] === 1)) continue;
    const rule = rules[slots[n]!]!;
    const network = rule.kind === 'exclude' ? undefined : rule.network;
    let v4a: HostAddress | undefined, v4b: HostAddress | undefined, v6a: HostAddress | undefined, v6b: HostAddress | undefined;
    if (network === undefined) {
      v4a = firstV4[i]; v4b = firstV4[j]; v6a = firstV6[i]; v6b = firstV6[j];
    } else {
      const on = addressesOn(network);
      v4a = on.v4[i]; v4b = on.v4[j]; v6a = on.v6[i]; v6b = on.v6[j];
    }
    // Exact-size literals: a pushed-to [] reserves 17 slots, ~100 wasted bytes per pair at 500k pairs.
    if (anyRoaming && (roaming[i] === true || roaming[j] === true)) {
      if (roaming[i] === true && roaming[j] === true) {
        const seen = (roamingIssuesPerRule.get(rule.index) ?? 0) + 1;
        roamingIssuesPerRule.set(rule.index, seen);
        if (seen <= MAX_PAIR_ISSUES_PER_RULE) {
          issues.push({ kind: 'roaming-pair', ruleIndex: rule.index, hosts: [hosts[i]!.name, hosts[j]!.name], message: `${ruleLabel(rule)} pairs "${hosts[i]!.name}" and "${hosts[j]!.name}", which both roam (addresses: dynamic): neither could find the other; exclude the pair` });
        }
        continue;
      }
      // The roaming end pairs in every family its peer has there, from wherever it is.
      const dyn: HostAddress = { address: DYNAMIC_ADDRESS, network: network ?? 'default' };
      if (roaming[i] === true) {
        v4a = v4b === undefined ? undefined : dyn;
        v6a = v6b === undefined ? undefined : dyn;
      } else {
        v4b = v4a === undefined ? undefined : dyn;
        v6b = v6a === undefined ? undefined : dyn;
      }
    }
    // Across sites, a host behind 1:1 NAT is reached at its public address; inside its site
    // at its own. (Most meshes have no NAT: then no site lookup per pair.)
    const across = behindNat && hosts[i]!.site !== hosts[j]!.site;
    const e4: PairEndpoints | undefined = v4a !== undefined && v4b !== undefined ? endpoints('ipv4', v4a, v4b, across) : undefined;
    const e6: PairEndpoints | undefined = v6a !== undefined && v6b !== undefined ? endpoints('ipv6', v6a, v6b, across) : undefined;
    const families: readonly PairEndpoints[] = e4 === undefined ? (e6 === undefined ? NO_FAMILIES : [e6]) : e6 === undefined ? [e4] : [e4, e6];
    const a = hosts[i]!.name;
    const b = hosts[j]!.name;
    if (families.length === 0) {
      const seen = (pairIssuesPerRule.get(rule.index) ?? 0) + 1;
      pairIssuesPerRule.set(rule.index, seen);
      if (seen <= MAX_PAIR_ISSUES_PER_RULE) {
        issues.push(
          network === undefined
            ? { kind: 'no-shared-family', ruleIndex: rule.index, hosts: [a, b], message: `${ruleLabel(rule)} pairs "${a}" and "${b}", which share no address family (${familiesOf(hosts[i]!)} vs ${familiesOf(hosts[j]!)})` }
            : { kind: 'no-address-on-network', ruleIndex: rule.index, hosts: [a, b], message: `${ruleLabel(rule)} pairs "${a}" and "${b}" on network "${network}", but they have no address family in common on it` },
        );
      }
      continue;
    }
    if (unmanaged[i] === true && unmanaged[j] === true) {
      const seen = (unmanagedPairsPerRule.get(rule.index) ?? 0) + 1;
      unmanagedPairsPerRule.set(rule.index, seen);
      if (seen <= MAX_PAIR_ISSUES_PER_RULE) {
        issues.push({ kind: 'unmanaged-pair', ruleIndex: rule.index, hosts: [a, b], message: `${ruleLabel(rule)} pairs "${a}" and "${b}", which are both unmanaged (managed: false): ipsec-mesh could configure neither end; exclude the pair` });
      }
      continue;
    }
    if (hosts[i]!.revoked === true || hosts[j]!.revoked === true) {
      // A revoked host pairs with no one, whatever the rules say (its overrides are moot, not wrong).
      if (overrides.has(k)) usedOverrides.add(k);
      continue;
    }
    const override = overrides.get(k);
    if (override !== undefined) usedOverrides.add(k);
    const enforcement = resolvePairEnforcement(siteLevel[i]!, siteLevel[j]!, override?.enforcement);
    // At `use` the end whose name sorts first (a) starts the SA: fine when a roams, impossible
    // when b does (nothing can initiate to a roaming host).
    if (enforcement === 'use' && roaming[j] === true) {
      issues.push({
        kind: 'roaming-use',
        ...(override === undefined ? { ruleIndex: rule.index } : { overrideIndex: override.position }),
        hosts: [a, b],
        message: `pair "${a}" and "${b}" is at enforcement "use", but "${b}" roams: at "use" the end whose name sorts first ("${a}") starts the SA, and nothing can initiate to a roaming host; use "require" (the roaming host initiates on traffic) or "off"`,
      });
      continue;
    }
    pairs.push({ a, b, key: `${a}~${b}`, families, enforcement, ...(override?.quantumResistance === undefined ? {} : { quantumResistance: override.quantumResistance }) });
    pairI[pairs.length - 1] = i;
    pairJ[pairs.length - 1] = j;
    degree[i]!++;
    degree[j]!++;
  }
  for (const [ruleIndex, seen] of pairIssuesPerRule) {
    if (seen > MAX_PAIR_ISSUES_PER_RULE) {
      const rule = rules.find((r) => r.index === ruleIndex)!;
      issues.push({ kind: rule.kind !== 'exclude' && rule.network !== undefined ? 'no-address-on-network' : 'no-shared-family', ruleIndex, hosts: [], message: `${ruleLabel(rule)}: ${seen - MAX_PAIR_ISSUES_PER_RULE} more pair(s) have no usable address family` });
    }
  }
  for (const [ruleIndex, seen] of unmanagedPairsPerRule) {
    if (seen > MAX_PAIR_ISSUES_PER_RULE) {
      const rule = rules.find((r) => r.index === ruleIndex)!;
      issues.push({ kind: 'unmanaged-pair', ruleIndex, hosts: [], message: `${ruleLabel(rule)}: ${seen - MAX_PAIR_ISSUES_PER_RULE} more pair(s) of two unmanaged hosts` });
    }
  }
  for (const [k, o] of overrides.entries()) {
    if (usedOverrides.has(k)) continue;
    const [x, y] = o.hosts;
    issues.push({ kind: 'override-matches-no-pair', overrideIndex: o.position, hosts: [x, y], message: `mesh.pairOverrides[${o.position}]: "${x}" and "${y}" are not a pair of this mesh` });
  }
  if (pairs.length === 0) issues.push({ kind: 'empty-mesh', hosts: [], message: 'the pair rules yield no host pair (empty mesh)' });

  // 4. Per-host index: exact-size arrays, filled in pair order, so each is sorted by peer name
  // (a host's pairs as `b` all precede its pairs as `a`).
  const perHost: HostPair[][] = [];
  for (let i = 0; i < N; i++) perHost.push(degree[i] === 0 ? [] : new Array<HostPair>(degree[i]!));
  const fill = new Int32Array(N);
  for (let n = 0; n < pairs.length; n++) {
    const p = pairs[n]!;
    const i = pairI[n]!;
    const j = pairJ[n]!;
    perHost[i]![fill[i]!++] = p;
    perHost[j]![fill[j]!++] = p;
  }
  const byHost = new Map<string, readonly HostPair[]>();
  for (let i = 0; i < N; i++) byHost.set(hosts[i]!.name, perHost[i]!.length === 0 ? EMPTY : perHost[i]!);

  return { set: { pairs, hostNames: hosts.map((h) => h.name), byHost }, issues };
}

interface Dropped {
  readonly codes: ReadonlySet<number>;
  /** 1 for hosts an exclude selector matched: every pair touching them goes. */
  readonly hosts: Uint8Array;
}

function applyExcludes(
  excludes: readonly Extract<PairRule, { kind: 'exclude' }>[],
  codes: Float64Array, // distinct additive pairs, sorted
  N: number,
  select: (sel: HostSelector, rule: PairRule) => number[] | undefined,
  pairIndexes: (rule: PairRule, x: string, y: string) => [number, number] | undefined,
  nothing: (rule: PairRule, matched: readonly number[], why: string) => void,
): Dropped {
  // Whether an exclude matches anything is judged against the additive pairs, so two
  // excludes removing the same pair are both fine.
  let additiveDegree: Int32Array | undefined;
  const dropped: Dropped = { codes: new Set<number>(), hosts: new Uint8Array(N) };
  const dropCodes = dropped.codes as Set<number>;
  for (const rule of excludes) {
    let matched = false;
    let matchedHosts: number[] = [];
    for (const [x, y] of rule.pairs ?? []) {
      const ij = pairIndexes(rule, x, y);
      if (ij === undefined) continue;
      const k = Math.min(ij[0], ij[1]) * N + Math.max(ij[0], ij[1]);
      if (sortedHas(codes, k)) matched = true;
      dropCodes.add(k);
    }
    if (rule.select !== undefined) {
      const sel = select(rule.select, rule);
      if (sel === undefined) continue;
      matchedHosts = sel;
      if (additiveDegree === undefined) {
        additiveDegree = new Int32Array(N);
        for (const k of codes) {
          const i = exactQuotient(k, N);
          additiveDegree[i]!++;
          additiveDegree[k - i * N]!++;
        }
      }
      for (const i of sel) {
        dropped.hosts[i] = 1;
        if (additiveDegree[i]! > 0) matched = true;
      }
    }
    if (!matched) nothing(rule, matchedHosts, 'removes no pair: no pair of the mesh matches it');
  }
  return dropped;
}

function endpoints(family: AddressFamily, a: HostAddress, b: HostAddress, across: boolean): PairEndpoints {
  if (!across || (a.public === undefined && b.public === undefined)) return { family, a: a.address, b: b.address };
  return { family, a: a.address, b: b.address, ...(a.public === undefined ? {} : { aPublic: a.public }), ...(b.public === undefined ? {} : { bPublic: b.public }) };
}

function sortedHas(sorted: Float64Array, k: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!;
    if (v === k) return true;
    if (v < k) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

function uniqueHostsByName(input: readonly Host[], issues: TopologyIssue[]): Host[] {
  const sorted = [...input].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const out: Host[] = [];
  for (const h of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.name === h.name) {
      issues.push({ kind: 'duplicate-host', hosts: [h.name], message: `host name "${h.name}" is used more than once` });
      continue;
    }
    out.push(h);
  }
  return out;
}

/** Matched hosts grouped per cluster; hosts without a cluster belong to no group. */
function groupByCluster(hosts: readonly Host[], sel: readonly number[]): number[][] {
  const groups = new Map<string, number[]>();
  for (const i of sel) {
    const c = hosts[i]!.cluster;
    if (c === undefined) continue;
    let g = groups.get(c);
    if (g === undefined) groups.set(c, (g = []));
    g.push(i); // stays ascending
  }
  return [...groups.values()];
}

interface OverrideAt {
  readonly enforcement: Enforcement | undefined;
  readonly quantumResistance: QuantumResistance | undefined;
  readonly position: number;
  readonly hosts: readonly [string, string];
}

function pairOverrideCodes(inventory: Inventory, indexOf: ReadonlyMap<string, number>, N: number, issues: TopologyIssue[]): Map<number, OverrideAt> {
  const out = new Map<number, OverrideAt>();
  inventory.mesh.pairOverrides.forEach((o, position) => {
    const [x, y] = o.hosts;
    const where = `mesh.pairOverrides[${position}]`;
    let ok = true;
    for (const name of x === y ? [x] : [x, y]) {
      if (!indexOf.has(name)) {
        issues.push({ kind: 'unknown-host', overrideIndex: position, hosts: [name], message: `${where}: unknown host "${name}"` });
        ok = false;
      }
    }
    if (!ok) return;
    if (x === y) {
      issues.push({ kind: 'self-pair', overrideIndex: position, hosts: [x], message: `${where}: pairs host "${x}" with itself` });
      return;
    }
    const i = indexOf.get(x)!;
    const j = indexOf.get(y)!;
    const k = Math.min(i, j) * N + Math.max(i, j);
    const prior = out.get(k);
    if (prior !== undefined) {
      issues.push({ kind: 'duplicate-override', overrideIndex: position, hosts: [x, y], message: `${where}: the pair "${x}"/"${y}" already has an override (mesh.pairOverrides[${prior.position}])` });
      return;
    }
    out.set(k, { enforcement: o.enforcement, quantumResistance: o.quantumResistance, position, hosts: [x, y] });
  });
  return out;
}

function unknownHost(rule: PairRule, name: string): TopologyIssue {
  return { kind: 'unknown-host', ruleIndex: rule.index, hosts: [name], message: `${ruleLabel(rule)}: unknown host "${name}"` };
}

function ruleLabel(rule: PairRule): string {
  return `rules[${rule.index}] (${rule.kind})`;
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMES_IN_MESSAGE).join(', ');
  return names.length > MAX_NAMES_IN_MESSAGE ? `${shown}, … ${names.length - MAX_NAMES_IN_MESSAGE} more` : shown;
}

function familiesOf(h: Host): string {
  const fams: AddressFamily[] = [];
  if (h.addresses.ipv4.length > 0) fams.push('ipv4');
  if (h.addresses.ipv6.length > 0) fams.push('ipv6');
  return fams.length === 0 ? 'none' : fams.join('+');
}
