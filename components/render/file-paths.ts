// Where every ipsec-mesh file lives on a host. All names start with `ipsec-mesh`, so they can
// never be an operator's own strongSwan file, and `_` separates the parts: mesh and host names
// are DNS labels (no `_`), so `ipsec-mesh_a-b_c` and `ipsec-mesh_a_b-c` cannot collide.
import type { Host, MeshSettings } from '../inventory/model.js';
import { RenderError } from './render-error.js';

/** Absolute host paths of one mesh's files on one host. */
export interface MeshFilePaths {
  /** swanctl connections + bypass shunts; Debian's swanctl.conf includes `conf.d/*.conf`. */
  readonly swanctlConf: string;
  /** PSK `secrets` section (mode 0600), beside the connections so `--load-all` reads both. */
  readonly pskSecrets: string;
  /** Post-quantum preshared keys (0600), when a pair uses them. */
  readonly ppkSecrets: string;
  /** Trusted CA certificate for one CA label (several coexist during a CA rollover). */
  caCert(label: string): string;
  /** Glob of every CA certificate of this mesh (for cleanup of retired CAs). */
  readonly caCertGlob: string;
  /** The host's certificate (PEM). */
  readonly hostCert: string;
  /** The mesh CA's revocation list (PEM), where charon loads CRLs from; only while one is revoked. */
  readonly crl: string;
  /** The host's private key, PKCS#8 PEM, mode 0600. */
  readonly hostKey: string;
  /**
   * Host-wide charon settings. Not per mesh: strongswan.conf has one `charon` section per
   * daemon. Top level of `strongswan.d/` (Debian includes `strongswan.d/*.conf` at the top;
   * files in `strongswan.d/charon/` land inside `charon.plugins`).
   */
  readonly charonConf: string;
  /** The file log the charon drop-in configures. */
  readonly charonLog: string;
  /** Its rotation (host-wide, like the drop-in). */
  readonly logrotateConf: string;
  /** Kernel settings (xfrm GC thresholds, PMTU probing). */
  readonly sysctlConf: string;
  /** The `require` backstop: an `nft -f` script (backstop-nft.ts). */
  readonly backstopNft: string;
  /** The systemd unit that loads it at boot, before the network and strongSwan. */
  readonly backstopUnit: string;
}

export const SWANCTL_DIR = '/etc/swanctl';
export const CHARON_CONF_PATH = '/etc/strongswan.d/ipsec-mesh.conf';
export const CHARON_LOG_PATH = '/var/log/ipsec-mesh-charon.log';
export const LOGROTATE_CONF_PATH = '/etc/logrotate.d/ipsec-mesh';

// A DNS label: what mesh, host and CA-label names must be to appear in file and section names.
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Throws unless `name` is a DNS label (letters, digits, inner `-`; at most 63 characters). */
export function assertLabel(name: string, what: string, context: { mesh?: string; host?: string }): void {
  if (!LABEL.test(name)) {
    throw new RenderError(`${what} "${name}" is not a DNS label (letters, digits and inner '-', at most 63 characters)`, {
      code: 'bad-name',
      ...context,
    });
  }
}

/** File name (in `/etc/swanctl/x509ca/`) of the CA certificate with this label, as `cacerts` lists it. */
export function caCertFileName(meshName: string, label: string): string {
  assertLabel(meshName, 'mesh name', { mesh: meshName });
  assertLabel(label, 'CA label', { mesh: meshName });
  return `ipsec-mesh_${meshName}_ca_${label}.pem`;
}

/** File name (in `/etc/swanctl/x509/`) of a host's certificate, as `certs` lists it. */
export function hostCertFileName(meshName: string, hostName: string): string {
  return `ipsec-mesh_${meshName}_${hostName}.pem`;
}

export function meshFilePaths(mesh: MeshSettings, host: Host): MeshFilePaths {
  assertLabel(mesh.name, 'mesh name', { mesh: mesh.name });
  assertLabel(host.name, 'host name', { mesh: mesh.name, host: host.name });
  const base = `ipsec-mesh_${mesh.name}`;
  return {
    swanctlConf: `${SWANCTL_DIR}/conf.d/${base}.conf`,
    pskSecrets: `${SWANCTL_DIR}/conf.d/${base}_secrets.conf`,
    ppkSecrets: `${SWANCTL_DIR}/conf.d/${base}_ppk.conf`,
    caCert: (label: string) => `${SWANCTL_DIR}/x509ca/${caCertFileName(mesh.name, label)}`,
    caCertGlob: `${SWANCTL_DIR}/x509ca/${base}_ca_*.pem`,
    hostCert: `${SWANCTL_DIR}/x509/${hostCertFileName(mesh.name, host.name)}`,
    crl: `${SWANCTL_DIR}/x509crl/${base}.crl`,
    hostKey: `${SWANCTL_DIR}/private/${base}_${host.name}.key`,
    charonConf: CHARON_CONF_PATH,
    charonLog: CHARON_LOG_PATH,
    logrotateConf: LOGROTATE_CONF_PATH,
    sysctlConf: `/etc/sysctl.d/60-${base}.conf`,
    backstopNft: `${SWANCTL_DIR}/${base}_backstop.nft`,
    backstopUnit: `/etc/systemd/system/${base}_backstop.service`,
  };
}
