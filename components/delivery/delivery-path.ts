// Which paths a delivery may write, and the names ipsec-mesh itself keeps on a host.
// Every path is checked here (TypeScript, before anything runs) and again by the scripts on
// the host, so a bad path can never reach `mv`/`rm` running as root.
import { DeliveryError } from './delivery-error.js';

/**
 * Directories a delivery may write below. Nothing else on the host is ever touched. In
 * /etc/systemd/system only `ipsec-mesh*.service` / `.timer` files directly in it (the liveness
 * monitor's units; never a drop-in directory that could change another unit), and the push
 * installs them only where systemd runs. /etc/logrotate.d: the rotation of the charon log the
 * mesh's drop-in writes.
 */
export const ALLOWED_ROOTS = ['/etc/swanctl', '/etc/strongswan.d', '/etc/sysctl.d', '/etc/systemd/system', '/etc/logrotate.d'] as const;
export const SYSTEMD_UNIT_DIR = '/etc/systemd/system';
const OWNED_UNIT = /^ipsec-mesh[A-Za-z0-9._-]*\.(?:service|timer)$/;
/**
 * Every file a delivery installs has a base name starting with this, after an optional
 * ordering prefix of 1–3 digits and a dash (`60-ipsec-mesh_prod.conf` in /etc/sysctl.d).
 */
export const OWNED_NAME_PREFIX = 'ipsec-mesh';
const OWNED_BASE = /^(?:[0-9]{1,3}-)?ipsec-mesh/;

/** Mesh and host names are DNS labels: they are baked into scripts and file names unquoted. */
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** One path component: no spaces, quotes, globs or shell metacharacters. */
const COMPONENT = /^[A-Za-z0-9._-]+$/;
/** Connection names: swanctl section names, as the renderer makes them. */
const CONNECTION = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function checkLabel(host: string, what: string, value: string): void {
  if (!LABEL.test(value)) {
    throw new DeliveryError(host, `${what} "${value}" is not a DNS label ([A-Za-z0-9-], at most 63 characters)`);
  }
}

export function checkConnectionName(host: string, name: string): void {
  if (!CONNECTION.test(name) || name.length > 255) {
    throw new DeliveryError(host, `connection name "${name}" must start with a letter or digit and contain only [A-Za-z0-9._-]`);
  }
}

/**
 * Accepts an absolute path below one of ALLOWED_ROOTS whose base name starts with
 * `ipsec-mesh` (or `NN-ipsec-mesh`), made of plain components (no `.`/`..`, no empty component, no shell
 * metacharacters). Throws a DeliveryError naming the host and the path otherwise.
 */
export function checkDeliveryPath(host: string, path: string): void {
  const fail = (why: string): never => {
    throw new DeliveryError(host, `refusing to deliver ${JSON.stringify(path)}: ${why}`, path);
  };
  if (!path.startsWith('/')) fail('not an absolute path');
  const root = ALLOWED_ROOTS.find((r) => path.startsWith(`${r}/`));
  if (root === undefined) fail(`not below ${ALLOWED_ROOTS.join(', ')}`);
  const parts = path.slice(1).split('/');
  for (const part of parts) {
    if (part === '' || part.startsWith('.')) fail('empty or hidden path component (".", ".." and dot-files are refused)');
    if (!COMPONENT.test(part)) fail('path components may only contain [A-Za-z0-9._-]');
  }
  const base = parts[parts.length - 1] ?? '';
  if (!OWNED_BASE.test(base)) fail(`file name must start with "${OWNED_NAME_PREFIX}" (after an optional "NN-" ordering prefix)`);
  if (root === SYSTEMD_UNIT_DIR && (parts.length !== 4 || !OWNED_UNIT.test(base))) {
    fail(`only ${OWNED_NAME_PREFIX}*.service and ${OWNED_NAME_PREFIX}*.timer directly in ${SYSTEMD_UNIT_DIR} may be delivered`);
  }
  if (path.length > 1024) fail('path longer than 1024 characters');
}

/**
 * Where the push script records what it installed for one mesh (owned paths, connection
 * names, instance count). Hidden, so it can never collide with a delivered file
 * (whose name must start with `ipsec-mesh`), and in /etc/swanctl, which every host has
 * and which is private per host in the lab.
 */
export function deliveryStatePath(mesh: string): string {
  return `/etc/swanctl/.ipsec-mesh-state.${mesh}`;
}

/**
 * The on-host private key of one host in certificate mode, per key generation. `_` separates
 * the parts as in the renderer's names (mesh and host names are DNS labels, without `_`).
 */
export function hostKeyPath(mesh: string, host: string, generation: number): string {
  checkLabel(host, 'mesh name', mesh);
  checkLabel(host, 'host name', host);
  if (!Number.isSafeInteger(generation) || generation < 0) {
    throw new DeliveryError(host, `key generation must be a whole number ≥ 0, got ${String(generation)}`);
  }
  return `/etc/swanctl/private/${OWNED_NAME_PREFIX}_${mesh}_${host}_g${generation}.key`;
}

/**
 * The CSR last printed for a host's key, kept so that re-running the key command (any change
 * to its inputs, e.g. a new SSH key) prints the same request and nothing is re-signed. In
 * /etc/swanctl itself, not beside the key: swanctl loads every file of private/ as a key.
 */
export function hostCsrPath(mesh: string, host: string): string {
  checkLabel(host, 'mesh name', mesh);
  checkLabel(host, 'host name', host);
  return `/etc/swanctl/${OWNED_NAME_PREFIX}_${mesh}_${host}.csr`;
}
