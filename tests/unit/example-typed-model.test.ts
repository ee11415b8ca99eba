// The typed model in code (examples/consumer/edge-model.ts) against its YAML twin
// (examples/consumer/inventory.yaml): the same Inventory and the same resources, here on the
// repository's sources (the consumer's own test checks it again on the packed package).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { edgeInventory } from '../../examples/consumer/edge-model.js';
import { loadInventoryYaml } from '../../components/inventory/load-inventory.js';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import type { MeshInventory } from '../../components/mesh/mesh-args.js';
import { IpsecMesh } from '../../components/mesh/ipsec-mesh.js';
import { SSH_KEY_MARKER, startMocks } from './mesh-mocks.js';

const yamlText = readFileSync(new URL('../../examples/consumer/inventory.yaml', import.meta.url), 'utf8');

async function graph(inventory: MeshInventory): Promise<string[]> {
  const run = await startMocks();
  new IpsecMesh('edge', { inventory, ssh: { privateKey: SSH_KEY_MARKER } });
  await run.settle();
  return run.registrations.map((r) => JSON.stringify(r));
}

describe('typed model in code', () => {
  it('parses to the same Inventory as the YAML file', () => {
    const typed = parseInventory(edgeInventory(), 'edge-model.ts');
    const yaml = loadInventoryYaml(yamlText, 'inventory.yaml');
    expect({ ...typed, source: '' }).toEqual({ ...yaml, source: '' });
  });

  it('makes the same resources, with the same inputs, as the YAML file (Sites and HostPairs included)', async () => {
    const fromYaml = await graph(loadInventoryYaml(yamlText, 'inventory.yaml'));
    const fromCode = await graph(edgeInventory());
    expect(fromCode).toEqual(fromYaml);
    expect(fromCode.filter((r) => r.includes('"type":"ipsec-mesh:index:Site"'))).toHaveLength(2);
    expect(fromCode.filter((r) => r.includes('"type":"ipsec-mesh:index:HostPair"'))).toHaveLength(2);
    // And a different model in code would show: one host less, fewer resources.
    const smaller = { ...edgeInventory(), hosts: edgeInventory().hosts.slice(0, 2), sites: edgeInventory().sites.slice(0, 1), rules: [{ mesh: { sites: ['ams'] } }] };
    expect(await graph(smaller)).not.toEqual(fromYaml);
  });
});
