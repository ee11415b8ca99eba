// Every shell script the repository tracks passes shellcheck (warnings and errors): `*.sh`
// files and the scripts without a suffix that say they are shell (the lab guests' tools, CI).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('shell scripts', () => {
  it('pass shellcheck -S warning', () => {
    const tracked = spawnSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    const files = tracked.filter((f) => f.endsWith('.sh') || isShellScript(f));
    expect(files.filter((f) => !f.endsWith('.sh'))).toEqual(expect.arrayContaining(['.ci/run', 'lab/vm/guest/initramfs/init', 'lab/vm/guest/rootfs/usr/local/sbin/imlab-boot']));
    const r = spawnSync('shellcheck', ['-S', 'warning', '-f', 'gcc', ...files], { cwd: root, encoding: 'utf8' });
    if (r.error) throw new Error(`shellcheck did not run (${r.error.message}): scripts/install-system-deps.sh installs it`);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

/** A tracked file without the .sh suffix whose first line runs a shell. */
function isShellScript(file: string): boolean {
  let head: string;
  try {
    head = readFileSync(resolve(root, file), 'utf8').slice(0, 40);
  } catch {
    return false; // deleted in the work tree, or a directory (submodule)
  }
  return /^#!(?:\/usr\/bin\/env |\/bin\/busybox )?(?:\/bin\/)?(?:ba|da)?sh\b/.test(head);
}
