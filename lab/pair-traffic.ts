// Traffic that makes trap policies negotiate: under `require` (trap connections) nothing
// starts IKE until a packet matches a policy. One UDP datagram per target address is enough.
import type { Inventory } from '../components/inventory/model.js';
import { pairsForHost, type HostPairSet } from '../components/topology/index.js';
import type { Lab } from './netns/index.js';

/** Every address of `host`'s peers (one per pair and family), as `host` reaches them. */
export function peerAddresses(pairs: HostPairSet, host: string): string[] {
  return pairsForHost(pairs, host).flatMap((p) => p.families.map((f) => (p.a === host ? f.b : f.a)));
}

/** One UDP datagram from `host` to each of `targets` (port 9, discard: no listener needed). */
export async function sendDatagrams(lab: Pick<Lab, 'exec'>, host: string, targets: readonly string[]): Promise<void> {
  if (targets.length === 0) return;
  // bash's /dev/udp: no extra tool on the hosts. A send refused by a policy is not an error here.
  const script = targets.map((t) => `echo ipsec-mesh-lab >/dev/udp/${t}/9 2>/dev/null || true`).join('; ');
  await lab.exec(host, ['bash', '-c', script]);
}

/** From every inventory host to every peer address: IKE starts for each pair and family. */
export async function sendPairTraffic(lab: Pick<Lab, 'exec'>, inventory: Inventory, pairs: HostPairSet): Promise<void> {
  await Promise.all(inventory.hosts.map((host) => sendDatagrams(lab, host.name, peerAddresses(pairs, host.name))));
}
