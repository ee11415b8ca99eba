// Which mesh connections a host gets: the plan both the swanctl text and describeHostConfig
// come from, so the names a verify step looks for are exactly the names rendered.
import type { AddressFamily, Host } from '../inventory/model.js';
import { DYNAMIC_ADDRESS, localAddress, remoteAddress, roams, type HostPair } from '../topology/host-pair.js';
import { meshPpkId, pairPpkId } from './ppk-id.js';
import type { HostInfo, RenderContext } from './render-context.js';
import { RenderError } from './render-error.js';

/**
 * How a CHILD_SA starts and recovers (see docs/render.md):
 * - `require`: trap policies on both ends; traffic never leaves in cleartext.
 * - `use-initiator`: the end whose name sorts first starts the SA at load and restarts it.
 * - `use-responder`: the other end only answers; while no SA exists traffic is cleartext.
 * - `roaming-responder`: towards a roaming peer, whatever the enforcement: only answers (its
 *   address is unknown until it calls), and forgets the SA when the peer is gone.
 */
export type ChildRole = 'require' | 'use-initiator' | 'use-responder' | 'roaming-responder';

export interface MeshConnection {
  /** Connection name; its one CHILD_SA carries the same name. */
  readonly name: string;
  readonly family: AddressFamily;
  /** The peer (per-peer layout); undefined for a compact connection. */
  readonly peer: string | undefined;
  /** Rendered values, comma-joined where swanctl takes lists. */
  readonly localAddrs: string;
  /** undefined = `%any` (compact: the acquire's destination is the peer). */
  readonly remoteAddrs: string | undefined;
  /** Rendered peer identity; undefined = `%any` (compact: any certificate of the mesh CA). */
  readonly remoteId: string | undefined;
  readonly localTs: string;
  readonly remoteTs: string;
  readonly role: ChildRole;
  /** Pairs this connection serves (compact: every peer of the family). */
  readonly peers: number;
  /** `encap = yes`: a site of the pair drops ESP, so ESP goes in UDP even without NAT. */
  readonly forceEncap: boolean;
  /**
   * An end roams. MOBIKE stays off even so: its path probing tries every address pair of
   * either family and would move this family's IKE_SA onto the other one (seen in the lab;
   * strongSwan's ike_mobike.c transmit()); without it the roaming end re-authenticates from
   * its new address in the connection's own family (ike_sa.c roam()).
   */
  readonly roaming: boolean;
  /** Post-quantum preshared key: the PPK_ID sent, and whether IKE_AUTH fails without it. */
  readonly ppk?: { readonly id: string; readonly required: boolean };
  /** Both ends run strongSwan 6: hybrid ML-KEM proposals instead of the mesh's. */
  readonly hybrid: boolean;
}

export const FAMILY_SUFFIX: Readonly<Record<AddressFamily, string>> = { ipv4: 'v4', ipv6: 'v6' };
const HOST_PREFIX: Readonly<Record<AddressFamily, string>> = { ipv4: '/32', ipv6: '/128' };

export function perPeerConnectionName(meshName: string, peer: string, family: AddressFamily): string {
  return `${meshName}_${peer}_${FAMILY_SUFFIX[family]}`;
}

export function compactConnectionName(meshName: string, family: AddressFamily): string {
  return `${meshName}_${FAMILY_SUFFIX[family]}`;
}

/**
 * The host's pairs, checked to involve it, sorted by peer name (pairsForHost already sorts:
 * then no copy). Whether each peer exists is checked where the peer is looked up anyway.
 */
export function checkedPairs(ctx: RenderContext, host: Host, pairs: readonly HostPair[]): readonly HostPair[] {
  const meshName = ctx.mesh.name;
  let sorted = true;
  let previous = '';
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i]!;
    if (p.a !== host.name && p.b !== host.name) {
      throw new RenderError(`pair does not involve this host`, { code: 'pair-not-for-host', mesh: meshName, host: host.name, pair: p.key });
    }
    const peer = p.a === host.name ? p.b : p.a;
    if (i > 0 && peer <= previous) sorted = false;
    previous = peer;
  }
  if (sorted) return pairs;
  const byPeer = (p: HostPair): string => (p.a === host.name ? p.b : p.a);
  return [...pairs].sort((x, y) => (byPeer(x) < byPeer(y) ? -1 : byPeer(x) > byPeer(y) ? 1 : 0));
}

export interface MeshPlan {
  /** Mesh connections, in output order. */
  readonly connections: MeshConnection[];
  /**
   * Families used towards peers per site index (bit 1 = IPv4, 2 = IPv6), gathered in the
   * same pass: the pair objects are read once per host (a big mesh is memory-bound).
   */
  readonly peerSites: Uint8Array;
  /**
   * compact with `site-prefixes`: per family, the host addresses inside the trapped prefixes
   * that are not this host's `require` peers (itself, hosts it is not paired with). They get a
   * pass shunt and the backstop accepts them (bypass-shunts.ts outsideMeshShunts).
   */
  readonly outsideMesh?: Readonly<Record<AddressFamily, readonly string[]>>;
  /** compact with `site-prefixes`: per family, the prefixes trapped (remote_ts), sorted. */
  readonly trappedPrefixes?: Readonly<Record<AddressFamily, readonly string[]>>;
}

/** Mesh connections of one host (pairs from checkedPairs), and the peer sites they reach. */
export function planMeshConnections(ctx: RenderContext, host: Host, pairs: readonly HostPair[]): MeshPlan {
  const peerSites = new Uint8Array(ctx.sites.length);
  if (ctx.mesh.layout !== 'compact') return { connections: planPerPeer(ctx, host, pairs, peerSites), peerSites };
  if (ctx.mesh.compactSelectors !== 'site-prefixes') return { connections: planCompact(ctx, host, pairs, peerSites), peerSites };
  const prefixes = { ipv4: [] as string[], ipv6: [] as string[] };
  const outsideMesh = { ipv4: [] as string[], ipv6: [] as string[] };
  const connections = planCompact(ctx, host, pairs, peerSites, { prefixes, outsideMesh });
  return { connections, peerSites, trappedPrefixes: prefixes, outsideMesh };
}

/** Site-prefix mode's outputs, filled by planCompact. */
interface SitePrefixPlan {
  readonly prefixes: Record<AddressFamily, string[]>;
  readonly outsideMesh: Record<AddressFamily, string[]>;
}

const siteHostsCache = new WeakMap<RenderContext, Host[][]>();

/** The hosts of each site (by site index), computed once per inventory. */
function hostsBySite(ctx: RenderContext): Host[][] {
  let out = siteHostsCache.get(ctx);
  if (out === undefined) {
    out = ctx.sites.map(() => []);
    for (const info of ctx.hostInfo.values()) out[info.siteIndex]!.push(info.host);
    siteHostsCache.set(ctx, out);
  }
  return out;
}

/**
 * remote_ts = the prefixes of every site holding a `require` peer of the family, so the files
 * stay the same when a host joins such a site. What those prefixes hold besides the peers is
 * either in the inventory (this host, hosts it is not paired with: listed here, passed by a
 * shunt) or declared by the user as a bypass rule with cidrs (routers, non-mesh hosts).
 */
function sitePrefixSelectors(ctx: RenderContext, host: Host, peerSites: Uint8Array, requirePeers: ReadonlySet<string>, plan: SitePrefixPlan): void {
  const bySite = hostsBySite(ctx);
  for (const family of ['ipv4', 'ipv6'] as const) {
    const bit = family === 'ipv4' ? 1 : 2;
    const prefixes: string[] = [];
    const outside: string[] = [];
    for (let i = 0; i < peerSites.length; i++) {
      if ((peerSites[i]! & bit) === 0) continue;
      const site = ctx.sites[i]!;
      const own = site.prefixes[family];
      if (own.length === 0) {
        // Validation rejects this first; a typed model built by hand may still reach here.
        throw new RenderError(`compactSelectors "site-prefixes": site "${site.name}" has no ${family} prefix to trap`, { code: 'site-prefix-missing', mesh: ctx.mesh.name, host: host.name });
      }
      prefixes.push(...own);
      for (const other of bySite[i]!) {
        if (other.name !== host.name && requirePeers.has(other.name)) continue;
        for (const a of other.addresses[family]) outside.push(a.address);
      }
    }
    // The host itself, wherever its site is: its own traffic to its own address is local.
    for (const a of host.addresses[family]) if (!outside.includes(a.address)) outside.push(a.address);
    if (prefixes.length === 0) continue;
    plan.prefixes[family] = [...new Set(prefixes)].sort();
    plan.outsideMesh[family] = [...new Set(outside)].sort();
  }
}

/** The peer's inventory entry; a pair naming a host the inventory lacks is an error. */
function peerInfo(ctx: RenderContext, host: Host, pair: HostPair, peerName: string): HostInfo {
  const info = ctx.hostInfo.get(peerName);
  if (info === undefined) {
    throw new RenderError(`peer "${peerName}" is not in the inventory`, { code: 'unknown-host', mesh: ctx.mesh.name, host: host.name, pair: pair.key });
  }
  return info;
}

function planPerPeer(ctx: RenderContext, host: Host, pairs: readonly HostPair[], peerSites: Uint8Array): MeshConnection[] {
  const out: MeshConnection[] = [];
  const meshName = ctx.mesh.name;
  const self = host.name;
  for (const pair of pairs) {
    if (pair.enforcement === 'off') continue;
    const isA = pair.a === self;
    const peerName = isA ? pair.b : pair.a;
    const info = peerInfo(ctx, host, pair, peerName);
    const peer = info.host;
    // The end whose name sorts first (always `a`) is the one initiator of a `use` pair, so
    // the two ends never race into duplicate SAs.
    const role: ChildRole = peer.roaming === true ? 'roaming-responder' : pair.enforcement === 'require' ? 'require' : isA ? 'use-initiator' : 'use-responder';
    const remoteId = ctx.identityValue(peer);
    const forceEncap = ctx.udpEncapSites.size > 0 && (ctx.udpEncapSites.has(host.site) || ctx.udpEncapSites.has(peer.site));
    const qr = ctx.quantumResistance(pair, host.site, peer.site);
    const hybrid = host.strongswan === '6' && peer.strongswan === '6';
    const ppk = qr === 'off' ? {} : { ppk: { id: pairPpkId(meshName, pair.a, pair.b, ctx.mesh.ppkGeneration), required: qr === 'required' } };
    for (const ep of pair.families) {
      // Across 1:1 NAT the peer is dialled, and seen by this kernel, at its public address;
      // in transport mode charon maps the NATed end's own selector onto it (docs/topology.md).
      const local = localAddress(ep, isA);
      const remote = remoteAddress(ep, isA);
      if (roams(ep)) {
        // A roaming end: IKE from (or to) any address, its selector whatever address it has.
        // Its own trap takes any source (the SA narrows to its address, MOBIKE moves it).
        const any = ep.family === 'ipv6' ? '::/0' : '0.0.0.0/0';
        peerSites[info.siteIndex]! |= ep.family === 'ipv4' ? 1 : 2;
        out.push({
          name: perPeerConnectionName(meshName, peerName, ep.family),
          family: ep.family,
          peer: peerName,
          localAddrs: local === DYNAMIC_ADDRESS ? '%any' : local,
          remoteAddrs: remote === DYNAMIC_ADDRESS ? (ep.family === 'ipv6' ? '%any6' : '%any4') : remote,
          remoteId,
          localTs: local === DYNAMIC_ADDRESS ? any : local + HOST_PREFIX[ep.family],
          remoteTs: remote === DYNAMIC_ADDRESS ? 'dynamic' : remote + HOST_PREFIX[ep.family],
          role,
          peers: 1,
          forceEncap,
          roaming: true,
          hybrid,
          ...ppk,
        });
        continue;
      }
      if (host.addresses[ep.family].length === 0) {
        throw new RenderError(`pair uses ${ep.family} but the host has no ${ep.family} address`, { code: 'family-missing', mesh: meshName, host: self, pair: pair.key });
      }
      const prefix = HOST_PREFIX[ep.family];
      peerSites[info.siteIndex]! |= ep.family === 'ipv4' ? 1 : 2;
      out.push({
        name: perPeerConnectionName(meshName, peerName, ep.family),
        family: ep.family,
        peer: peerName,
        localAddrs: local,
        remoteAddrs: remote,
        remoteId,
        localTs: local + prefix,
        remoteTs: remote + prefix,
        role,
        peers: 1,
        forceEncap,
        roaming: false,
        hybrid,
        ...ppk,
      });
    }
  }
  return out;
}

function planCompact(ctx: RenderContext, host: Host, pairs: readonly HostPair[], peerSites: Uint8Array, sitePrefixes?: SitePrefixPlan): MeshConnection[] {
  const meshName = ctx.mesh.name;
  if (ctx.mesh.auth !== 'certificate') {
    // One connection answers every peer, so no per-peer PSK can be chosen before the peer
    // has identified itself, and initiating with %any has none to pick at all.
    throw new RenderError(`the compact layout authenticates peers by the mesh CA: it needs auth "certificate", not "${ctx.mesh.auth}"`, { code: 'compact-psk', mesh: meshName, host: host.name });
  }
  // Arrays, not Sets: a host has one or two local addresses per family, and peer addresses
  // are unique in a valid inventory. This loop runs once per pair of every host: families
  // are handled with plain locals rather than keyed lookups.
  const has4 = host.addresses.ipv4.length > 0;
  const has6 = host.addresses.ipv6.length > 0;
  const local4: string[] = [];
  const local6: string[] = [];
  const remote4: string[] = [];
  const remote6: string[] = [];
  const self = host.name;
  const requirePeers = new Set<string>();
  let n4 = 0;
  let n6 = 0;
  for (const pair of pairs) {
    const level = pair.enforcement;
    if (level === 'off') continue; // left out of remote_ts: no trap, no SA
    if (level === 'use') {
      throw new RenderError(
        `enforcement "use" needs a concrete peer to start the SA, which the compact layout (one trap connection for every peer) does not have; use "require" or "off" for this pair, or the per-peer layout`,
        { code: 'compact-use', mesh: meshName, host: self, pair: pair.key },
      );
    }
    const isA = pair.a === self;
    const peerName = isA ? pair.b : pair.a;
    const siteIndex = peerInfo(ctx, host, pair, peerName).siteIndex;
    if (sitePrefixes !== undefined) requirePeers.add(peerName);
    for (const ep of pair.families) {
      const v4 = ep.family === 'ipv4';
      peerSites[siteIndex]! |= v4 ? 1 : 2;
      if (!(v4 ? has4 : has6)) {
        throw new RenderError(`pair uses ${ep.family} but the host has no ${ep.family} address`, { code: 'family-missing', mesh: meshName, host: self, pair: pair.key });
      }
      const mine = isA ? ep.a : ep.b;
      const locals = v4 ? local4 : local6;
      if (locals.length === 0 || (locals[0] !== mine && !locals.includes(mine))) locals.push(mine);
      // Peer order (pairs are sorted by peer name), so the text is stable. Bare addresses:
      // the prefix goes in with the join (no per-peer concatenation to flatten later).
      // Site prefixes: remote_ts is the prefixes; only whether a family has a peer counts.
      if (sitePrefixes === undefined) (v4 ? remote4 : remote6).push(isA ? ep.b : ep.a);
      else if (v4) n4++;
      else n6++;
    }
  }
  const local: Record<AddressFamily, string[]> = { ipv4: local4, ipv6: local6 };
  const remoteTs: Record<AddressFamily, string[]> = { ipv4: remote4, ipv6: remote6 };
  if (sitePrefixes !== undefined) sitePrefixSelectors(ctx, host, peerSites, requirePeers, sitePrefixes);
  const out: MeshConnection[] = [];
  for (const family of ['ipv4', 'ipv6'] as const) {
    const remotes = remoteTs[family];
    const peers = sitePrefixes === undefined ? remotes.length : family === 'ipv4' ? n4 : n6;
    if (peers === 0) continue;
    const prefix = HOST_PREFIX[family];
    const locals = local[family].sort();
    const trapped = sitePrefixes?.prefixes[family];
    out.push({
      name: compactConnectionName(meshName, family),
      family,
      peer: undefined,
      localAddrs: locals.join(','),
      remoteAddrs: undefined,
      remoteId: undefined,
      localTs: locals.map((a) => a + prefix).join(','),
      remoteTs: trapped !== undefined ? trapped.join(',') : remotes.join(`${prefix},`) + prefix,
      role: 'require',
      peers,
      forceEncap: false,
      roaming: false,
      // One connection for every peer, of either strongSwan line: the mesh's own proposals.
      hybrid: false,
      ...(ctx.mesh.quantumResistance === 'off' ? {} : { ppk: { id: meshPpkId(meshName, ctx.mesh.ppkGeneration), required: ctx.mesh.quantumResistance === 'required' } }),
    });
  }
  return out;
}
