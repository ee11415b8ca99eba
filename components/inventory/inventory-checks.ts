// Checks that relate fields to each other, run after the schema on every element that passed
// it. Elements that failed the schema are "tainted": names they carry are not reported as
// unknown elsewhere, and checks that would need them (does a rule match anything?) are skipped,
// so one typo yields one issue rather than a cascade.
//
// Pair computation itself belongs to the topology layer; the checks here are the cheap ones:
// a selector matches hosts, a mesh has two hosts, an explicit pair exists, an exclude or
// override names a pair some rule creates. Whether the mesh ends up with any pair at all (and
// whether every pair shares an address family) is left to topology.
import { dnRdns, ikeIdentityKind } from './ike-identity.js';
import { DEFAULT_NETWORK } from './defaults.js';
import type { PathSegment } from './inventory-error.js';
import type { HostParsed, MeshParsed, RuleParsed, SelectorParsed, SiteParsed } from './inventory-schema.js';
import { prefixContains, prefixesOverlap, type ParsedAddress, type ParsedPrefix } from './ip-address.js';
import { matchesSelector, type SelectableHost } from './host-selector.js';
import type { AddressFamily, HostSelector } from './model.js';
import type { RawIssue } from './zod-issues.js';

export interface Located<T> {
  readonly value: T;
  /** Position in the list the user wrote (for paths). */
  readonly index: number;
  /** Optional parts dropped because they failed the schema (e.g. `addresses.ipv6`, `ssh`). */
  readonly pruned?: ReadonlySet<string>;
}

export interface CheckInput {
  readonly mesh: MeshParsed | undefined;
  readonly sites: readonly Located<SiteParsed>[];
  readonly hosts: readonly Located<HostParsed>[];
  readonly rules: readonly Located<RuleParsed>[];
  /** A section (or one of its elements) failed the schema. */
  readonly incomplete: { readonly mesh: boolean; readonly sites: boolean; readonly hosts: boolean; readonly rules: boolean };
  /** The section itself is unusable (not a list): any name may be defined there. */
  readonly opaque: { readonly sites: boolean; readonly hosts: boolean };
  /** Names carried by elements that failed the schema. */
  readonly tainted: {
    readonly sites: ReadonlySet<string>;
    readonly hosts: ReadonlySet<string>;
    readonly clusters: ReadonlySet<string>;
    readonly tags: ReadonlySet<string>;
  };
}

/** The FQDN a host gets when none is given. */
export function defaultFqdn(name: string, site: string, domain: string | undefined): string {
  return domain === undefined ? name : `${name}.${site}.${domain}`;
}

interface HostView extends SelectableHost {
  readonly index: number;
  readonly tags: readonly string[];
  /** Address families the host has, per network name. */
  readonly families: ReadonlyMap<string, ReadonlySet<AddressFamily>>;
  /** addresses: dynamic — it pairs in whatever family its peer has, on any network. */
  readonly roaming: boolean;
}

const RULE_KINDS = ['mesh', 'between', 'pairs', 'exclude'] as const;
type RuleKind = (typeof RULE_KINDS)[number];
const SELECTOR_KEYS = ['sites', 'clusters', 'tags', 'hosts'] as const;

const pairKey = (a: string, b: string): string => (a < b ? `${a}~${b}` : `${b}~${a}`);
const quote = (s: string): string => JSON.stringify(s);

export function checkInventory(input: CheckInput): RawIssue[] {
  const issues: RawIssue[] = [];
  const add = (path: readonly PathSegment[], message: string): void => {
    issues.push({ path, message });
  };
  const { mesh, tainted, incomplete, opaque } = input;
  /** A name defined by an element that failed the schema is not reported as unknown. */
  const isTainted = (kind: 'sites' | 'hosts' | 'clusters' | 'tags', name: string): boolean =>
    (kind === 'sites' ? opaque.sites : opaque.hosts) || tainted[kind].has(name);
  const compact = mesh?.layout === 'compact';
  // Site prefixes are trapped whole: a host outside its site's prefixes would be left in clear.
  const sitePrefixes = compact && mesh?.compactSelectors === 'site-prefixes';

  // --- sites -------------------------------------------------------------------------------
  const sites = new Map<string, Located<SiteParsed>>();
  for (const s of input.sites) {
    const first = sites.get(s.value.name);
    if (first !== undefined) add(['sites', s.index, 'name'], `duplicate site name ${quote(s.value.name)} (first at sites[${first.index}])`);
    else sites.set(s.value.name, s);
    if (compact && s.value.enforcement === 'use') add(['sites', s.index, 'enforcement'], compactUseMessage());
    if (compact && s.value.quantumResistance !== undefined) {
      add(['sites', s.index, 'quantumResistance'], 'the compact layout shares one mesh-wide PPK on its one connection per family: set quantumResistance on the mesh, not per site');
    }
    if (compact && s.value.forceUdpEncap === true) {
      add(['sites', s.index, 'forceUdpEncap'], 'forcing UDP encapsulation needs layout "per-peer": the compact layout\'s one connection per family serves every peer, so encap = yes there would apply to all of them');
    }
  }
  checkPrefixOverlaps(input.sites, add);

  // --- hosts -------------------------------------------------------------------------------
  const hosts = new Map<string, HostView>();
  const addressOwner = new Map<string, string>(); // canonical address → path text of first use
  const fqdnOwner = new Map<string, string>();
  const identityOwner = new Map<string, string>();
  const networks = new Set<string>();
  const clusters = new Set<string>();
  const tags = new Set<string>();
  const siteHasIpv6 = new Set<string>();
  const domain = mesh?.domain;
  for (const { value: h, index: i, pruned } of input.hosts) {
    const at = (...rest: PathSegment[]): PathSegment[] => ['hosts', i, ...rest];
    if (hosts.has(h.name)) {
      add(at('name'), `duplicate host name ${quote(h.name)} (first at hosts[${hosts.get(h.name)!.index}])`);
    }
    const site = sites.get(h.site);
    if (site === undefined && !isTainted('sites', h.site)) add(at('site'), unknownMessage('site', h.site, [...sites.keys(), ...tainted.sites]));

    const families = new Map<string, Set<AddressFamily>>();
    let count = 0;
    for (const family of ['ipv4', 'ipv6'] as const) {
      const list = h.addresses[family] ?? [];
      list.forEach((entry, j) => {
        count++;
        const a = entry.parsed;
        const here = `hosts[${i}].addresses.${family}[${j}]`;
        const owner = addressOwner.get(a.canonical);
        if (owner !== undefined) add(at('addresses', family, j), `address ${a.canonical} is already used at ${owner}`);
        else addressOwner.set(a.canonical, `${here} (host ${quote(h.name)})`);
        const network = entry.network ?? DEFAULT_NETWORK;
        networks.add(network);
        let set = families.get(network);
        if (set === undefined) families.set(network, (set = new Set()));
        set.add(family);
        if (site !== undefined) checkInSite(a, site.value, add, at('addresses', family, j), sitePrefixes);
        if (entry.public !== undefined) {
          const pub = entry.public.canonical;
          const pubOwner = addressOwner.get(pub);
          if (pubOwner !== undefined) add(at('addresses', family, j, 'public'), `address ${pub} is already used at ${pubOwner}`);
          else addressOwner.set(pub, `${here}.public (host ${quote(h.name)})`);
          if (mesh?.layout === 'compact') {
            add(at('addresses', family, j, 'public'), 'a host behind 1:1 NAT needs layout "per-peer": the compact layout\'s one trap connection per family cannot tell which peers reach it at its public address');
          } else if (mesh?.mode === 'tunnel') {
            add(at('addresses', family, j, 'public'), 'a host behind 1:1 NAT needs mode "transport": in tunnel mode each end would see different inner addresses (its own private one, the peer\'s public one), so the traffic selectors cannot agree');
          }
        }
      });
      if (family === 'ipv6' && list.length > 0) siteHasIpv6.add(h.site);
    }
    const addressesPruned = pruned?.has('addresses.ipv4') === true || pruned?.has('addresses.ipv6') === true;
    const roaming = h.addresses.dynamic === true;
    if (roaming) {
      if (count > 0) add(at('addresses'), 'a roaming host (addresses: dynamic) lists no address');
      if (h.managed !== false && h.ssh?.host === undefined) {
        add(at('ssh', 'host'), `host ${quote(h.name)} roams (addresses: dynamic), so it has no address to log in at: give ssh.host (a DNS name that follows it), or managed: false`);
      }
      const kind = ikeIdentityKind(h.identity ?? defaultFqdn(h.name, h.site, domain));
      if (kind === 'address') add(at('identity'), `host ${quote(h.name)} roams, so its IKE identity cannot be an address: use its FQDN (the default) or a DN`);
      if (compact) add(at('addresses'), 'a roaming host needs layout "per-peer": its peers accept it by identity from any address, one connection each');
      else if (mesh?.mode === 'tunnel') add(at('addresses'), 'a roaming host needs mode "transport" here: tunnel mode to declared subnets is not supported yet');
    } else if (count === 0 && !addressesPruned) add(at('addresses'), 'host has no address: give at least one of addresses.ipv4, addresses.ipv6');

    const fqdn = h.fqdn ?? defaultFqdn(h.name, h.site, domain);
    const fqdnPath = h.fqdn === undefined ? at('name') : at('fqdn');
    if (h.fqdn === undefined && fqdn.length > 253) add(fqdnPath, `the default FQDN ${quote(fqdn)} is longer than 253 characters`);
    // A dropped fqdn/identity would stand in as its default here: no fair comparison. Nor is
    // a duplicate host name's (already reported).
    const compareNames = pruned?.has('fqdn') !== true && pruned?.has('identity') !== true && !hosts.has(h.name);
    if (compareNames) {
      const identity = h.identity ?? fqdn;
      const fqdnFirst = fqdnOwner.get(fqdn);
      const identityFirst = identityOwner.get(identity);
      if (fqdnFirst !== undefined) add(fqdnPath, `FQDN ${quote(fqdn)} is also the FQDN of ${fqdnFirst}`);
      else fqdnOwner.set(fqdn, `host ${quote(h.name)}`);
      // The mesh CA signs with the upstream tls provider, which copies subject, DNS names,
      // addresses and URIs from the CSR, never an e-mail SAN: no certificate could carry it.
      if (h.identity !== undefined && (mesh?.auth ?? 'certificate') === 'certificate' && ikeIdentityKind(h.identity) === 'email') {
        add(at('identity'), `IKE identity ${quote(h.identity)} is an e-mail address, which the mesh's certificates cannot carry (the CA signs subject, DNS names and addresses only): use the host's FQDN, an address or a DN, or mesh.auth psk`);
      }
      if (h.revoked === true && (mesh?.auth ?? 'certificate') === 'psk') {
        add(at('revoked'), 'revokes a certificate, but the mesh uses PSKs: remove the host (its pair keys go with it), or rotate the PSKs (pskGeneration)');
      }
      if (h.identity !== undefined && ikeIdentityKind(h.identity) === 'dn' && dnRdns(h.identity) === undefined) {
        add(at('identity'), `IKE identity ${quote(h.identity)} looks like a DN but is not a list of type=value parts (e.g. "C=CH, O=Example, CN=alpha") without "+", "/", "'", "$" or backquotes`);
      }
      if (identityFirst !== undefined) {
        add(h.identity === undefined ? fqdnPath : at('identity'), `IKE identity ${quote(identity)} is also the identity of ${identityFirst}`);
      } else identityOwner.set(identity, `host ${quote(h.name)}`);
    }

    if (h.managed === false) {
      if (h.ssh !== undefined) add(at('ssh'), `host ${quote(h.name)} is unmanaged (managed: false): ipsec-mesh never logs in to it, so it takes no ssh`);
      if ((mesh?.auth ?? 'certificate') === 'certificate') {
        add(at('managed'), `host ${quote(h.name)} is unmanaged, which needs mesh.auth psk: its key and certificate cannot be made on it without SSH (its side is typed in from \`ipsec-mesh peer-sheet\`, PSK included)`);
      }
    }

    const seenTags = new Set<string>();
    (h.tags ?? []).forEach((t, j) => {
      if (seenTags.has(t)) add(at('tags', j), `duplicate tag ${quote(t)}`);
      seenTags.add(t);
      tags.add(t);
    });
    if (h.cluster !== undefined) clusters.add(h.cluster);
    if (!hosts.has(h.name)) {
      hosts.set(h.name, { name: h.name, site: h.site, cluster: h.cluster, tags: h.tags ?? [], index: i, families, roaming: h.addresses.dynamic === true });
    }
  }
  for (const s of input.sites) {
    const mtu = s.value.mtu;
    const v6 = siteHasIpv6.has(s.value.name) || (s.value.prefixes ?? []).some((p) => p.family === 'ipv6');
    if (mtu !== undefined && mtu < 1280 && v6) {
      add(['sites', s.index, 'mtu'], `MTU ${mtu} is below 1280, the minimum IPv6 needs, and the site carries IPv6`);
    }
  }
  if (!incomplete.hosts && input.hosts.length < 2) {
    add(['hosts'], `the mesh needs at least two hosts, got ${input.hosts.length}`);
  }

  // --- mesh --------------------------------------------------------------------------------
  if (mesh !== undefined) checkMesh(mesh, add);

  // --- rules -------------------------------------------------------------------------------
  const hostList = [...hosts.values()];
  // Matching against an incomplete host list could report "matches nothing" for a host that
  // merely failed the schema, so those verdicts wait until the hosts parse.
  const canJudgeMatches = !incomplete.hosts;
  const known = { sites: new Set(sites.keys()), clusters, tags, hosts: new Set(hosts.keys()) };
  const additive: { covers: (a: HostView, b: HostView) => boolean; touches: (h: HostView) => boolean }[] = [];
  const excluded: { pairs: Set<string>; touches: (h: HostView) => boolean }[] = [];
  const explicitPairs = new Map<string, string>(); // pair key → where first listed
  // Exclude checks run once every additive rule is known, wherever it stands in the list.
  const deferred: (() => void)[] = [];

  /** Validates a selector's names; returns it as a model selector, or undefined if unusable. */
  const selectorOf = (sel: SelectorParsed, path: PathSegment[]): HostSelector | undefined => {
    const present = SELECTOR_KEYS.filter((k) => sel[k] !== undefined);
    if (present.length === 0) {
      add(path, 'a selector needs at least one of sites, clusters, tags, hosts');
      return undefined;
    }
    let usable = true;
    for (const k of present) {
      sel[k]!.forEach((name, j) => {
        if (known[k].has(name)) return;
        usable = false;
        if (!isTainted(k, name)) add([...path, k, j], unknownMessage(k.slice(0, -1), name, [...known[k], ...tainted[k]]));
      });
    }
    const out: { -readonly [K in keyof HostSelector]: HostSelector[K] } = {};
    for (const k of present) out[k] = sel[k];
    return usable ? out : undefined;
  };
  const matchAll = (sel: HostSelector): HostView[] => hostList.filter((h) => matchesSelector(h, sel));
  /** Checks an explicit pair's hosts; returns them when both exist and differ. */
  const pairOf = (pair: readonly [string, string], path: PathSegment[]): [HostView, HostView] | undefined => {
    const [x, y] = pair;
    const hx = hosts.get(x);
    const hy = hosts.get(y);
    const names = (): string[] => [...hosts.keys(), ...tainted.hosts];
    if (hx === undefined && !isTainted('hosts', x)) add([...path, 0], unknownMessage('host', x, names()));
    if (hy === undefined && !isTainted('hosts', y) && y !== x) add([...path, 1], unknownMessage('host', y, names()));
    if (x === y) {
      add(path, `pairs host ${quote(x)} with itself`);
      return undefined;
    }
    return hx !== undefined && hy !== undefined ? [hx, hy] : undefined;
  };

  for (const { value: r, index: i } of input.rules) {
    const at = (...rest: PathSegment[]): PathSegment[] => ['rules', i, ...rest];
    const kinds = RULE_KINDS.filter((k) => r[k] !== undefined);
    if (kinds.length !== 1) {
      add(at(), kinds.length === 0
        ? 'a rule needs one of mesh, between, pairs, exclude'
        : `a rule takes exactly one of mesh, between, pairs, exclude (got ${kinds.join(', ')})`);
      continue;
    }
    const kind: RuleKind = kinds[0]!;
    const network = r.network;
    if (network !== undefined) {
      if (kind === 'exclude') add(at('network'), 'an exclude rule takes no network (it removes pairs whatever their addresses)');
      else if (!networks.has(network) && !incomplete.hosts) add(at('network'), `no host has an address on network ${quote(network)} (known: ${[...networks].join(', ')})`);
    }
    switch (kind) {
      case 'mesh': {
        const m = r.mesh!;
        const { by, ...selPart } = m;
        const sel = selectorOf(selPart, at('mesh'));
        if (sel === undefined) break;
        const byCluster = by === 'cluster';
        additive.push({
          covers: (a, b) => matchesSelector(a, sel) && matchesSelector(b, sel) && (!byCluster || (a.cluster !== undefined && a.cluster === b.cluster)),
          touches: (h) => matchesSelector(h, sel),
        });
        if (!canJudgeMatches) break;
        const matched = matchAll(sel);
        if (matched.length === 0) add(at('mesh'), 'matches no host');
        else if (matched.length === 1) add(at('mesh'), `matches only host ${quote(matched[0]!.name)}; a mesh needs at least two`);
        else if (byCluster) {
          const perCluster = new Map<string, number>();
          for (const h of matched) if (h.cluster !== undefined) perCluster.set(h.cluster, (perCluster.get(h.cluster) ?? 0) + 1);
          if (![...perCluster.values()].some((n) => n >= 2)) add(at('mesh'), 'by: cluster, but no cluster has two matched hosts, so it pairs nothing');
        }
        break;
      }
      case 'between': {
        const b = r.between!;
        const from = selectorOf(b.from, at('between', 'from'));
        const to = selectorOf(b.to, at('between', 'to'));
        if (from === undefined || to === undefined) break;
        additive.push({
          covers: (x, y) => (matchesSelector(x, from) && matchesSelector(y, to)) || (matchesSelector(y, from) && matchesSelector(x, to)),
          touches: (h) => matchesSelector(h, from) || matchesSelector(h, to),
        });
        if (!canJudgeMatches) break;
        const mf = matchAll(from);
        const mt = matchAll(to);
        if (mf.length === 0) add(at('between', 'from'), 'matches no host');
        if (mt.length === 0) add(at('between', 'to'), 'matches no host');
        if (mf.length === 1 && mt.length === 1 && mf[0] === mt[0]) {
          add(at('between'), `from and to both match only host ${quote(mf[0]!.name)}, so it pairs nothing`);
        }
        break;
      }
      case 'pairs': {
        const keys = new Set<string>();
        const members = new Set<string>();
        r.pairs!.forEach((pair, j) => {
          const hp = pairOf(pair, at('pairs', j));
          if (hp === undefined) return;
          const key = pairKey(hp[0].name, hp[1].name);
          const first = explicitPairs.get(key);
          if (first !== undefined) add(at('pairs', j), `pair ${hp[0].name}–${hp[1].name} is already listed at ${first}`);
          else explicitPairs.set(key, `rules[${i}].pairs[${j}]`);
          keys.add(key);
          members.add(hp[0].name).add(hp[1].name);
          const shared = sharedFamilies(hp[0], hp[1], network);
          if (shared.length === 0 && (network === undefined || networks.has(network))) {
            add(at('pairs', j), network === undefined
              ? `hosts ${quote(hp[0].name)} and ${quote(hp[1].name)} share no address family`
              : `hosts ${quote(hp[0].name)} and ${quote(hp[1].name)} share no address family on network ${quote(network)}`);
          }
        });
        additive.push({ covers: (a, b) => keys.has(pairKey(a.name, b.name)), touches: (h) => members.has(h.name) });
        break;
      }
      case 'exclude': {
        const e = r.exclude!;
        const { pairs, ...selPart } = e;
        const hasSelector = SELECTOR_KEYS.some((k) => selPart[k] !== undefined);
        if (pairs === undefined && !hasSelector) {
          add(at('exclude'), 'an exclude needs pairs, a selector (sites, clusters, tags, hosts), or both');
          break;
        }
        const keys = new Set<string>();
        const pairHosts: { path: PathSegment[]; hp: [HostView, HostView] }[] = [];
        pairs?.forEach((pair, j) => {
          const hp = pairOf(pair, at('exclude', 'pairs', j));
          if (hp === undefined) return;
          keys.add(pairKey(hp[0].name, hp[1].name));
          pairHosts.push({ path: at('exclude', 'pairs', j), hp });
        });
        const sel = hasSelector ? selectorOf(selPart, at('exclude')) : undefined;
        excluded.push({ pairs: keys, touches: (h) => sel !== undefined && matchesSelector(h, sel) });
        deferred.push(() => {
          for (const { path, hp } of pairHosts) {
            if (!additive.some((rule) => rule.covers(hp[0], hp[1]))) {
              add(path, `no rule pairs ${quote(hp[0].name)} and ${quote(hp[1].name)}, so there is nothing to exclude`);
            }
          }
          if (sel === undefined) return;
          const matched = matchAll(sel);
          if (matched.length === 0) add(at('exclude'), 'matches no host');
          else if (!matched.some((h) => additive.some((rule) => rule.touches(h)))) {
            add(at('exclude'), `the hosts it matches (${listNames(matched)}) are in no pair rule, so there is nothing to exclude`);
          }
        });
        break;
      }
    }
  }
  if (canJudgeMatches && !incomplete.rules) for (const f of deferred) f();

  if (!incomplete.rules) {
    if (input.rules.length === 0) add(['rules'], 'no rules: the mesh would encrypt nothing (empty mesh)');
    else if (additive.length === 0 && input.rules.every((r) => r.value.exclude !== undefined)) {
      add(['rules'], 'only exclude rules: the mesh would encrypt nothing (empty mesh)');
    }
  }

  // --- pair overrides ----------------------------------------------------------------------
  if (mesh !== undefined) {
    const seen = new Map<string, number>();
    (mesh.pairOverrides ?? []).forEach((o, i) => {
      const at = (...rest: PathSegment[]): PathSegment[] => ['mesh', 'pairOverrides', i, ...rest];
      if (compact && o.enforcement === 'use') add(at('enforcement'), compactUseMessage());
      if (compact && o.quantumResistance !== undefined) {
        add(at('quantumResistance'), 'the compact layout shares one mesh-wide PPK on its one connection per family: set quantumResistance on the mesh, not per pair');
      }
      const hp = pairOf(o.hosts, at('hosts'));
      if (hp === undefined) return;
      const key = pairKey(hp[0].name, hp[1].name);
      const first = seen.get(key);
      if (first !== undefined) add(at('hosts'), `pair ${hp[0].name}–${hp[1].name} already has an override at mesh.pairOverrides[${first}]`);
      else seen.set(key, i);
      if (!canJudgeMatches || incomplete.rules) return;
      const created = additive.some((rule) => rule.covers(hp[0], hp[1]));
      const removed = excluded.some((x) => x.pairs.has(key) || x.touches(hp[0]) || x.touches(hp[1]));
      if (!created || removed) {
        add(at('hosts'), `${quote(hp[0].name)} and ${quote(hp[1].name)} are not a pair of this mesh (${created ? 'an exclude rule removes it' : 'no rule pairs them'})`);
      }
    });
  }
  return issues;
}

function checkMesh(mesh: MeshParsed, add: (path: readonly PathSegment[], message: string) => void): void {
  if (mesh.compactSelectors === 'site-prefixes' && mesh.layout !== 'compact') {
    add(['mesh', 'compactSelectors'], `compactSelectors "site-prefixes" applies to layout "compact" only (this mesh is ${quote(mesh.layout ?? 'per-peer')}): per-peer connections always name one peer address`);
  }
  if (mesh.layout === 'compact') {
    if (mesh.auth === 'psk') {
      add(['mesh', 'auth'], 'layout "compact" needs auth "certificate": its one connection accepts any peer (remote_addrs = %any), which only the mesh CA can authenticate; per-pair PSKs need layout "per-peer"');
    }
    if (mesh.enforcement === 'use') add(['mesh', 'enforcement'], compactUseMessage());
  }
  const names = new Map<string, number>();
  (mesh.bypass ?? []).forEach((b, i) => {
    const at = (...rest: PathSegment[]): PathSegment[] => ['mesh', 'bypass', i, ...rest];
    const first = names.get(b.name);
    if (first !== undefined) add(at('name'), `duplicate bypass name ${quote(b.name)} (first at mesh.bypass[${first}])`);
    else names.set(b.name, i);
    if (b.port !== undefined && b.protocol !== 'tcp' && b.protocol !== 'udp') {
      add(at('port'), `a port applies to tcp or udp only, not ${b.protocol}`);
    }
    const broad = (b.protocol === 'tcp' || b.protocol === 'udp' || b.protocol === 'any') && b.port === undefined && b.cidrs === undefined;
    if (broad) add(at(), `would let all ${b.protocol === 'any' ? '' : `${b.protocol} `}traffic bypass the mesh; narrow it with ${b.protocol === 'any' ? 'cidrs' : 'a port or cidrs'}`);
  });
  for (const key of ['proposals', 'espProposals'] as const) {
    const seen = new Set<string>();
    (mesh[key] ?? []).forEach((p, i) => {
      if (seen.has(p)) add(['mesh', key, i], `duplicate proposal ${quote(p)}`);
      seen.add(p);
      if (key === 'espProposals' && p.split('-').some((t) => t.startsWith('prf'))) {
        add(['mesh', key, i], `${quote(p)} names a PRF, which only IKE proposals take`);
      }
    });
  }
}

function compactUseMessage(): string {
  return 'enforcement "use" is impossible with layout "compact": its connection has no concrete peer to start, so only "off" and "require" (trap) can be honoured; use layout "per-peer" for a "use" stage';
}

function checkInSite(
  address: ParsedAddress,
  site: SiteParsed,
  add: (path: readonly PathSegment[], message: string) => void,
  path: PathSegment[],
  required: boolean,
): void {
  const prefixes = (site.prefixes ?? []).filter((p) => p.family === address.family);
  if (prefixes.length === 0 && required) {
    add(path, `mesh.compactSelectors "site-prefixes" traps the sites' prefixes, but site ${quote(site.name)} declares no ${address.family} prefix for ${address.canonical}: add one to sites[].prefixes`);
    return;
  }
  if (prefixes.length === 0 || prefixes.some((p) => prefixContains(p, address))) return;
  add(path, `address ${address.canonical} is outside the ${address.family} prefixes of site ${quote(site.name)} (${prefixes.map((p) => p.canonical).join(', ')})`);
}

function checkPrefixOverlaps(
  sites: readonly Located<SiteParsed>[],
  add: (path: readonly PathSegment[], message: string) => void,
): void {
  const all: { p: ParsedPrefix; site: string; at: string; path: PathSegment[] }[] = [];
  for (const s of sites) {
    (s.value.prefixes ?? []).forEach((p, j) => {
      const path: PathSegment[] = ['sites', s.index, 'prefixes', j];
      const other = all.find((o) => prefixesOverlap(o.p, p));
      if (other !== undefined) {
        add(path, other.p.canonical === p.canonical
          ? `prefix ${p.canonical} is already listed at ${other.at} (site ${quote(other.site)})`
          : `prefix ${p.canonical} overlaps ${other.p.canonical} at ${other.at} (site ${quote(other.site)})`);
      }
      all.push({ p, site: s.value.name, at: `sites[${s.index}].prefixes[${j}]`, path });
    });
  }
}

function sharedFamilies(a: HostView, b: HostView, network: string | undefined): AddressFamily[] {
  const fam = (h: HostView): Set<AddressFamily> => {
    if (network !== undefined) return new Set(h.families.get(network) ?? []);
    const out = new Set<AddressFamily>();
    for (const s of h.families.values()) for (const f of s) out.add(f);
    return out;
  };
  const all = new Set<AddressFamily>(['ipv4', 'ipv6']);
  const fa = a.roaming ? all : fam(a);
  const fb = b.roaming ? all : fam(b);
  return (['ipv4', 'ipv6'] as const).filter((f) => fa.has(f) && fb.has(f));
}

function unknownMessage(what: string, name: string, known: Iterable<string>): string {
  const list = [...new Set(known)].sort();
  const shown = list.length === 0 ? 'none are defined' : `known: ${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}`;
  return `unknown ${what} ${quote(name)} (${shown})`;
}

function listNames(hosts: readonly { name: string }[]): string {
  const names = hosts.slice(0, 5).map((h) => h.name);
  return hosts.length > 5 ? `${names.join(', ')}, … ${hosts.length - 5} more` : names.join(', ');
}
