// Inventories for the mesh/credentials tests, in the object form users write (parsed by the
// real inventory layer, so these tests exercise the same path as a stack).
import type { InventoryInput } from '../../components/inventory/inventory-input.js';

export interface MeshFixtureOptions {
  readonly name?: string;
  readonly auth?: 'certificate' | 'psk';
  readonly enforcement?: 'off' | 'use' | 'require';
  readonly layout?: 'per-peer' | 'compact';
  /** Hosts per site (two sites, `ams` and `fra`). */
  readonly perSite?: number;
  /** Give every host an IPv6 address too. */
  readonly dualStack?: boolean;
  /** Host key pinning and a jump host on the first host. */
  readonly sshExtras?: boolean;
}

/** Test-only addresses: 198.51.100.0/24 and 203.0.113.0/24, 2001:db8::/32. */
/** A structurally valid ed25519 public key line whose 32 key bytes are all `n` (not a real key). */
export function fixtureHostKey(n: number): string {
  const type = Buffer.from('ssh-ed25519');
  const len = (b: Buffer): Buffer => Buffer.from([0, 0, 0, b.length]);
  const key = Buffer.alloc(32, n);
  return `ssh-ed25519 ${Buffer.concat([len(type), type, len(key), key]).toString('base64')}`;
}

/** The jump host's pinned key in the `sshExtras` fixture. */
export const FIXTURE_JUMP_HOST_KEY = fixtureHostKey(250);

export function meshInventory(opts: MeshFixtureOptions = {}): InventoryInput {
  const perSite = opts.perSite ?? 2;
  const sites = ['ams', 'fra'] as const;
  const hosts = sites.flatMap((site, s) =>
    Array.from({ length: perSite }, (_, i) => {
      const n = i + 1;
      const name = `${site}${n}`;
      // Hosts beyond 250 per site would not fit a /24; the fixtures never need that many.
      const v4 = s === 0 ? `198.51.100.${n}` : `203.0.113.${n}`;
      const v6 = `2001:db8:${s + 1}::${n.toString(16)}`;
      return {
        name,
        site,
        addresses: { ipv4: [v4], ...(opts.dualStack ? { ipv6: [v6] } : {}) },
        ...(opts.sshExtras && s === 0 && i === 0
          ? {
              ssh: {
                user: 'deploy',
                port: 2222,
                hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH',
                jumpHost: { host: '198.51.100.250', user: 'jump', hostKey: FIXTURE_JUMP_HOST_KEY },
              },
            }
          : { ssh: { hostKey: fixtureHostKey(s * 100 + n) } }),
      };
    }),
  );
  return {
    mesh: {
      name: opts.name ?? 'lab',
      domain: 'example.net',
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(opts.enforcement ? { enforcement: opts.enforcement } : {}),
      ...(opts.layout ? { layout: opts.layout } : {}),
    },
    sites: sites.map((name) => ({ name })),
    hosts,
    rules: [{ mesh: { sites: [...sites] } }],
  };
}
