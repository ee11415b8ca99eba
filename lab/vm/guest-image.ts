// The kernel, initramfs and root filesystem the guests boot, built once into a cache outside
// the tree by scripts/build-guest-image.sh (see there and docs/vm-lab.md).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VmLabError } from './vm-errors.js';

/** The repository root, from the sources (lab/vm) or the build (dist/lab/vm). */
export const REPO_DIR = findRepoDir(dirname(fileURLToPath(import.meta.url)));
export const BUILD_SCRIPT = join(REPO_DIR, 'scripts', 'build-guest-image.sh');
/** Files copied into every guest's seed (boot script, inittab, sshd and charon drop-ins). */
export const GUEST_ROOTFS_FILES = join(REPO_DIR, 'lab', 'vm', 'guest', 'rootfs');

function findRepoDir(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'scripts', 'build-guest-image.sh'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '..', '..');
  }
}

export interface GuestImageManifest {
  readonly key: string;
  readonly kernelPackage: string;
  readonly kernelVersion: string;
  readonly kernelRelease: string;
  readonly busyboxVersion: string;
  readonly suite: string;
  readonly mirror: string;
  readonly modules: string;
  readonly rootfsPackages: string;
  readonly sizes: Readonly<Record<'vmlinux' | 'initrd' | 'rootfs' | 'rootfsUsed', number>>;
}

export interface GuestImage {
  readonly dir: string;
  /** Decompressed kernel (ELF, boots through its PVH entry point). */
  readonly kernel: string;
  readonly initrd: string;
  /** ext4, shared read-only by every guest (each writes into a qemu snapshot). */
  readonly rootfs: string;
  readonly manifest: GuestImageManifest;
}

function imageAt(dir: string): GuestImage {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as GuestImageManifest;
  return { dir, kernel: join(dir, 'vmlinux'), initrd: join(dir, 'initrd.img'), rootfs: join(dir, 'rootfs.ext4'), manifest };
}

export interface EnsureGuestImageOptions {
  /** Called with each progress line of the build. */
  readonly onProgress?: (line: string) => void;
  /** Only look: fail instead of building (e.g. a test that must not take minutes). */
  readonly buildIfMissing?: boolean;
}

/** The current guest image; builds what is missing first (needs root, reaches the Debian mirror). */
export async function ensureGuestImage(opts: EnsureGuestImageOptions = {}): Promise<GuestImage> {
  const args = opts.buildIfMissing === false ? ['--print-dir'] : [];
  const { code, stdout, stderr } = await runScript(args, opts.onProgress);
  const dir = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !dir || !existsSync(join(dir, 'manifest.json'))) {
    throw new VmLabError(
      opts.buildIfMissing === false
        ? `the guest image is not built: run scripts/build-guest-image.sh (as root)`
        : `scripts/build-guest-image.sh failed (exit ${code}):\n${stderr.trim().split('\n').slice(-20).join('\n')}`,
    );
  }
  return imageAt(dir);
}

function runScript(args: readonly string[], onLine?: (line: string) => void): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) onLine?.(l);
    });
    child.on('error', (e) => reject(new VmLabError(`cannot run ${BUILD_SCRIPT}: ${e.message}`)));
    child.on('close', (code) => {
      if (partial) onLine?.(partial);
      resolvePromise({ code: code ?? 1, stdout, stderr });
    });
  });
}
