// One mesh CA: an ECDSA P-384 key and a self-signed CA certificate. A rollover keeps two
// of these side by side (see credentials/ca-rollover.ts); each is named by its label.
import * as pulumi from '@pulumi/pulumi';
import * as tls from '@pulumi/tls';
import {
  CA_ALLOWED_USES,
  CA_MAX_PATH_LENGTH,
  DEFAULT_CA_VALIDITY_HOURS,
  ECDSA_CURVE,
  KEY_ALGORITHM,
  caSubject,
  validateValidityHours,
} from '../credentials/certificate-profile.js';

export const CERTIFICATE_AUTHORITY_TYPE = 'ipsec-mesh:index:CertificateAuthority';

export interface CertificateAuthorityArgs {
  /** The mesh this CA signs for (used in the subject). */
  meshName: string;
  /** The CA's label, e.g. `ca1`; a rollover introduces a second label. */
  label: string;
  /** Validity of the CA certificate in hours. Default 87600 (ten years). */
  validityHours?: number;
}

export class CertificateAuthority extends pulumi.ComponentResource {
  readonly label: pulumi.Output<string>;
  /** The CA certificate (public). */
  readonly certificatePem: pulumi.Output<string>;
  /** The CA private key: a secret, only ever passed to LocallySignedCert. */
  readonly privateKeyPem: pulumi.Output<string>;

  constructor(name: string, args: CertificateAuthorityArgs, opts?: pulumi.ComponentResourceOptions) {
    const validityHours = validateValidityHours('caValidityHours', args.validityHours, DEFAULT_CA_VALIDITY_HOURS);
    // Only non-secret, plain facts go to super(): component inputs are stored in state.
    super(CERTIFICATE_AUTHORITY_TYPE, name, { meshName: args.meshName, label: args.label, validityHours }, opts);

    const key = new tls.PrivateKey(`${name}-key`, { algorithm: KEY_ALGORITHM, ecdsaCurve: ECDSA_CURVE }, { parent: this });
    // Secret whatever the provider declares, so no code path can handle it as plain text.
    this.privateKeyPem = pulumi.secret(key.privateKeyPem);
    const cert = new tls.SelfSignedCert(
      `${name}-cert`,
      {
        privateKeyPem: this.privateKeyPem,
        isCaCertificate: true,
        allowedUses: [...CA_ALLOWED_USES],
        maxPathLength: CA_MAX_PATH_LENGTH,
        setSubjectKeyId: true,
        subject: caSubject(args.meshName, args.label),
        validityPeriodHours: validityHours,
      },
      { parent: this },
    );
    this.label = pulumi.output(args.label);
    this.certificatePem = cert.certPem;
    this.registerOutputs({ label: this.label, certificatePem: this.certificatePem });
  }
}
