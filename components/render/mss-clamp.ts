// TCP MSS clamping towards peers (docs/render.md, "MTU"). ESP makes every packet bigger; when
// a smaller link on the path answers with an ICMP "fragmentation needed"/"packet too big"
// that a firewall on the way drops, TCP keeps sending segments that never arrive (a PMTU
// black hole). Clamping the MSS of SYN and SYN-ACK to what fits the link, ESP included,
// keeps segments small enough from the first one. The values come from planMtu.
import type { AddressFamily, Host, MssClampMode, Site } from '../inventory/model.js';
import { remoteAddress, roams, type HostPair } from '../topology/host-pair.js';
import type { MtuPlan } from './link-mtu.js';
import type { RenderContext } from './render-context.js';

/** One clamp: TCP to or from these peers carries at most `mss` bytes per segment. */
export interface MssClamp {
  readonly family: AddressFamily;
  readonly mss: number;
  /** The smallest link MTU among the peers' links at this MSS (for the comment). */
  readonly linkMtu: number;
  /** Peer addresses, or in compact `site-prefixes` mode the peers' site prefixes (sorted, unique). */
  readonly peers: readonly string[];
}

/** Whether a link between two sites is clamped under `mode`. */
export function isLinkClamped(mode: MssClampMode, own: Site | undefined, peer: Site | undefined): boolean {
  if (mode === 'off') return false;
  if (mode === 'on') return true;
  return (own?.mtuDeclared ?? false) || (peer?.mtuDeclared ?? false);
}

/**
 * The clamps of one host: per family and MSS, the addresses of the peers whose link is
 * clamped (pairs at `off` carry no ESP: none). Sorted by family, then MSS.
 */
export function planMssClamp(ctx: RenderContext, host: Host, pairs: readonly HostPair[], mtu: MtuPlan): MssClamp[] {
  const mode = ctx.mesh.mssClamp;
  if (mode === 'off') return [];
  const own = ctx.sitesByName.get(host.site);
  // `auto` with no site declaring an MTU (most inventories): nothing to clamp, no pair loop.
  if (mode === 'auto' && !ctx.sites.some((s) => s.mtuDeclared)) return [];
  const links = new Map(mtu.links.map((l) => [l.site, l]));
  const prefixMode = ctx.mesh.layout === 'compact' && ctx.mesh.compactSelectors === 'site-prefixes';
  const groups = new Map<string, { family: AddressFamily; mss: number; linkMtu: number; peers: Set<string> }>();
  for (const pair of pairs) {
    if (pair.enforcement === 'off' || (pair.a !== host.name && pair.b !== host.name)) continue;
    const isA = pair.a === host.name;
    const peerSite = ctx.sites[ctx.hostInfo.get(isA ? pair.b : pair.a)?.siteIndex ?? -1];
    if (peerSite === undefined || !isLinkClamped(mode, own, peerSite)) continue;
    const link = links.get(peerSite.name);
    if (link === undefined) continue;
    for (const ep of pair.families) {
      if (roams(ep)) continue; // no address to clamp towards
      const fam = link.families.find((f) => f.family === ep.family);
      if (fam === undefined) continue;
      const key = `${ep.family}/${fam.mss}`;
      let g = groups.get(key);
      if (g === undefined) groups.set(key, (g = { family: ep.family, mss: fam.mss, linkMtu: link.linkMtu, peers: new Set() }));
      g.linkMtu = Math.min(g.linkMtu, link.linkMtu);
      // Site-prefix mode clamps towards the peer's site prefixes: no file lists a peer.
      if (prefixMode) for (const prefix of peerSite.prefixes[ep.family]) g.peers.add(prefix);
      else g.peers.add(remoteAddress(ep, isA));
    }
  }
  return [...groups.values()]
    .sort((x, y) => (x.family === y.family ? x.mss - y.mss : x.family === 'ipv4' ? -1 : 1))
    .map((g) => ({ family: g.family, mss: g.mss, linkMtu: g.linkMtu, peers: [...g.peers].sort() }));
}
