// What one host receives, as plain data: the rendered (non-secret) files, the paths of the
// certificates, the connection names. The MeshHost component only adds the values that are
// Outputs (certificates, PSK master) and wires resources; everything checkable is here.
import { hostKeyPath } from '../delivery/delivery-path.js';
import { encodePayload } from '../delivery/delivery-payload.js';
import { reviewEntries } from '../delivery/delivery-review.js';
import type { Host, Inventory } from '../inventory/model.js';
import { caCertFileName, meshFilePaths } from '../render/file-paths.js';
import { describeHostConfig, renderHostConfig, type HostConfigDescription } from '../render/host-config.js';
import { renderPskSecrets } from '../render/psk-secrets.js';
import type { RenderedFile } from '../render/rendered-file.js';
import type { HostPair } from '../topology/host-pair.js';
import { pskForPairs } from '../credentials/psk-master.js';
import { ppkForPairs } from '../credentials/ppk-derivation.js';
import { renderPpkSecrets } from '../render/ppk-secrets.js';
import { perPeerConnectionName } from '../render/mesh-connections.js';
import { certificateFingerprint, foldFingerprints, pairPskFingerprint, pskFingerprint } from './connection-fingerprints.js';
import { MeshArgsError } from './mesh-error.js';

export interface HostDeliveryInput {
  readonly inventory: Inventory;
  readonly hostName: string;
  readonly pairs: readonly HostPair[];
  readonly enabled: boolean;
  /** Certificate mode: labels of every CA the host trusts, and the host-key generation. */
  readonly certificate?: { readonly trustedCaLabels: readonly string[]; readonly generation: number };
}

export interface HostDeliveryPlan {
  readonly host: Host;
  readonly meshName: string;
  /** Non-secret rendered files (swanctl.conf, charon drop-in, sysctl). */
  readonly files: readonly RenderedFile[];
  readonly description: HostConfigDescription;
  /** Certificate mode: where each trusted CA's certificate goes, by label. */
  readonly caCertPaths: ReadonlyMap<string, string>;
  readonly hostCertPath: string;
  readonly crlPath: string;
  /** Owned files made on the host that the push must keep (the host key of this generation). */
  readonly keep: readonly string[];
}

export function planHostDelivery(input: HostDeliveryInput): HostDeliveryPlan {
  const host = input.inventory.hosts.find((h) => h.name === input.hostName);
  if (host === undefined) throw new MeshArgsError('hostName', `no host "${input.hostName}" in the inventory`);
  const meshName = input.inventory.mesh.name;
  const labels = input.certificate?.trustedCaLabels ?? [];
  const config = {
    inventory: input.inventory,
    host,
    pairs: input.pairs,
    enabled: input.enabled,
    ...(input.certificate ? { caCertFiles: labels.map((l) => caCertFileName(meshName, l)) } : {}),
  };
  const paths = meshFilePaths(input.inventory.mesh, host);
  return {
    host,
    meshName,
    files: renderHostConfig(config),
    description: describeHostConfig(config),
    caCertPaths: new Map(labels.map((l) => [l, paths.caCert(l)])),
    hostCertPath: paths.hostCert,
    crlPath: paths.crl,
    keep: input.certificate ? [hostKeyPath(meshName, host.name, input.certificate.generation)] : [],
  };
}

/** The host's post-quantum preshared keys from the mesh's PPK master; undefined when no pair uses one. */
export function ppkSecrets(plan: HostDeliveryPlan, inventory: Inventory, pairs: readonly HostPair[], master: string): RenderedFile | undefined {
  return renderPpkSecrets({
    inventory,
    host: plan.host,
    pairs,
    ppkFor: ppkForPairs(master, plan.meshName),
  });
}

/** The PPK file as review shows it: each key as its fingerprint (not secret). */
export function ppkReviewFile(plan: HostDeliveryPlan, inventory: Inventory, pairs: readonly HostPair[], master: string): RenderedFile | undefined {
  const shown = renderPpkSecrets({
    inventory,
    host: plan.host,
    pairs,
    ppkFor: (p) => reviewedPsk(ppkForPairs(master, plan.meshName)(p)),
  });
  return shown === undefined ? undefined : { ...shown, secret: false };
}

/** Certificate mode: every file the push writes (public, but for the PPK file when there is one). */
function certificateFiles(plan: HostDeliveryPlan, caPems: ReadonlyMap<string, string>, hostCertPem: string, crlPem: string, ppk?: RenderedFile): RenderedFile[] {
  const files: RenderedFile[] = [...plan.files];
  if (ppk !== undefined) files.push(ppk);
  for (const [label, path] of plan.caCertPaths) {
    const pem = caPems.get(label);
    if (pem === undefined) throw new MeshArgsError('ca', `no certificate for CA "${label}" (host ${plan.host.name})`);
    files.push({ path, content: pem, mode: 0o644, secret: false });
  }
  files.push({ path: plan.hostCertPath, content: hostCertPem, mode: 0o644, secret: false });
  if (crlPem !== '') files.push({ path: plan.crlPath, content: crlPem, mode: 0o644, secret: false });
  return files;
}

/**
 * Certificate mode: the stdin of the push, once the certificates are known. Public data only.
 * `crlPem`: the mesh CA's revocation list while it lists any certificate ('' otherwise: no file).
 */
export function certificatePayload(plan: HostDeliveryPlan, caPems: ReadonlyMap<string, string>, hostCertPem: string, crlPem = '', ppk?: RenderedFile): string {
  const files = certificateFiles(plan, caPems, hostCertPem, crlPem, ppk);
  // Every connection authenticates with the host certificate and trusts the same CAs. The CRL
  // is not folded in: revoking or removing a host takes it out of every pair, which already
  // changes (and renews) exactly the connections it was part of; the others keep their SAs.
  const credentials = certificateFingerprint(hostCertPem, new Map([...plan.caCertPaths.keys()].map((l) => [l, caPems.get(l) ?? ''])));
  return encodePayload({
    host: plan.host.name,
    mesh: plan.meshName,
    files,
    keep: plan.keep,
    connections: plan.description.connections,
    fingerprints: foldFingerprints(plan.host.name, plan.description.connectionFingerprints, () => credentials),
  });
}

/** Certificate mode: what `pulumi preview --diff` shows of the push (delivery-review.ts). */
export function certificateReview(plan: HostDeliveryPlan, caPems: ReadonlyMap<string, string>, hostCertPem: string, crlPem = '', ppkReview?: RenderedFile): Record<string, string> {
  return reviewEntries(plan.host.name, certificateFiles(plan, caPems, hostCertPem, crlPem, ppkReview));
}

function pskSecretsFile(plan: HostDeliveryPlan, inventory: Inventory, pairs: readonly HostPair[], pskFor: (p: HostPair) => string, acceptFor?: (p: HostPair) => string): RenderedFile {
  return renderPskSecrets({ inventory, host: plan.host, pairs, pskFor, ...(acceptFor === undefined ? {} : { pskAcceptFor: acceptFor }) });
}

/** PSK mode: the secrets file with the pair keys of `master` (and the accepted `acceptMaster`). */
export function pskSecrets(plan: HostDeliveryPlan, inventory: Inventory, pairs: readonly HostPair[], master: string, acceptMaster?: string): RenderedFile {
  return pskSecretsFile(plan, inventory, pairs, pskForPairs(master, plan.meshName), acceptMaster === undefined ? undefined : pskForPairs(acceptMaster, plan.meshName));
}

/**
 * PSK mode: the stdin of the push, carrying the host's pair keys. The caller keeps it secret.
 * `acceptMaster`: a rotation's other generation, whose keys are accepted but never signed with.
 */
export function pskPayload(plan: HostDeliveryPlan, inventory: Inventory, pairs: readonly HostPair[], master: string, acceptMaster?: string, ppk?: RenderedFile): string {
  const pskFor = pskForPairs(master, plan.meshName);
  const secrets = pskSecrets(plan, inventory, pairs, master, acceptMaster);
  // Each per-peer connection authenticates with its pair's key: fold in a one-way HMAC of it
  // (never the key), so a PSK rotation renews exactly the SAs whose key changed. Only the key
  // signed with: adding or dropping an accepted generation renews nothing.
  const tokens = new Map<string, string>();
  for (const pair of pairs) {
    if (pair.enforcement === 'off') continue;
    const peer = pair.a === plan.host.name ? pair.b : pair.a;
    const token = pskFingerprint(pskFor(pair));
    for (const ep of pair.families) tokens.set(perPeerConnectionName(plan.meshName, peer, ep.family), token);
  }
  return encodePayload({
    host: plan.host.name,
    mesh: plan.meshName,
    files: [...plan.files, secrets, ...(ppk === undefined ? [] : [ppk])],
    keep: plan.keep,
    connections: plan.description.connections,
    fingerprints: foldFingerprints(plan.host.name, plan.description.connectionFingerprints, (c) => tokens.get(c)),
  });
}

/** How a key shows in review: the HostPair's public fingerprint of it, plainly not a key. */
export function reviewedPsk(psk: string): string {
  return `<key fingerprint hmac-sha256:${pairPskFingerprint(psk)}>`;
}

/**
 * PSK mode: what `pulumi preview --diff` shows of the push. The secrets file is rendered with
 * each key replaced by `reviewedPsk` of it, so a reviewer sees which pair's key changed and
 * nothing of any key. Not secret (no key reaches it); the caller unsecrets it on purpose.
 */
export function pskReview(plan: HostDeliveryPlan, inventory: Inventory, pairs: readonly HostPair[], master: string, acceptMaster?: string, ppkReview?: RenderedFile): Record<string, string> {
  const shown = (m: string) => {
    const pskFor = pskForPairs(m, plan.meshName);
    return (p: HostPair) => reviewedPsk(pskFor(p));
  };
  const secrets = pskSecretsFile(plan, inventory, pairs, shown(master), acceptMaster === undefined ? undefined : shown(acceptMaster));
  return reviewEntries(plan.host.name, [...plan.files, { ...secrets, secret: false }, ...(ppkReview === undefined ? [] : [ppkReview])]);
}
