// The consumer's own wiring: everything comes from the package's public entry point.
import * as pulumi from '@pulumi/pulumi';
import { IpsecMesh, type Inventory, type InventoryInput, type IpsecMeshArgs } from 'ipsec-mesh';

export function edgeMesh(inventory: Inventory | InventoryInput, sshPrivateKey: pulumi.Input<string>, extra: Partial<IpsecMeshArgs> = {}, name = 'edge'): IpsecMesh {
  return new IpsecMesh(name, { inventory, ssh: { privateKey: sshPrivateKey }, ...extra });
}
