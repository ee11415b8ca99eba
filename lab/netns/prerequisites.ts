import { accessSync, constants, existsSync } from 'node:fs';
import { LabPrerequisiteError } from './lab-errors.js';
import { STRONGSWAN6_BUILD_SCRIPT, STRONGSWAN6_VERSION, strongswan6Prefix } from './strongswan6.js';

// Everything the lab runs, by absolute path or on PATH, with the Debian package that has it.
export const LAB_BINARIES: readonly { readonly name: string; readonly pkg: string }[] = [
  { name: 'ip', pkg: 'iproute2' },
  { name: 'nsenter', pkg: 'util-linux' },
  { name: 'unshare', pkg: 'util-linux' },
  { name: 'mount', pkg: 'mount' },
  { name: 'sysctl', pkg: 'procps' },
  { name: '/usr/lib/ipsec/charon', pkg: 'strongswan-charon' },
  { name: 'swanctl', pkg: 'strongswan-swanctl' },
  { name: 'pki', pkg: 'strongswan-pki' },
  { name: '/usr/sbin/sshd', pkg: 'openssh-server' },
  { name: 'ssh', pkg: 'openssh-client' },
  { name: 'ssh-keygen', pkg: 'openssh-client' },
  { name: 'tcpdump', pkg: 'tcpdump' },
  { name: 'ping', pkg: 'iputils-ping' },
];

/** Needed only by a lab with a NAT site (LabSiteSpec.nat): the router's rules are nftables. */
export const LAB_NAT_BINARIES: readonly { readonly name: string; readonly pkg: string }[] = [{ name: 'nft', pkg: 'nftables' }];

/** Plugins the mesh's default proposals (aes256gcm16-prfsha384-ecp384) and libipsec need. */
const PLUGINS: readonly { readonly file: string; readonly pkg: string }[] = [
  { file: '/usr/lib/ipsec/plugins/libstrongswan-openssl.so', pkg: 'libstrongswan-standard-plugins' },
  { file: '/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so', pkg: 'libcharon-extra-plugins' },
];

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A spec, or enough of one to tell whether it needs NAT or strongSwan 6. */
export interface PrerequisiteSpec {
  readonly sites?: readonly { readonly nat?: unknown }[];
  readonly hosts?: readonly { readonly name?: unknown; readonly strongswan?: unknown }[];
}

/**
 * Every missing prerequisite, with the package that provides it (`nft` too when `spec` has a
 * NAT site, the strongSwan 6.0.6 build when it has a `strongswan: '6'` host).
 */
export function missingPrerequisites(spec?: PrerequisiteSpec): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root: the lab creates network and mount namespaces (run as root)');
  // Before validation: the spec may be anything here.
  const nat = Array.isArray(spec?.sites) && spec.sites.some((s) => typeof s === 'object' && s !== null && s.nat !== undefined);
  for (const b of [...LAB_BINARIES, ...(nat ? LAB_NAT_BINARIES : [])]) {
    const found = b.name.startsWith('/') ? executable(b.name) : SEARCH.some((d) => executable(`${d}/${b.name}`));
    if (!found) missing.push(`${b.name} (Debian package ${b.pkg})`);
  }
  for (const p of PLUGINS) if (!existsSync(p.file)) missing.push(`${p.file} (Debian package ${p.pkg})`);
  const six = Array.isArray(spec?.hosts)
    ? spec.hosts.filter((h) => typeof h === 'object' && h !== null && h.strongswan === '6').map((h) => String(h.name))
    : [];
  if (six.length > 0 && strongswan6Prefix() === undefined) {
    missing.push(
      `strongSwan ${STRONGSWAN6_VERSION} for the strongswan: '6' host(s) ${six.join(', ')}: not built, run ${STRONGSWAN6_BUILD_SCRIPT} ` +
        '(scripts/prepare.sh does)',
    );
  }
  if (!existsSync('/etc/strongswan.d')) missing.push('/etc/strongswan.d (Debian package strongswan-charon)');
  if (!existsSync('/proc/sys/net/core/xfrm_acq_expires')) missing.push('kernel XFRM support (CONFIG_XFRM)');
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun (kernel TUN support, for the kernel-libipsec backend)');
  return missing;
}

/** Throws LabPrerequisiteError naming everything that is missing. */
export function assertPrerequisites(spec?: PrerequisiteSpec): void {
  const missing = missingPrerequisites(spec);
  if (missing.length > 0) throw new LabPrerequisiteError(missing);
}
