// A team's stack on the ipsec-mesh package, as an ES module.
//   pulumi config set inventory ./inventory.yaml          (default: the inventory beside this file)
//   pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519
import * as pulumi from '@pulumi/pulumi';
import { loadInventoryFile } from 'ipsec-mesh';
import { edgeMesh } from './mesh.js';

const config = new pulumi.Config();
const inventory = await loadInventoryFile(config.get('inventory') ?? new URL('../inventory.yaml', import.meta.url).pathname);
const mesh = edgeMesh(inventory, config.requireSecret('sshPrivateKey'), { enforcement: 'use' });

export const hosts = mesh.hosts;
export const caCertificatePem = mesh.caCertificatePem;
