// The consumer's own mock test: the package's components under this project's single copy
// of @pulumi/pulumi (a second copy would make the mocks miss the package's resources).
import { readFileSync } from 'node:fs';
import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import { IpsecMesh, loadInventoryYaml, parseInventory, type HostSummary } from 'ipsec-mesh';
import { edgeInventory } from '../edge-model.js';
import { edgeMesh } from '../mesh.js';

interface Registered {
  type: string;
  name: string;
  custom: boolean;
  inputs: Record<string, unknown>;
}

const registered: Registered[] = [];
await pulumi.runtime.setMocks(
  {
    newResource(args) {
      registered.push({ type: args.type, name: args.name, custom: args.custom ?? false, inputs: args.inputs as Record<string, unknown> });
      const state: Record<string, unknown> = { ...args.inputs };
      if (args.type === 'tls:index/privateKey:PrivateKey') state.privateKeyPem = 'ca-key';
      if (args.type === 'tls:index/selfSignedCert:SelfSignedCert') state.certPem = '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n';
      if (args.type === 'tls:index/locallySignedCert:LocallySignedCert') state.certPem = '-----BEGIN CERTIFICATE-----\nhost\n-----END CERTIFICATE-----\n';
      // The PPK master (post-quantum preshared keys are on by default): a mock secret long enough to derive from.
      if (args.type === 'random:index/randomPassword:RandomPassword') state.result = 'a mock PPK master secret, at least 32 bytes long';
      if (args.type === 'command:remote:Command') state.stdout = args.name.endsWith('-host-key') ? '-----BEGIN CERTIFICATE REQUEST-----\nx\n-----END CERTIFICATE REQUEST-----' : '';
      return { id: args.custom ? `${args.name}-id` : undefined, state };
    },
    call: () => ({}),
  },
  'consumer',
  'test',
);

const settle = (): Promise<void> => (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();

describe('edge mesh from the packed ipsec-mesh package', () => {
  it('builds one CA, the CRL command, the PPK master and four resources per host, and exports a summary per host', async () => {
    const inventory = loadInventoryYaml(readFileSync(new URL('../inventory.yaml', import.meta.url), 'utf8'), 'inventory.yaml');
    const mesh = edgeMesh(inventory, pulumi.secret('test-key'));
    expect(mesh).toBeInstanceOf(IpsecMesh);
    await settle();
    const custom = registered.filter((r) => r.custom);
    expect(custom.filter((r) => r.type === 'command:remote:Command')).toHaveLength(6);
    expect(custom.filter((r) => r.type === 'tls:index/locallySignedCert:LocallySignedCert')).toHaveLength(3);
    // The CA's CRL, and one review per host (what `pulumi preview --diff` shows of its push).
    expect(custom.filter((r) => r.type === 'command:local:Command')).toHaveLength(1 + 3);
    // The PPK master: every pair's post-quantum preshared key comes from it (on by default).
    expect(custom.filter((r) => r.type === 'random:index/randomPassword:RandomPassword').map((r) => r.name)).toEqual(['edge-ppk-master']);
    expect(custom).toHaveLength(4 + 4 * 3);
    const hosts = await new Promise<HostSummary[]>((resolve) => mesh.hosts.apply(resolve));
    expect(hosts.map((h) => `${h.name}:${h.peers}`)).toEqual(['web1:1', 'web2:1', 'db1:2']);
    expect(hosts.find((h) => h.name === 'db1')!.enforcement.use).toBe(2);
  });

  it('the typed model in code (edge-model.ts) is the same inventory as inventory.yaml and makes the same resources', async () => {
    const yaml = loadInventoryYaml(readFileSync(new URL('../inventory.yaml', import.meta.url), 'utf8'), 'inventory.yaml');
    const typed = parseInventory(edgeInventory(), 'edge-model.ts');
    expect({ ...typed, source: '' }).toEqual({ ...yaml, source: '' });
    // The same graph: every registration (type, name, inputs), named after each mesh.
    const graph = async (name: string, inventory: Parameters<typeof edgeMesh>[0]): Promise<string[]> => {
      const from = registered.length;
      edgeMesh(inventory, pulumi.secret('test-key'), {}, name);
      await settle();
      return registered.slice(from).map((r) => JSON.stringify({ ...r, name: r.name.replace(name, 'MESH') }).replaceAll(`"${name}`, '"MESH'));
    };
    const fromYaml = await graph('from-yaml', yaml);
    const fromCode = await graph('from-code', edgeInventory());
    expect(fromYaml.length).toBeGreaterThan(10);
    expect(fromCode).toEqual(fromYaml);
    // The model resources are among them: a Site per site, a HostPair per pair.
    expect(fromCode.filter((r) => r.includes('"ipsec-mesh:index:Site"'))).toHaveLength(2);
    expect(fromCode.filter((r) => r.includes('"ipsec-mesh:index:HostPair"'))).toHaveLength(2);
  });
});
