// What users write — in YAML or as typed objects — before defaults are applied.
// `parseInventory` turns it into the `Inventory` model (model.ts). Field docs: docs/inventory.md.
import type { AuthMode, BypassRule, CompactSelectors, Enforcement, IpsecMode, Layout, Lifetimes, MssClampMode, QuantumResistance, StrongswanLine } from './model.js';

export interface InventoryInput {
  readonly mesh: MeshInput;
  readonly sites: readonly SiteInput[];
  readonly hosts: readonly HostInput[];
  readonly rules: readonly RuleInput[];
}

export interface MeshInput {
  readonly name: string;
  /** Default FQDN of a host is `<host>.<site>.<domain>`. */
  readonly domain?: string;
  readonly layout?: Layout; // per-peer
  /** compact only: `site-prefixes` traps the peers' site prefixes instead of listing every peer. */
  readonly compactSelectors?: CompactSelectors; // peer-addresses
  readonly auth?: AuthMode; // certificate
  readonly mode?: IpsecMode; // transport
  readonly enforcement?: Enforcement; // require
  /** Post-quantum preshared keys on every pair: off, preferred, required (docs/quantum-resistance.md). */
  readonly quantumResistance?: QuantumResistance;
  /** Bump to give every pair a new PPK under a new PPK_ID (a rotation; docs/quantum-resistance.md). Default 0. */
  readonly ppkGeneration?: number;
  readonly proposals?: readonly string[];
  readonly espProposals?: readonly string[];
  readonly lifetimes?: Partial<Lifetimes>;
  readonly bypass?: readonly BypassRuleInput[];
  readonly xfrmGcThresh?: number;
  /** TCP MSS clamping towards peers: `auto` (default: links touching a site with an `mtu`), `on`, `off`. */
  readonly mssClamp?: MssClampMode;
  /** Where `pulumi up` and the operators' SSH come from (CIDRs): only these reach sshd outside IPsec. */
  readonly sshFrom?: readonly string[];
  readonly pairOverrides?: readonly PairOverrideInput[];
}

export interface BypassRuleInput {
  readonly name: string;
  readonly protocol: BypassRule['protocol'];
  readonly port?: number;
  readonly cidrs?: readonly string[];
}

/** A pair's own levels (at least one); they win over its sites' and the mesh's. */
export interface PairOverrideInput {
  readonly hosts: readonly [string, string];
  readonly enforcement?: Enforcement;
  /** The pair's PPK level (docs/quantum-resistance.md); not with the compact layout. */
  readonly quantumResistance?: QuantumResistance;
}

export interface SiteInput {
  readonly name: string;
  readonly mtu?: number; // 1500
  /** CIDR prefixes of either family; split by family in the model. */
  readonly prefixes?: readonly string[];
  readonly enforcement?: Enforcement;
  /**
   * The site's network drops IP protocol 50 (some clouds do): every pair touching it sends
   * ESP inside UDP 4500 (`encap = yes`), NAT or not. Default false.
   */
  readonly forceUdpEncap?: boolean;
  /** Overrides mesh.quantumResistance for this site's pairs (the weaker end wins). */
  readonly quantumResistance?: QuantumResistance;
  /** The strongSwan line its hosts run: `5` (default; Debian 12's 5.9.8) or `6` (ML-KEM). */
  readonly strongswan?: StrongswanLine;
}

/** A bare address (network `default`) or an address on a named network (e.g. `wan`, `lan`). */
export type AddressInput = string | AddressMappingInput;

export interface AddressMappingInput {
  /** The address on the host's interface. */
  readonly address: string;
  readonly network?: string;
  /**
   * Behind 1:1 NAT (a cloud's public address): where hosts of other sites reach this one.
   * Hosts of the same site still use `address`. Same family as `address`.
   */
  readonly public?: string;
}

export interface HostInput {
  readonly name: string;
  readonly site: string;
  readonly cluster?: string;
  /**
   * `dynamic`: a roaming host (a laptop): no fixed address; its peers accept it from any
   * address, by its identity, and never initiate to it (docs/topology.md, *Roaming hosts*).
   */
  readonly addresses: { readonly ipv4?: readonly AddressInput[]; readonly ipv6?: readonly AddressInput[] } | 'dynamic';
  readonly ssh?: SshInput;
  /** IKE identity; default: the FQDN. */
  readonly identity?: string;
  /** Default: `<name>.<site>.<mesh.domain>`, or `<name>` without a domain. */
  readonly fqdn?: string;
  readonly tags?: readonly string[];
  /** Its certificate is revoked: it pairs with no one and nothing more is sent to it (certificate mode). */
  readonly revoked?: boolean;
  /**
   * false: ipsec-mesh cannot log in (a router, an appliance). It is part of the pairs; its
   * peers are configured and its own side is typed in from `ipsec-mesh peer-sheet`. Needs
   * mesh.auth psk and no `ssh`. Default true.
   */
  readonly managed?: boolean;
  /** The strongSwan line it runs, `5` or `6` (default: its site's, else `5`). Two `6` hosts negotiate hybrid ML-KEM. */
  readonly strongswan?: StrongswanLine;
}

export interface SshInput {
  /** Default: the host's first IPv4 address, else its first IPv6 address. */
  readonly host?: string;
  readonly port?: number; // 22
  readonly user?: string; // root
  readonly hostKey?: string;
  /** Explicit, loud opt-out of host key pinning for this host (and its jump host). */
  readonly insecureAcceptAnyHostKey?: boolean;
  readonly jumpHost?: { readonly host: string; readonly port?: number; readonly user?: string; readonly hostKey?: string };
}

/** Every given criterion must match (AND); at least one is required. */
export interface HostSelectorInput {
  readonly sites?: readonly string[];
  readonly clusters?: readonly string[];
  /** The host must carry every listed tag. */
  readonly tags?: readonly string[];
  readonly hosts?: readonly string[];
}

export type HostPairInput = readonly [string, string];

export type RuleInput =
  | { readonly mesh: HostSelectorInput & { readonly by?: 'cluster' }; readonly network?: string }
  | { readonly between: { readonly from: HostSelectorInput; readonly to: HostSelectorInput }; readonly network?: string }
  | { readonly pairs: readonly HostPairInput[]; readonly network?: string }
  /** Removes the listed pairs and every pair touching a host the selector part matches. */
  | { readonly exclude: HostSelectorInput & { readonly pairs?: readonly HostPairInput[] } };
