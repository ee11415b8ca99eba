// Public surface of the Pulumi components.
export { IpsecMesh, IPSEC_MESH_TYPE } from './ipsec-mesh.js';
export { MeshHost, MESH_HOST_TYPE, type HostCertificateArgs, type MeshHostArgs, type TrustedCaArgs } from './mesh-host.js';
export { CertificateAuthority, CERTIFICATE_AUTHORITY_TYPE, type CertificateAuthorityArgs } from './certificate-authority.js';
export type { IpsecMeshArgs, MeshInventory } from './mesh-args.js';
export type { SshArgs, HostConnection } from './ssh-connection.js';
export { hostConnection } from './ssh-connection.js';
export type { HostSummary, CertificateFacts } from './host-summary.js';
export { certificateFacts } from './host-summary.js';
export { MeshArgsError } from './mesh-error.js';
export { resolveMeshOptions, ARGS_INVENTORY_SOURCE, type MeshOptions } from './mesh-options.js';
export { applyEnforcementOverrides, parseEnforcement, type EnforcementOverrides, type PairEnforcementArgs } from './enforcement-overrides.js';
export { planHostDelivery, certificatePayload, pskPayload, type HostDeliveryInput, type HostDeliveryPlan } from './host-delivery-plan.js';
export { MeshSite, MeshHostPair, MeshSitePair, SITE_TYPE, HOST_PAIR_TYPE, SITE_PAIR_TYPE, type SitePrefixes, type PairFamily, type EnforcementCounts } from './model-resources.js';
export { planModelResources, sitePairKey, type ModelPlan, type SiteFacts, type HostPairFacts, type SitePairFacts, type PairSettings, type PairFamilyFacts } from './model-plan.js';
