// Every shell script the repository tracks passes shellcheck (warnings and errors).
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('shell scripts', () => {
  it('pass shellcheck -S warning', () => {
    const files = spawnSync('git', ['ls-files', '*.sh'], { cwd: root, encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    expect(files.length).toBeGreaterThan(0);
    const r = spawnSync('shellcheck', ['-S', 'warning', '-f', 'gcc', ...files], { cwd: root, encoding: 'utf8' });
    if (r.error) throw new Error(`shellcheck did not run (${r.error.message}): scripts/install-system-deps.sh installs it`);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
