// Inventory from YAML text or a YAML file, with line numbers in every issue.
import { readFile } from 'node:fs/promises';
import { InventoryError } from './inventory-error.js';
import type { Inventory } from './model.js';
import { buildInventory } from './parse-inventory.js';
import { parseYamlDocument } from './yaml-source.js';

/** Parses and validates YAML text; `file` names it in issues. Throws InventoryError. */
export function loadInventoryYaml(text: string, file: string): Inventory {
  const doc = parseYamlDocument(text, file);
  if (doc.value === undefined || doc.value === null) {
    throw new InventoryError(file, [{ file, path: '', line: 1, message: 'the inventory is empty' }]);
  }
  return buildInventory(doc.value, file, (path) => doc.lineOf(path));
}

/** Reads, parses and validates an inventory file. Throws InventoryError (also when unreadable). */
export async function loadInventoryFile(path: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? String(e)})`;
    throw new InventoryError(path, [{ file: path, path: '', message: why }]);
  }
  return loadInventoryYaml(text, path);
}
