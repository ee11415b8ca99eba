// The consumer's own wiring: everything comes from the package's public entry point.
import * as pulumi from '@pulumi/pulumi';
import { IpsecMesh, type Inventory, type IpsecMeshArgs } from 'ipsec-mesh';

export function edgeMesh(inventory: Inventory, sshPrivateKey: pulumi.Input<string>, extra: Partial<IpsecMeshArgs> = {}): IpsecMesh {
  return new IpsecMesh('edge', { inventory, ssh: { privateKey: sshPrivateKey }, ...extra });
}
