// The issues an inventory is refused with, as "path: message" lines ([] when it parses).
import { InventoryError, parseInventory } from '../../components/inventory/index.js';

export function inventoryIssues(input: unknown): string[] {
  try {
    parseInventory(input, 'inv.yaml');
  } catch (e) {
    if (e instanceof InventoryError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}
