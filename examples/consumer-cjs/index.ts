// A team's stack on the ipsec-mesh package, as CommonJS: tsc turns the import into
// require('ipsec-mesh'), which loads the package's ES module (Node >= 20.19 / 22.12).
//   pulumi config set inventory ./inventory.yaml
//   pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519
import { readFileSync } from 'node:fs';
import * as pulumi from '@pulumi/pulumi';
import { IpsecMesh, loadInventoryYaml } from 'ipsec-mesh';

const config = new pulumi.Config();
const inventoryPath = config.require('inventory');
const mesh = new IpsecMesh('edge', {
  inventory: loadInventoryYaml(readFileSync(inventoryPath, 'utf8'), inventoryPath),
  ssh: { privateKey: config.requireSecret('sshPrivateKey') },
  enforcement: 'use',
});

export const hosts = mesh.hosts;
export const caCertificatePem = mesh.caCertificatePem;
