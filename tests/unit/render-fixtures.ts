// Typed-object inputs for the render tests: hosts, inventories and HostPairs built directly
// (no parser, no topology code), so the render layer is tested on its own.
import type { AddressFamily, Enforcement, Host, Inventory, MeshSettings, Site } from '../../components/inventory/model.js';
import type { HostPair, PairEndpoints } from '../../components/topology/host-pair.js';

export interface HostOptions {
  readonly site?: string;
  readonly v4?: boolean;
  readonly v6?: boolean;
  readonly sshPort?: number;
  readonly identity?: string;
}

/** Host `n` (1..254): 198.51.100.n and 2001:db8::n (hex). Lab ranges only. */
export function mkHost(name: string, n: number, opts: HostOptions = {}): Host {
  const site = opts.site ?? 'dc1';
  const fqdn = `${name}.${site}.mesh.example`;
  return {
    name,
    site,
    addresses: {
      ipv4: opts.v4 === false ? [] : [{ address: `198.51.100.${n}`, network: 'default' }],
      ipv6: opts.v6 === false ? [] : [{ address: `2001:db8::${n.toString(16)}`, network: 'default' }],
    },
    ssh: { host: fqdn, port: opts.sshPort ?? 22, user: 'root', insecureAcceptAnyHostKey: false },
    identity: opts.identity ?? fqdn,
    fqdn,
    tags: [],
  };
}

export function mkMesh(overrides: Partial<MeshSettings> = {}): MeshSettings {
  return {
    name: 'prod',
    domain: 'mesh.example',
    layout: 'per-peer',
    compactSelectors: 'peer-addresses',
    auth: 'certificate',
    mode: 'transport',
    enforcement: 'require',
    quantumResistance: 'off',
    ppkGeneration: 0,
    pairOverrides: [],
    proposals: ['aes256gcm16-prfsha384-ecp384'],
    espProposals: ['aes256gcm16-ecp384'],
    lifetimes: { ikeRekeySeconds: 14_400, childRekeySeconds: 3_600, childRekeyBytes: 50_000_000_000, dpdDelaySeconds: 30 },
    bypass: [],
    xfrmGcThresh: 32_768,
    mssClamp: 'auto',
    ...overrides,
  };
}

/** A site; `mtu` given = declared in the inventory (the MSS clamp's `auto` applies). */
export function mkSite(name: string, mtu?: number): Site {
  return { name, mtu: mtu ?? 1500, mtuDeclared: mtu !== undefined, prefixes: { ipv4: [], ipv6: [] } };
}

export function mkInventory(hosts: readonly Host[], mesh: Partial<MeshSettings> = {}, sites?: readonly Site[]): Inventory {
  const siteNames = [...new Set(hosts.map((h) => h.site))].sort();
  return {
    source: '<object>',
    mesh: mkMesh(mesh),
    sites: sites ?? siteNames.map((s) => mkSite(s)),
    hosts,
    rules: [],
  };
}

/** The pair of two hosts over every family both have (ipv4 first), `a` < `b` by name. */
export function mkPair(x: Host, y: Host, enforcement: Enforcement = 'require'): HostPair {
  const [a, b] = x.name < y.name ? [x, y] : [y, x];
  const families: PairEndpoints[] = [];
  for (const family of ['ipv4', 'ipv6'] as AddressFamily[]) {
    const fa = a.addresses[family][0];
    const fb = b.addresses[family][0];
    if (fa !== undefined && fb !== undefined) families.push({ family, a: fa.address, b: fb.address });
  }
  return { a: a.name, b: b.name, key: `${a.name}~${b.name}`, families, enforcement };
}

/** Every pair among `hosts`; `level` picks each pair's enforcement (default require). */
export function fullMesh(hosts: readonly Host[], level: (a: string, b: string) => Enforcement = () => 'require'): HostPair[] {
  const out: HostPair[] = [];
  for (let i = 0; i < hosts.length; i++) {
    for (let j = i + 1; j < hosts.length; j++) {
      const p = mkPair(hosts[i]!, hosts[j]!);
      out.push({ ...p, enforcement: level(p.a, p.b) });
    }
  }
  return out;
}

/** The pairs of one host, sorted by peer name (what topology's pairsForHost returns). */
export function pairsOf(pairs: readonly HostPair[], host: string): HostPair[] {
  const peer = (p: HostPair): string => (p.a === host ? p.b : p.a);
  return pairs.filter((p) => p.a === host || p.b === host).sort((x, y) => (peer(x) < peer(y) ? -1 : 1));
}
