// SSH trust and reach: every host ipsec-mesh pushes root-level config to (and every jump host
// on the way) must present the key the inventory pins, and the sources mesh.sshFrom declares
// must still reach it once IPsec is required. The one check every path that opens SSH uses
// (`pulumi up` through IpsecMesh, `ipsec-mesh validate|render|status`), so they agree.
import ipaddr from 'ipaddr.js';
import type { InventoryIssue } from './inventory-error.js';
import { isManaged } from './managed-hosts.js';
import type { Inventory } from './model.js';

const SCAN_HINT = '`ipsec-mesh hostkeys scan INVENTORY` prints the keys the hosts present, to check and paste';

/** Every host or jump host without a pinned key whose host has not opted out explicitly. */
export function checkHostTrust(inventory: Inventory): InventoryIssue[] {
  const issues: InventoryIssue[] = [];
  inventory.hosts.forEach((h, i) => {
    if (h.ssh.insecureAcceptAnyHostKey || !isManaged(h)) return;
    if (h.ssh.hostKey === undefined) {
      issues.push({
        file: inventory.source,
        path: `hosts[${i}].ssh.hostKey`,
        message: `host "${h.name}" has no pinned SSH host key: without one, anyone answering at ${h.ssh.host}:${h.ssh.port} would get root-level config. Pin it (${SCAN_HINT}), or set ssh.insecureAcceptAnyHostKey: true to accept any key (warned on every run)`,
      });
    }
    const jump = h.ssh.jumpHost;
    if (jump !== undefined && jump.hostKey === undefined) {
      issues.push({
        file: inventory.source,
        path: `hosts[${i}].ssh.jumpHost.hostKey`,
        message: `host "${h.name}": jump host ${jump.host}:${jump.port} has no pinned SSH host key (${SCAN_HINT}), or set ssh.insecureAcceptAnyHostKey: true on the host`,
      });
    }
  });
  return [...issues, ...checkOperatorReach(inventory)];
}

/**
 * With mesh.sshFrom declared, only those sources (and jump hosts given by address) reach sshd
 * outside IPsec: a host the operator reaches in a family sshFrom does not cover, or through a
 * jump host known only by name, would lock the operator out once IPsec is required.
 */
function checkOperatorReach(inventory: Inventory): InventoryIssue[] {
  const from = inventory.mesh.sshFrom;
  if (from === undefined) return [];
  const issues: InventoryIssue[] = [];
  const families = new Set(from.map((c) => (c.includes(':') ? 'ipv6' : 'ipv4')));
  inventory.hosts.forEach((h, i) => {
    if (!isManaged(h)) return;
    const jump = h.ssh.jumpHost;
    if (jump !== undefined) {
      if (!ipaddr.isValid(jump.host)) {
        issues.push({
          file: inventory.source,
          path: `hosts[${i}].ssh.jumpHost.host`,
          message: `host "${h.name}": its jump host "${jump.host}" is a name, and mesh.sshFrom is declared: give the jump host by address (its SSH bypass needs one) or add its address to mesh.sshFrom, or the operator is locked out of "${h.name}" once IPsec is required`,
        });
      }
      return;
    }
    if (!ipaddr.isValid(h.ssh.host)) return; // a name: its family is not known here
    const family = ipaddr.parse(h.ssh.host).kind() === 'ipv6' ? 'ipv6' : 'ipv4';
    if (!families.has(family)) {
      issues.push({
        file: inventory.source,
        path: 'mesh.sshFrom',
        message: `host "${h.name}" is reached over ${family === 'ipv6' ? 'IPv6' : 'IPv4'} (ssh ${h.ssh.host}) but mesh.sshFrom lists no ${family === 'ipv6' ? 'IPv6' : 'IPv4'} source: the operator would be locked out of it once IPsec is required`,
      });
    }
  });
  return issues;
}

/** One warning per host that accepts any SSH host key, its own or its jump host's (printed on every run). */
export function insecureHostKeyWarnings(inventory: Inventory): string[] {
  return inventory.hosts
    .filter((h) => h.ssh.insecureAcceptAnyHostKey && (h.ssh.hostKey === undefined || (h.ssh.jumpHost !== undefined && h.ssh.jumpHost.hostKey === undefined)))
    .map(
      (h) =>
        `${inventory.source}: host "${h.name}": ssh.insecureAcceptAnyHostKey is true: ANY key presented at ${h.ssh.host}:${h.ssh.port}${h.ssh.jumpHost ? ` (and at jump host ${h.ssh.jumpHost.host})` : ''} is accepted, so whoever answers there gets root-level config. Pin the host key.`,
    );
}
