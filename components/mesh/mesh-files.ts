// The files each host of a mesh gets, from resolved options: one definition for what the
// MeshHost pushes and what `ipsec-mesh render` writes, so the two cannot disagree.
import { managedHosts } from '../inventory/managed-hosts.js';
import type { RenderedFile } from '../render/rendered-file.js';
import { pairsForHost } from '../topology/host-pair-set.js';
import { planHostDelivery, pskSecrets, type HostDeliveryInput } from './host-delivery-plan.js';
import type { MeshOptions } from './mesh-options.js';

/** What `planHostDelivery` takes for host `hostName` of the mesh `o` describes. */
export function hostDeliveryInput(o: MeshOptions, hostName: string): HostDeliveryInput {
  return {
    inventory: o.inventory,
    hostName,
    pairs: [...pairsForHost(o.pairs, hostName)],
    enabled: o.enabled,
    ...(o.certificates ? { certificate: { trustedCaLabels: o.certificates.ca.trusted, generation: o.certificates.generation } } : {}),
  };
}

export interface MeshHostFiles {
  readonly host: string;
  /** Every file the push writes that is known before `up`: credentials made during `up` are not. */
  readonly files: readonly RenderedFile[];
}

/**
 * Per host, in inventory order: the rendered configuration, plus the PSK secrets file when
 * the masters are given (PSK mode). Certificates and CRLs are made during `up`, so never here.
 */
export function* meshHostFiles(o: MeshOptions, psk?: { readonly master: string; readonly acceptMaster?: string }): Generator<MeshHostFiles> {
  // One host at a time: a 100-host per-peer mesh is megabytes of text.
  for (const h of managedHosts(o.inventory)) {
    const input = hostDeliveryInput(o, h.name);
    const plan = planHostDelivery(input);
    const files = psk === undefined ? plan.files : [...plan.files, pskSecrets(plan, o.inventory, input.pairs, psk.master, psk.acceptMaster)];
    yield { host: h.name, files };
  }
}
