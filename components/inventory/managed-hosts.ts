// The hosts ipsec-mesh logs in to: every host but the unmanaged ones (`managed: false`), which
// have no SSH access and are configured by hand from their peer sheet.
import type { Host, Inventory } from './model.js';

export function isManaged(host: Host): boolean {
  return host.unmanaged !== true;
}

/** The hosts reached over SSH, in inventory order. */
export function managedHosts(inventory: Inventory): Host[] {
  return inventory.hosts.filter(isManaged);
}
