// Inventory checks plus the topology checks that need pair computation (a rule matching no
// pair, an empty mesh), reported in one list in the inventory's own terms (file + path).
import { InventoryError, type InventoryIssue } from '../inventory/inventory-error.js';
import { checkHostTrust } from '../inventory/host-trust.js';
import type { Inventory } from '../inventory/model.js';
import { analyseHostPairs } from '../topology/compute-host-pairs.js';
import type { HostPairSet } from '../topology/host-pair-set.js';
import type { TopologyIssue } from '../topology/topology-error.js';

function issuePath(issue: TopologyIssue): string {
  if (issue.ruleIndex !== undefined) return `rules[${issue.ruleIndex}]`;
  if (issue.overrideIndex !== undefined) return `mesh.pairOverrides[${issue.overrideIndex}]`;
  return issue.kind === 'empty-mesh' ? 'rules' : '';
}

/**
 * The host pairs of a parsed inventory; every topology problem, and every host whose SSH key
 * is not pinned (checkHostTrust), becomes an InventoryError issue.
 */
export function validateMesh(inventory: Inventory): HostPairSet {
  const { set, issues } = analyseHostPairs(inventory);
  const converted: InventoryIssue[] = [
    ...issues.map((issue) => ({ file: inventory.source, path: issuePath(issue), message: issue.message })),
    ...checkHostTrust(inventory),
  ];
  if (converted.length > 0) throw new InventoryError(inventory.source, converted);
  return set;
}
