import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { LabError } from './lab-errors.js';

// What is private to each lab host: these directories are bind-mounted, inside the host's
// own mount namespace, from its state directory. Everything else (binaries, /etc/passwd,
// /root, /tmp) is the machine's. `/run` is last: the state root itself usually lives
// under /run, and would be hidden once /run is covered.
export const PRIVATE_MOUNTS = ['/etc/swanctl', '/etc/strongswan.d', '/etc/ssh', '/etc/sysctl.d', '/etc/logrotate.d', '/var/log', '/run'] as const;

/** swanctl's credential and config folders, as Debian ships them (keys 0700). */
const SWANCTL_DIRS: Readonly<Record<string, number>> = {
  'conf.d': 0o755, x509: 0o755, x509ca: 0o755, x509aa: 0o755, x509ac: 0o755, x509crl: 0o755, x509ocsp: 0o755,
  pubkey: 0o755, pkcs12: 0o755, private: 0o700, rsa: 0o700, ecdsa: 0o700, pkcs8: 0o700, bliss: 0o700,
};

/** Inside a host: charon's log file, and the files its own stdout/stderr and sshd's go to. */
export const CHARON_LOG = '/var/log/charon.log';
export const CHARON_STDIO_LOG = '/var/log/charon.stdout.log';
export const SSHD_LOG = '/var/log/sshd.log';
export const CHARON_VICI = '/run/charon.vici';
export const SSHD_PID = '/run/sshd.pid';
export const SSHD_CONFIG = '/etc/ssh/sshd_config';
export const SSH_HOST_KEY = '/etc/ssh/ssh_host_ed25519_key';
export const AUTHORIZED_KEYS = '/etc/ssh/authorized_keys';
/** The lab's own charon drop-in (log file); tests may add theirs beside it. */
export const LAB_STRONGSWAN_DROPIN = '/etc/strongswan.d/imlab-lab.conf';

export const hostStateDir = (stateRoot: string, host: string): string => join(stateRoot, 'hosts', host);

/**
 * Maps a path as the host sees it to the file that backs it in the state directory.
 * Only paths under a private mount have one; anything else is the machine's own file.
 */
export function hostFilePath(stateRoot: string, host: string, pathOnHost: string): string {
  const p = posix.normalize(pathOnHost);
  if (!posix.isAbsolute(p)) throw new LabError(`host path must be absolute: ${pathOnHost}`);
  const mount = PRIVATE_MOUNTS.find((m) => p === m || p.startsWith(`${m}/`));
  if (!mount) {
    throw new LabError(`${pathOnHost} is not under a host-private directory (${PRIVATE_MOUNTS.join(', ')})`);
  }
  return join(hostStateDir(stateRoot, host), p);
}

export interface HostFilesOptions {
  /** The machine's strongSwan drop-ins to seed from (default /etc/strongswan.d). */
  readonly strongswanD?: string;
  /** sshd `AcceptEnv` patterns. */
  readonly acceptEnv?: readonly string[];
  /** Public key line allowed to log in as root. */
  readonly authorizedKey: string;
}

export const DEFAULT_ACCEPT_ENV = ['LANG', 'LC_*', 'IPSEC_MESH_*'] as const;

/** Creates the host's private directories and the lab's own config files in them. */
export function prepareHostFiles(stateRoot: string, host: string, opts: HostFilesOptions): void {
  const dir = hostStateDir(stateRoot, host);
  const at = (p: string): string => join(dir, p);
  for (const m of PRIVATE_MOUNTS) mkdirSync(at(m), { recursive: true, mode: 0o755 });

  for (const [sub, mode] of Object.entries(SWANCTL_DIRS)) {
    mkdirSync(at(`/etc/swanctl/${sub}`), { recursive: true, mode });
    chmodSync(at(`/etc/swanctl/${sub}`), mode); // mkdir's mode is filtered by the umask
  }
  writeFileSync(at('/etc/swanctl/swanctl.conf'), '# ipsec-mesh lab host: everything lives in conf.d\ninclude conf.d/*.conf\n');

  // The plugin list and their settings stay the machine's: copy, don't write our own.
  cpSync(opts.strongswanD ?? '/etc/strongswan.d', at('/etc/strongswan.d'), { recursive: true });
  writeFileSync(
    at(LAB_STRONGSWAN_DROPIN),
    [
      '# ipsec-mesh lab: charon logs to a file in the host\'s private /var/log. The stroke',
      '# plugin stays off: it would read the machine\'s own /etc/ipsec.secrets and /etc/ipsec.d',
      '# (not private to a lab host); swanctl talks vici.',
      'charon {',
      '    plugins {',
      '        stroke {',
      '            load = no',
      '        }',
      '    }',
      '    filelog {',
      '        lab {',
      `            path = ${CHARON_LOG}`,
      '            time_format = %b %e %T',
      '            ike_name = yes',
      '            append = yes',
      '            flush_line = yes',
      '            default = 1',
      '            ike = 2',
      '            cfg = 2',
      '        }',
      '    }',
      '}',
      '',
    ].join('\n'),
  );

  mkdirSync(at('/run/sshd'), { recursive: true, mode: 0o755 });
  writeFileSync(
    at(SSHD_CONFIG),
    [
      '# ipsec-mesh lab host sshd: key-only root login, keys and config private to this host.',
      'Port 22',
      `HostKey ${SSH_HOST_KEY}`,
      `PidFile ${SSHD_PID}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AuthorizedKeysFile ${AUTHORIZED_KEYS}`,
      'UsePAM no',
      `AcceptEnv ${(opts.acceptEnv ?? DEFAULT_ACCEPT_ENV).join(' ')}`,
      'PrintMotd no',
      'X11Forwarding no',
      'Subsystem sftp /usr/lib/openssh/sftp-server',
      '',
    ].join('\n'),
  );
  writeFileSync(at(AUTHORIZED_KEYS), `${opts.authorizedKey.trim()}\n`, { mode: 0o600 });
}

/** Writes a file at a host path (through its state directory), creating parent folders. */
export function writeHostFile(stateRoot: string, host: string, pathOnHost: string, content: string, mode = 0o644): void {
  const file = hostFilePath(stateRoot, host, pathOnHost);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content, { mode });
  chmodSync(file, mode);
}
