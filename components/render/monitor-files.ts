// The liveness monitor's files for one host: the script (with the host's expected mesh
// connections in it) and its systemd units. The monitor itself lives in the operations layer;
// this only derives what it must watch from the same pairs the swanctl file is rendered from.
import type { Host, Inventory } from '../inventory/model.js';
import type { LivenessTarget } from '../operations/liveness-check.js';
import { monitorPaths, monitorScript } from '../operations/monitor-script.js';
import { monitorUnits } from '../operations/monitor-units.js';
import { ROLLOUT_GATE_SCRIPT, rolloutGatePath } from '../operations/rollout-gate-script.js';
import { localAddress, remoteAddress, roams, type HostPair } from '../topology/host-pair.js';
import { checkedPairs, compactConnectionName, perPeerConnectionName } from './mesh-connections.js';
import { renderContext } from './render-context.js';
import type { RenderedFile } from './rendered-file.js';

/** Where the monitor writes metrics and how often it runs. */
export interface MonitorSettings {
  /** Prometheus textfile-collector directory; default Debian's /var/lib/prometheus/node-exporter. */
  readonly textfileDir?: string;
  /** Seconds between periodic runs (10–3600), default 30. */
  readonly intervalSeconds?: number;
}

export interface MonitorFilesInput {
  readonly inventory: Inventory;
  readonly host: Host;
  readonly pairs: readonly HostPair[];
  /** false: no mesh connection to watch (the off switch); the monitor still reports the kernel. */
  readonly enabled?: boolean;
  readonly settings?: MonitorSettings;
}

/** Every mesh connection the host should have, per peer and family, with its role. */
export function livenessTargets(input: MonitorFilesInput): LivenessTarget[] {
  if (input.enabled === false) return [];
  const ctx = renderContext(input.inventory);
  const mesh = ctx.mesh;
  const self = input.host.name;
  const out: LivenessTarget[] = [];
  for (const pair of checkedPairs(ctx, input.host, input.pairs)) {
    if (pair.enforcement === 'off') continue;
    const isA = pair.a === self;
    const peer = isA ? pair.b : pair.a;
    const role = pair.enforcement === 'require' ? 'require' : isA ? 'use-initiator' : 'use-responder';
    for (const ep of pair.families) {
      // A roaming pair is up only while the roaming host calls: nothing to expect or repair.
      if (roams(ep)) continue;
      out.push({
        connection: mesh.layout === 'compact' ? compactConnectionName(mesh.name, ep.family) : perPeerConnectionName(mesh.name, peer, ep.family),
        peer,
        family: ep.family,
        local: localAddress(ep, isA),
        remote: remoteAddress(ep, isA),
        enforcement: pair.enforcement,
        role,
      });
    }
  }
  return out;
}

/**
 * The monitor script and its service unit, both 0644: the script is run as
 * `/bin/sh <script>` (by the unit and the push), so nothing executable lands in /etc.
 */
export function renderMonitorFiles(input: MonitorFilesInput): RenderedFile[] {
  const mesh = input.inventory.mesh.name;
  const paths = monitorPaths(mesh);
  // Site prefixes: no file of the host names a peer, the monitor's neither (discoveredTargets).
  const discover = input.enabled !== false && input.inventory.mesh.layout === 'compact' && input.inventory.mesh.compactSelectors === 'site-prefixes';
  const script = monitorScript({
    mesh,
    host: input.host.name,
    targets: discover ? [] : livenessTargets(input),
    ...(discover
      ? {
          discover: {
            connections: (['ipv4', 'ipv6'] as const).filter((f) => input.host.addresses[f].length > 0).map((f) => compactConnectionName(mesh, f)),
            locals: [...input.host.addresses.ipv4, ...input.host.addresses.ipv6].map((a) => a.address),
          },
        }
      : {}),
    ...(input.settings?.textfileDir !== undefined ? { textfileDir: input.settings.textfileDir } : {}),
  });
  const units = monitorUnits({ mesh, ...(input.settings?.intervalSeconds !== undefined ? { intervalSeconds: input.settings.intervalSeconds } : {}) });
  return [
    { path: paths.script, content: script, mode: 0o644, secret: false },
    { path: paths.service, content: units.service, mode: 0o644, secret: false },
    // The rollout gate judges a wave by this monitor (docs/change-safety.md); idle otherwise.
    { path: rolloutGatePath(mesh), content: ROLLOUT_GATE_SCRIPT, mode: 0o644, secret: false },
  ];
}
