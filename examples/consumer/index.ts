// pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519
import * as pulumi from '@pulumi/pulumi';
import { loadInventoryFile } from 'ipsec-mesh';
import { edgeMesh } from './mesh.js';

const config = new pulumi.Config();
const inventory = await loadInventoryFile(new URL('../inventory.yaml', import.meta.url).pathname);
const mesh = edgeMesh(inventory, config.requireSecret('sshPrivateKey'), { enforcement: 'use' });

export const hosts = mesh.hosts;
export const caCertificatePem = mesh.caCertificatePem;
