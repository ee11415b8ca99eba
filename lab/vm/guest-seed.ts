// A guest's seed: a plain tar on a second virtio disk that the initramfs unpacks over the
// root filesystem before init starts (lab/vm/guest/initramfs/init). It carries what makes
// a guest itself — name, addresses, its sshd host key, the lab's SSH key — plus the lab's
// boot scripts (lab/vm/guest/rootfs), so editing those needs no image rebuild.
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runOk } from '../netns/run-command.js';
import type { ResolvedHost, ResolvedSite } from '../netns/lab-spec.js';
import { GUEST_ROOTFS_FILES } from './guest-image.js';

/** The guest's only NIC (virtio-net; no udev in the guest, so the kernel's name stays). */
export const GUEST_IF = 'eth0';

export interface SeedFile {
  /** Absolute path inside the guest. */
  readonly path: string;
  readonly mode: number;
  readonly content: string;
}

export interface GuestSeedInput {
  readonly lab: string;
  readonly host: ResolvedHost;
  readonly site: ResolvedSite;
  /** OpenSSH private key (ed25519) and its public line: the guest's sshd host key. */
  readonly hostKey: { readonly privateKey: string; readonly publicKey: string };
  /** Public key line allowed to log in as root. */
  readonly authorizedKey: string;
}

/** `ip -batch` lines for the guest's addresses and default routes (via the lab router). */
export function guestIpBatch(host: ResolvedHost, site: ResolvedSite): string[] {
  const lines = ['link set lo up'];
  for (const a of host.ipv4) lines.push(`addr add ${a}/${site.ipv4!.prefixLength} dev ${GUEST_IF}`);
  for (const a of host.ipv6) lines.push(`addr add ${a}/${site.ipv6!.prefixLength} dev ${GUEST_IF} nodad`);
  lines.push(`link set ${GUEST_IF} up`);
  if (host.ipv4.length && site.ipv4) lines.push(`route add 0.0.0.0/0 via ${site.ipv4.gateway} dev ${GUEST_IF} onlink`);
  if (host.ipv6.length && site.ipv6) lines.push(`route add ::/0 via ${site.ipv6.gateway} dev ${GUEST_IF} onlink`);
  return lines;
}

/** The guest-specific files of a seed (the static boot files are added by writeGuestSeed). */
export function guestSeedFiles(input: GuestSeedInput): SeedFile[] {
  const { host } = input;
  const addresses = [...host.ipv4, ...host.ipv6];
  return [
    { path: '/etc/hostname', mode: 0o644, content: `${host.name}\n` },
    {
      path: '/etc/hosts',
      mode: 0o644,
      content: ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', ...addresses.map((a) => `${a}\t${host.name}`), ''].join('\n'),
    },
    { path: '/etc/imlab/ip.batch', mode: 0o644, content: `${guestIpBatch(host, input.site).join('\n')}\n` },
    { path: '/etc/imlab/lab', mode: 0o644, content: `lab=${input.lab}\nhost=${host.name}\nsite=${host.site}\n` },
    { path: '/etc/ssh/ssh_host_ed25519_key', mode: 0o600, content: input.hostKey.privateKey },
    { path: '/etc/ssh/ssh_host_ed25519_key.pub', mode: 0o644, content: `${input.hostKey.publicKey.trim()}\n` },
    { path: '/root/.ssh/authorized_keys', mode: 0o600, content: `${input.authorizedKey.trim()}\n` },
  ];
}

/**
 * Writes the seed tar to `tarFile`: the lab's static guest files, then `files` over them.
 * Everything is owned by root; directories get Debian's usual modes (/root 0700).
 */
export async function writeGuestSeed(tarFile: string, files: readonly SeedFile[], staticRoot = GUEST_ROOTFS_FILES): Promise<void> {
  const stage = `${tarFile}.d`;
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { mode: 0o755 });
  cpSync(staticRoot, stage, { recursive: true });
  // Executable whatever the checkout did with file modes (core.fileMode, a umask).
  for (const dir of ['usr/local/bin', 'usr/local/sbin']) {
    const at = join(stage, dir);
    if (existsSync(at)) for (const f of readdirSync(at)) chmodSync(join(at, f), 0o755);
  }
  for (const f of files) {
    const at = join(stage, f.path);
    mkdirSync(dirname(at), { recursive: true, mode: 0o755 });
    writeFileSync(at, f.content, { mode: f.mode });
    chmodSync(at, f.mode); // the umask filters writeFileSync's mode
  }
  chmodSync(stage, 0o755);
  if (files.some((f) => f.path.startsWith('/root/'))) chmodSync(join(stage, 'root'), 0o700);
  if (files.some((f) => f.path.startsWith('/root/.ssh/'))) chmodSync(join(stage, 'root', '.ssh'), 0o700);
  await runOk(['tar', '--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-cf', tarFile, '-C', stage, '.'], {
    context: `writing the seed ${tarFile}`,
  });
  rmSync(stage, { recursive: true, force: true });
}
