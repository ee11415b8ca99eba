// The mesh: an inventory in, per-host credentials and configuration out, pushed over SSH.
//
// Children: one CertificateAuthority per CA label (certificate mode) or one RandomPassword
// master secret (PSK mode), and one MeshHost per inventory host. The class validates and
// wires; the rules live in mesh-options.ts, host-delivery-plan.ts and credentials/.
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { PSK_MASTER_LENGTH, PSK_MASTER_SPECIALS, pskMasterKeepers } from '../credentials/psk-master.js';
import { insecureHostKeyWarnings } from '../inventory/host-trust.js';
import { pairsForHost } from '../topology/host-pair-set.js';
import { CertificateAuthority } from './certificate-authority.js';
import type { HostSummary } from './host-summary.js';
import type { IpsecMeshArgs } from './mesh-args.js';
import { MeshHost, type HostCertificateArgs } from './mesh-host.js';
import { resolveMeshOptions } from './mesh-options.js';

export const IPSEC_MESH_TYPE = 'ipsec-mesh:index:IpsecMesh';

export class IpsecMesh extends pulumi.ComponentResource {
  readonly meshName: pulumi.Output<string>;
  /** Certificate mode: the issuing CA's certificate (what peers outside the mesh would trust). */
  readonly caCertificatePem: pulumi.Output<string | undefined>;
  /** Certificate mode: every trusted CA certificate by label (two during a rollover). */
  readonly caCertificates: pulumi.Output<Record<string, string>>;
  /** One summary per host, in inventory order. Never secret. */
  readonly hosts: pulumi.Output<HostSummary[]>;

  constructor(name: string, args: IpsecMeshArgs, opts?: pulumi.ComponentResourceOptions) {
    const o = resolveMeshOptions(args);
    const inventory = o.inventory;
    const mesh = inventory.mesh;
    // Component inputs are stored in state: plain, non-secret facts only (never args.ssh).
    super(
      IPSEC_MESH_TYPE,
      name,
      { meshName: mesh.name, auth: mesh.auth, hostCount: inventory.hosts.length, pairCount: o.pairs.pairs.length, enabled: o.enabled },
      opts,
    );
    for (const w of insecureHostKeyWarnings(inventory)) pulumi.log.warn(w, this);

    const cas = new Map<string, CertificateAuthority>();
    let certificate: HostCertificateArgs | undefined;
    let pskMaster: pulumi.Output<string> | undefined;
    if (o.certificates !== undefined) {
      const c = o.certificates;
      for (const label of c.ca.trusted) {
        // Named by label, not role: a CA keeps its resources from `next` through `previous`.
        cas.set(label, new CertificateAuthority(`${name}-ca-${label}`, { meshName: mesh.name, label, validityHours: c.caValidityHours }, { parent: this }));
      }
      const issuer = cas.get(c.ca.issuer)!;
      const trusted = c.ca.trusted.map((label) => ({ label, certificatePem: cas.get(label)!.certificatePem }));
      certificate = {
        generation: c.generation,
        validityHours: c.validityHours,
        issuerLabel: c.ca.issuer,
        issuerCertificatePem: issuer.certificatePem,
        issuerPrivateKeyPem: issuer.privateKeyPem,
        trusted,
      };
    } else if (o.psk !== undefined) {
      const master = new random.RandomPassword(
        `${name}-psk-master`,
        { length: PSK_MASTER_LENGTH, special: true, overrideSpecial: PSK_MASTER_SPECIALS, keepers: pskMasterKeepers(o.psk.generation) },
        { parent: this },
      );
      pskMaster = pulumi.secret(master.result);
    }

    const hosts = inventory.hosts.map(
      (h) =>
        new MeshHost(
          `${name}-${h.name}`,
          {
            inventory,
            hostName: h.name,
            pairs: [...pairsForHost(o.pairs, h.name)],
            enabled: o.enabled,
            ssh: args.ssh,
            installPackages: o.installPackages,
            ...(certificate ? { certificate } : {}),
            ...(pskMaster ? { pskMaster } : {}),
          },
          { parent: this },
        ),
    );

    this.meshName = pulumi.output(mesh.name);
    const issuerLabel = o.certificates?.ca.issuer;
    this.caCertificatePem = issuerLabel === undefined ? pulumi.output(undefined) : cas.get(issuerLabel)!.certificatePem;
    this.caCertificates = pulumi.all([...cas].map(([label, ca]) => ca.certificatePem.apply((pem) => [label, pem] as const))).apply((entries) =>
      Object.fromEntries(entries),
    );
    this.hosts = pulumi.all(hosts.map((h) => h.summary));
    this.registerOutputs({
      meshName: this.meshName,
      caCertificatePem: this.caCertificatePem,
      caCertificates: this.caCertificates,
      hosts: this.hosts,
    });
  }
}
