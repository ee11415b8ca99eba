// The mesh CA's revocation list as a resource: the local command that signs it (what and why:
// credentials/certificate-revocation.ts) and the CRL every host's push carries.
import * as command from '@pulumi/command';
import * as pulumi from '@pulumi/pulumi';
import { CRL_DAYS, SIGN_CRL_SCRIPT, certificateSerialAndKey, hostSerialList, parseCrlOutput } from '../credentials/certificate-revocation.js';
import type { Inventory } from '../inventory/model.js';

export interface RevocationListArgs {
  readonly inventory: Inventory;
  /** Every host's name and certificate (undefined while there is none). */
  readonly hostCertificates: readonly pulumi.Output<[string, string | undefined]>[];
  readonly issuerCertificatePem: pulumi.Input<string>;
  readonly issuerPrivateKeyPem: pulumi.Input<string>;
}

/** The CRL in PEM while it lists any certificate, else ''. */
export function revocationList(name: string, args: RevocationListArgs, opts: pulumi.CustomResourceOptions): pulumi.Output<string> {
  const serials = pulumi
    .all([...args.hostCertificates])
    .apply((list) => hostSerialList(list.filter((e): e is [string, string] => e[1] !== undefined).map(([n, pem]) => [n, certificateSerialAndKey(pem)] as const)));
  const crl = new command.local.Command(
    name,
    {
      create: 'sh -c "$IPSEC_MESH_SIGN_CRL"',
      environment: {
        IPSEC_MESH_SIGN_CRL: SIGN_CRL_SCRIPT,
        IPSEC_MESH_HOSTS: serials,
        IPSEC_MESH_REVOKED_HOSTS: args.inventory.hosts.filter((h) => h.revoked === true).map((h) => h.name).join(' '),
        IPSEC_MESH_CA_CERT: args.issuerCertificatePem,
        IPSEC_MESH_CRL_DAYS: String(CRL_DAYS),
      },
      stdin: pulumi.secret(args.issuerPrivateKeyPem),
      logging: 'stderr',
    },
    opts,
  );
  return crl.stdout.apply((out) => {
    const parsed = parseCrlOutput(out ?? '');
    return parsed.revoked.length > 0 ? parsed.crlPem : '';
  });
}
