// Every non-secret file of one host, and the names of what they define.
import { renderLogrotateConf } from './logrotate-conf.js';
import { DEFAULT_CA_LABEL } from '../credentials/ca-rollover.js';
import type { Host, Inventory } from '../inventory/model.js';
import type { HostPair } from '../topology/host-pair.js';
import { bypassConnectionName, hostFamilies, outsideMeshShunts, planBypass, type BypassShunt } from './bypass-shunts.js';
import { renderCharonConf } from './charon-conf.js';
import { renderMonitorFiles, type MonitorSettings } from './monitor-files.js';
import { renderBackstopNft, renderBackstopUnit } from './backstop-nft.js';
import { caCertFileName, hostCertFileName, meshFilePaths, type MeshFilePaths } from './file-paths.js';
import { planMtu, type MtuPlan } from './link-mtu.js';
import { planMssClamp } from './mss-clamp.js';
import { checkedPairs, planMeshConnections, type MeshConnection, type MeshPlan } from './mesh-connections.js';
import { renderContext, type RenderContext } from './render-context.js';
import type { RenderedFile } from './rendered-file.js';
import { connectionFingerprints, renderSwanctlConf, type SwanctlInput } from './swanctl-conf.js';
import { renderSysctlConf } from './sysctl-conf.js';

export interface HostConfigInput {
  readonly inventory: Inventory;
  readonly host: Host;
  /** The pairs involving this host (topology's pairsForHost). */
  readonly pairs: readonly HostPair[];
  /**
   * Certificate mode: file names (in /etc/swanctl/x509ca, or absolute paths) of every CA the
   * host trusts — several while a CA rolls over. Default: the file of the credentials layer's
   * DEFAULT_CA_LABEL (`ca1`).
   */
  readonly caCertFiles?: readonly string[];
  /** The off switch: false renders no mesh connection at all, bypass policies kept. Default true. */
  readonly enabled?: boolean;
  /**
   * The liveness monitor (docs/operations.md): its script and systemd units are rendered with
   * the other files unless this is false. Settings: metrics directory, run interval.
   */
  readonly monitor?: MonitorSettings | false;
}

export interface HostConfigDescription {
  /** Mesh connections (each has one CHILD_SA of the same name); empty when switched off. */
  readonly connections: readonly string[];
  /** CHILD_SA names of the mesh connections. */
  readonly children: readonly string[];
  /**
   * Children this host starts itself (pairs at `use` where it sorts first). A responder that
   * had not loaded its configuration yet answers NO_PROPOSAL_CHOSEN and the attempt is not
   * retried: once every host is loaded, the deploy re-initiates those not established.
   */
  readonly initiators: readonly string[];
  /** Shunt (pass policy) names: SSH, ICMP, ICMPv6/ND and the inventory's bypass rules. */
  readonly bypass: readonly string[];
  /** The connection holding the shunts. */
  readonly bypassConnection: string;
  /**
   * Per mesh connection: sha256 (hex) of the swanctl text that defines it (its section and the
   * templates it references), from the same strings renderHostConfig writes. Credentials are
   * not in it (the delivery folds them in): a push closes the IKE_SAs of connections whose
   * fingerprint changed, so a new proposal or credential reaches running pairs.
   */
  readonly connectionFingerprints: Readonly<Record<string, string>>;
}

interface HostPlan {
  readonly ctx: RenderContext;
  readonly connections: readonly MeshConnection[];
  readonly peerSites: Uint8Array;
  readonly bypass: readonly BypassShunt[];
  readonly enabled: boolean;
  /** compact `site-prefixes`: what remote_ts traps per family (the backstop holds the same). */
  readonly trappedPrefixes?: MeshPlan['trappedPrefixes'];
}

function plan(input: HostConfigInput): HostPlan {
  const ctx = renderContext(input.inventory);
  const enabled = input.enabled ?? true;
  // Switched off: nothing is planned from the pairs, so the switch works even when a pair's
  // settings could not be rendered (e.g. `use` reaching the compact layout).
  const mesh = enabled ? planMeshConnections(ctx, input.host, checkedPairs(ctx, input.host, input.pairs)) : undefined;
  return {
    ctx,
    connections: mesh?.connections ?? [],
    peerSites: mesh?.peerSites ?? new Uint8Array(ctx.sites.length),
    bypass: mesh?.outsideMesh === undefined ? planBypass(ctx, input.host) : [...planBypass(ctx, input.host), ...outsideMeshShunts(ctx.mesh.name, mesh.outsideMesh)],
    enabled,
    ...(mesh?.trappedPrefixes === undefined ? {} : { trappedPrefixes: mesh.trappedPrefixes }),
  };
}

function swanctlInput(input: HostConfigInput, p: HostPlan): SwanctlInput {
  const name = p.ctx.mesh.name;
  return {
    ctx: p.ctx,
    host: input.host,
    connections: p.connections,
    bypass: p.bypass,
    enabled: p.enabled,
    caCertFiles: input.caCertFiles ?? [caCertFileName(name, DEFAULT_CA_LABEL)],
    hostCertFile: hostCertFileName(name, input.host.name),
  };
}

/**
 * Every non-secret file of the host: swanctl connections + shunts, charon drop-in and its log's
 * rotation, sysctl,
 * then (unless `monitor: false`) the liveness monitor script and its service unit.
 */
export function renderHostConfig(input: HostConfigInput): RenderedFile[] {
  const p = plan(input);
  const ctx = p.ctx;
  const host = input.host;
  const paths = meshFilePaths(ctx.mesh, host);
  const families = hostFamilies(host);
  const mtu = planMtu(ctx, host, p.peerSites, families);
  const swanctl = renderSwanctlConf(swanctlInput(input, p));
  return [
    { path: paths.swanctlConf, content: swanctl, mode: 0o644, secret: false },
    {
      path: paths.charonConf,
      content: renderCharonConf({ installRoutes: ctx.mesh.mode !== 'transport', minLinkMtu: mtu.minLinkMtu }),
      mode: 0o644,
      secret: false,
    },
    {
      path: paths.sysctlConf,
      content: renderSysctlConf({
        meshName: ctx.mesh.name,
        hostName: host.name,
        families,
        xfrmGcThresh: ctx.mesh.xfrmGcThresh,
        espProposals: ctx.espProposals,
        mtu,
      }),
      mode: 0o644,
      secret: false,
    },
    { path: paths.logrotateConf, content: renderLogrotateConf(), mode: 0o644, secret: false },
    ...backstopFiles(input, p, paths, mtu),
    ...(input.monitor === false
      ? []
      : renderMonitorFiles({ inventory: input.inventory, host, pairs: input.pairs, enabled: p.enabled, ...(input.monitor ? { settings: input.monitor } : {}) })),
  ];
}

/**
 * The mesh's nftables table (`require` backstop, MSS clamp) and its boot unit, when the mesh is
 * on and the host has a `require` peer or a clamped link.
 */
function backstopFiles(input: HostConfigInput, p: HostPlan, paths: MeshFilePaths, mtu: MtuPlan): RenderedFile[] {
  if (!p.enabled) return [];
  const mssClamps = planMssClamp(p.ctx, input.host, input.pairs, mtu);
  const nft = renderBackstopNft({
    meshName: p.ctx.mesh.name,
    host: input.host,
    pairs: input.pairs,
    bypass: p.bypass,
    mssClamps,
    ...(p.trappedPrefixes === undefined ? {} : { requireSelectors: p.trappedPrefixes }),
  });
  if (nft === undefined) return [];
  return [
    { path: paths.backstopNft, content: nft, mode: 0o644, secret: false },
    { path: paths.backstopUnit, content: renderBackstopUnit(p.ctx.mesh.name, paths.backstopNft), mode: 0o644, secret: false },
  ];
}

/**
 * The names `swanctl --list-conns` / `--list-pols` must show for this host, and the
 * fingerprint of each mesh connection (its text is rendered and hashed on first use, not returned).
 */
export function describeHostConfig(input: HostConfigInput): HostConfigDescription {
  const p = plan(input);
  // Computed on first use (hashing ~1000 sections per host is most of the cost of a describe).
  let fingerprints: Readonly<Record<string, string>> | undefined;
  return {
    connections: p.connections.map((c) => c.name),
    children: p.connections.map((c) => c.name),
    initiators: p.connections.filter((c) => c.role === 'use-initiator').map((c) => c.name),
    bypass: p.bypass.map((s) => s.name),
    bypassConnection: bypassConnectionName(p.ctx.mesh.name),
    get connectionFingerprints(): Readonly<Record<string, string>> {
      return (fingerprints ??= connectionFingerprints(swanctlInput(input, p)));
    },
  };
}
