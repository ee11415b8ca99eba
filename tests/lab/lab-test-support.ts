import { existsSync, readdirSync } from 'node:fs';
import { expect } from 'vitest';
import { ppkForPairs } from '../../components/credentials/ppk-derivation.js';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { encodePayload } from '../../components/delivery/index.js';
import type { Host, Inventory } from '../../components/inventory/model.js';
import { describeHostConfig, renderHostConfig, renderPpkSecrets, renderPskSecrets, type RenderedFile } from '../../components/render/index.js';
import type { HostPair } from '../../components/topology/host-pair.js';
import { computeHostPairs, pairsForHost } from '../../components/topology/index.js';
import { type LabSpec, type ProcessRecord, isLabNetns, isProcessRunning, labStateRoot, missingPrerequisites } from '../../lab/netns/index.js';

/**
 * Lab tests need root and the Debian packages: when they are missing the suite must FAIL
 * with a clear message (a skipped real-strongSwan test would read as a pass).
 */
export function requireLabPrerequisites(): void {
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    throw new Error(
      `lab tests cannot run on this machine:\n${missing.map((m) => `  - ${m}`).join('\n')}\n` +
        'run them as root after scripts/install-system-deps.sh',
    );
  }
}

/** Namespaces of lab `name` that exist now. */
export function labNamespaces(name: string): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => isLabNetns(name, n)) : [];
}

/** Asserts that lab `name` left nothing behind: no namespace, none of its processes, no state. */
export function expectNothingLeft(name: string, processes: readonly ProcessRecord[], stateRoot = labStateRoot(name)): void {
  expect(labNamespaces(name), 'lab namespaces left behind').toEqual([]);
  expect(processes.filter(isProcessRunning).map((p) => `${p.role} ${p.pid}`), 'lab processes still running').toEqual([]);
  expect(existsSync(stateRoot), 'lab state directory left behind').toBe(false);
}

/** The two dual-stack sites most lab tests use, joined by the lab router. */
export const TWO_SITES: LabSpec['sites'] = [
  { name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' },
  { name: 'west', ipv4: '203.0.113.0/26', ipv6: '2001:db8:f::/64' },
];

/** The lab most tests use: hosts a and b in site east, c in site west (behind the router), dual-stack. */
export function threeHostSpec(name: string): LabSpec {
  return {
    name,
    sites: TWO_SITES,
    hosts: [
      { name: 'a', site: 'east' },
      { name: 'b', site: 'east' },
      { name: 'c', site: 'west' },
    ],
  };
}

/**
 * The host's post-quantum preshared key file (quantumResistance is `required` by default), as
 * the stack derives it from its PPK master; empty when none of the host's pairs uses one. For
 * tests that assemble a host's files from the render layer themselves.
 */
export function labPpkFiles(inventory: Inventory, host: Host, pairs: readonly HostPair[], master: string): RenderedFile[] {
  const f = renderPpkSecrets({
    inventory,
    host,
    pairs,
    ppkFor: ppkForPairs(master, inventory.mesh.name),
  });
  return f === undefined ? [] : [f];
}

/**
 * The push payload of one host of a PSK mesh, as the stack would send it: every file the render
 * layer gives it (monitor included), its PSKs and PPKs from `master`, its connections.
 */
export function pskPushPayload(inventory: Inventory, hostName: string, master: string): string {
  const mesh = inventory.mesh.name;
  const host = inventory.hosts.find((x) => x.name === hostName)!;
  const pairs = pairsForHost(computeHostPairs(inventory), hostName);
  const desc = describeHostConfig({ inventory, host, pairs });
  return encodePayload({
    host: hostName,
    mesh,
    files: [...renderHostConfig({ inventory, host, pairs }), renderPskSecrets({ inventory, host, pairs, pskFor: (p) => derivePairPsk(master, mesh, p.a, p.b) }), ...labPpkFiles(inventory, host, pairs, master)],
    connections: [...desc.connections, desc.bypassConnection],
  });
}
