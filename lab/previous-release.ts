// An earlier commit's stack program, built beside this checkout: what an upgrade test runs
// first, so the stack it upgrades was really made by the old code (not a hand-made state).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_DIR } from './lab-pulumi.js';

export class PreviousReleaseError extends Error {
  override readonly name = 'PreviousReleaseError';
}

function run(argv: readonly string[], cwd: string, what: string): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) throw new PreviousReleaseError(`${what}: \`${argv.join(' ')}\` failed: ${(r.error?.message ?? `${r.stderr}${r.stdout}`).trim()}`);
  return r.stdout;
}

/**
 * Extracts `commit` of this repository into `dir` (git archive: no worktree bookkeeping),
 * links this checkout's node_modules (the dependency pins must not have changed since) and
 * compiles it. Returns `dir`, a Pulumi project with the same name as this one.
 */
export function buildPreviousRelease(commit: string, dir: string): string {
  const known = spawnSync('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: PROJECT_DIR });
  if (known.status !== 0) {
    throw new PreviousReleaseError(`commit ${commit} is not in this clone (a shallow clone?): the upgrade test needs the repository's history (git fetch --unshallow)`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tar = spawnSync('sh', ['-c', `git archive --format=tar ${commit} | tar -x -C "$1"`, 'sh', dir], { cwd: PROJECT_DIR, encoding: 'utf8' });
  if (tar.status !== 0) throw new PreviousReleaseError(`extracting ${commit}: ${tar.stderr.trim()}`);
  // Scripts may change; what the old release installed must not: every package it pinned is
  // installed here at the same version (a package added since is no matter: it never loads it).
  const changed = changedPackages(
    run(['git', 'show', `${commit}:package-lock.json`], PROJECT_DIR, 'reading its package-lock.json'),
    readFileSync(join(PROJECT_DIR, 'package-lock.json'), 'utf8'),
  );
  if (changed.length > 0) {
    throw new PreviousReleaseError(`the dependencies changed since ${commit} (${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ', …' : ''}): its node_modules would differ (install them for it)`);
  }
  symlinkSync(join(PROJECT_DIR, 'node_modules'), join(dir, 'node_modules'));
  run([process.execPath, join(PROJECT_DIR, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], dir, `building ${commit}`);
  if (!existsSync(join(dir, 'dist', 'stacks', 'index.js'))) throw new PreviousReleaseError(`building ${commit} wrote no dist/stacks/index.js`);
  return dir;
}

/** The lockfile entries of `then` (paths under node_modules) that `now` lacks or has otherwise. */
export function changedPackages(thenLock: string, nowLock: string): string[] {
  const packages = (text: string): Record<string, unknown> => (JSON.parse(text) as { packages?: Record<string, unknown> }).packages ?? {};
  const then = packages(thenLock);
  const now = packages(nowLock);
  return Object.keys(then).filter((k) => k !== '' && JSON.stringify(then[k]) !== JSON.stringify(now[k]));
}
