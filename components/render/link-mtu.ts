// Inner MTU / TCP MSS per link a host's pairs cross, from the ESP overhead of the mesh's
// proposals. The path to a peer is limited by the MTU of the host's site and the peer's.
import type { AddressFamily, Host, IpsecMode } from '../inventory/model.js';
import { tcpMss, transformInnerMtu, transformOverhead } from './esp-overhead.js';
import type { RenderContext } from './render-context.js';

export interface LinkMtu {
  /** The peer site (its MTU, with the host's own, limits the path). */
  readonly site: string;
  readonly linkMtu: number;
  /** ESP rides in UDP 4500 on this link (tunnel mode, 1:1 NAT, or a site forcing it): 8 more bytes. */
  readonly natT: boolean;
  readonly families: readonly { readonly family: AddressFamily; readonly innerMtu: number; readonly mss: number }[];
}

export interface MtuPlan {
  readonly mode: IpsecMode;
  /** Some link carries ESP in UDP (see LinkMtu.natT); `overhead` counts those 8 bytes. */
  readonly natT: boolean;
  /** Worst-case ESP overhead per family (largest padding, costliest transform). */
  readonly overhead: Readonly<Partial<Record<AddressFamily, number>>>;
  readonly links: readonly LinkMtu[];
  readonly minLinkMtu: number;
}

const DEFAULT_MTU = 1500;

/** `peerSites`: families used towards peers per site index (from planMeshConnections). */
export function planMtu(ctx: RenderContext, host: Host, peerSites: Uint8Array, families: readonly AddressFamily[]): MtuPlan {
  const mode = ctx.mesh.mode;
  const ownMtu = ctx.sitesByName.get(host.site)?.mtu ?? DEFAULT_MTU;
  const sites = new Map<string, number>();
  for (let i = 0; i < peerSites.length; i++) if (peerSites[i] !== 0) sites.set(ctx.sites[i]!.name, peerSites[i]!);
  const linkNatT = (site: string): boolean => linkUsesUdpEncap(ctx, host.site, site);
  const natT = mode === 'tunnel' || [...sites.keys()].some(linkNatT);
  const overhead: Partial<Record<AddressFamily, number>> = {};
  for (const f of families) {
    let worst = 0;
    for (const t of ctx.espTransforms) worst = Math.max(worst, transformOverhead(t, mode, natT, f).maxBytes);
    overhead[f] = worst;
  }
  let minLinkMtu = ownMtu;
  const links: LinkMtu[] = [];
  for (const site of [...sites.keys()].sort()) {
    const linkMtu = Math.min(ownMtu, ctx.sitesByName.get(site)?.mtu ?? DEFAULT_MTU);
    minLinkMtu = Math.min(minLinkMtu, linkMtu);
    const fams: { family: AddressFamily; innerMtu: number; mss: number }[] = [];
    const natT = linkNatT(site);
    for (const f of families) {
      if ((sites.get(site)! & (f === 'ipv4' ? 1 : 2)) === 0) continue;
      let inner = Number.POSITIVE_INFINITY;
      for (const t of ctx.espTransforms) inner = Math.min(inner, transformInnerMtu(linkMtu, t, mode, natT, f));
      fams.push({ family: f, innerMtu: inner, mss: tcpMss(inner, f) });
    }
    links.push({ site, linkMtu, natT, families: fams });
  }
  return { mode, natT, overhead, links, minLinkMtu };
}

/**
 * Whether ESP between two sites rides in UDP 4500: always in tunnel mode (NAT-T assumed),
 * when either site forces it, and across sites when either has hosts behind 1:1 NAT.
 */
export function linkUsesUdpEncap(ctx: RenderContext, ownSite: string, peerSite: string): boolean {
  if (ctx.mesh.mode === 'tunnel') return true;
  if (ctx.udpEncapSites.has(ownSite) || ctx.udpEncapSites.has(peerSite)) return true;
  return ownSite !== peerSite && (ctx.natSites.has(ownSite) || ctx.natSites.has(peerSite));
}
