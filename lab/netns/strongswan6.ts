import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Upstream strongSwan 6.0.6 for the lab's `strongswan: '6'` hosts, built by
// scripts/build-strongswan6.sh into its own prefix in the build cache. Inside such a host's
// mount namespace the holder bind-mounts it into place (strongswan6Mounts), so the product
// and the lab find `swanctl`, /etc/swanctl, /etc/strongswan.d and /run/charon.vici where a
// distro-packaged strongSwan 6 keeps them.

export const STRONGSWAN6_VERSION = '6.0.6';
export const STRONGSWAN6_BUILD_SCRIPT = 'scripts/build-strongswan6.sh';

// lab/netns/strongswan6.ts, or dist/lab/netns/strongswan6.js: the repository root.
const PROJECT_DIR = resolve(fileURLToPath(import.meta.url), '..', '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));

/** Where the build keeps each part (all under its prefix). */
export const strongswan6Paths = (prefix: string) =>
  ({
    charon: join(prefix, 'libexec', 'ipsec', 'charon'),
    swanctl: join(prefix, 'sbin', 'swanctl'),
    /** charon and swanctl read PREFIX/etc/strongswan.conf, which includes strongswan.d/*.conf beside it. */
    strongswanConf: join(prefix, 'etc', 'strongswan.conf'),
    strongswanD: join(prefix, 'etc', 'strongswan.d'),
    swanctlDir: join(prefix, 'etc', 'swanctl'),
    /** piddir: charon.pid and the vici socket charon.vici (also swanctl's default URI). */
    runDir: join(prefix, 'var', 'run'),
  }) as const;

/** The prefix of the built strongSwan 6.0.6 (`build-strongswan6.sh --print-dir`), or undefined when it is not built. */
export function strongswan6Prefix(): string | undefined {
  const r = spawnSync('bash', [join(PROJECT_DIR, STRONGSWAN6_BUILD_SCRIPT), '--print-dir'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  return dir && existsSync(strongswan6Paths(dir).charon) && existsSync(strongswan6Paths(dir).swanctl) ? dir : undefined;
}

/**
 * Shell lines for a host's namespace holder (run after the private directories are mounted
 * over the machine's, before /run is): the 6.0.6 build takes the place of Debian's strongSwan
 * in this mount namespace only. `stateDirVar` is the shell expansion of the host's state dir.
 *   - its config dirs are the host's private ones: PREFIX/etc/swanctl ← /etc/swanctl,
 *     PREFIX/etc/strongswan.d ← /etc/strongswan.d (PREFIX/etc/strongswan.conf includes it);
 *   - its piddir is the host's private /run: /run/charon.vici and /run/charon.pid as with 5.9;
 *   - its swanctl and charon cover /usr/sbin/swanctl and /usr/lib/ipsec/charon.
 */
export function strongswan6Mounts(prefix: string, stateDirVar: string, paths: { swanctl: string; charon: string }): string[] {
  const p = strongswan6Paths(prefix);
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    `mount --bind /etc/swanctl ${q(p.swanctlDir)}`,
    `mount --bind /etc/strongswan.d ${q(p.strongswanD)}`,
    `mount --bind "${stateDirVar}/run" ${q(p.runDir)}`,
    `mount --bind ${q(p.swanctl)} ${paths.swanctl}`,
    `mount --bind ${q(p.charon)} ${paths.charon}`,
  ];
}
