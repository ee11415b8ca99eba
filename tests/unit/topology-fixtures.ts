// Typed-object inventories for the topology tests (no parser involved).
import type {
  Enforcement,
  Host,
  HostAddress,
  Inventory,
  PairEnforcementOverride,
  PairRule,
  Site,
} from '../../components/inventory/model.js';

/** A rule as written by a test: `index` is filled in from its position. */
export type RuleSpec = PairRule extends infer R ? (R extends PairRule ? Omit<R, 'index'> : never) : never;

type AddressSpec = string | HostAddress;

export interface HostSpec {
  readonly site?: string;
  readonly cluster?: string;
  readonly tags?: readonly string[];
  readonly v4?: readonly AddressSpec[];
  readonly v6?: readonly AddressSpec[];
}

function addr(a: AddressSpec): HostAddress {
  return typeof a === 'string' ? { address: a, network: 'default' } : a;
}

export function host(name: string, spec: HostSpec = {}): Host {
  return {
    name,
    site: spec.site ?? 's1',
    ...(spec.cluster !== undefined ? { cluster: spec.cluster } : {}),
    addresses: { ipv4: (spec.v4 ?? []).map(addr), ipv6: (spec.v6 ?? []).map(addr) },
    ssh: { host: name, port: 22, user: 'root', insecureAcceptAnyHostKey: false },
    identity: name,
    fqdn: name,
    tags: spec.tags ?? [],
  };
}

/** Dual-stack host with addresses derived from `n` (lab ranges only). */
export function dualHost(name: string, n: number, spec: Omit<HostSpec, 'v4' | 'v6'> = {}): Host {
  return host(name, { ...spec, v4: [`198.51.100.${n}`], v6: [`2001:db8::${n.toString(16)}`] });
}

export function site(name: string, enforcement?: Enforcement): Site {
  return {
    name,
    mtu: 1500,
    mtuDeclared: false,
    prefixes: { ipv4: [], ipv6: [] },
    ...(enforcement !== undefined ? { enforcement } : {}),
  };
}

export interface InventorySpec {
  readonly hosts: readonly Host[];
  readonly rules: readonly RuleSpec[];
  readonly sites?: readonly Site[];
  readonly enforcement?: Enforcement;
  readonly pairOverrides?: readonly PairEnforcementOverride[];
}

export function inventory(spec: InventorySpec): Inventory {
  const siteNames = [...new Set(spec.hosts.map((h) => h.site))];
  return {
    source: '<object>',
    mesh: {
      name: 'mesh',
      layout: 'per-peer',
      compactSelectors: 'peer-addresses',
      auth: 'psk',
      quantumResistance: 'off',
      ppkGeneration: 0,
      mode: 'transport',
      enforcement: spec.enforcement ?? 'use',
      pairOverrides: spec.pairOverrides ?? [],
      proposals: ['aes256gcm16-prfsha384-ecp384'],
      espProposals: ['aes256gcm16-ecp384'],
      lifetimes: { ikeRekeySeconds: 14400, childRekeySeconds: 3600, childRekeyBytes: 1 << 30, dpdDelaySeconds: 30 },
      bypass: [],
      xfrmGcThresh: 32768,
      mssClamp: 'auto',
    },
    sites: spec.sites ?? siteNames.map((s) => site(s)),
    hosts: spec.hosts,
    rules: spec.rules.map((r, index) => ({ ...r, index }) as PairRule),
  };
}
