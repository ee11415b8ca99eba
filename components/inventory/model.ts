// The validated, normalised inventory: the one shape every later layer reads.
// Produced by `parseInventory` (typed objects) or `loadInventoryFile`/`loadInventoryYaml`.
// Everything here is plain data (never Pulumi Outputs): it decides how many resources exist.

export type AddressFamily = 'ipv4' | 'ipv6';
export const ADDRESS_FAMILIES: readonly AddressFamily[] = ['ipv4', 'ipv6'];

/** off: no mesh connections (bypass kept) · use: SAs negotiated, cleartext while none · require: trap, never cleartext. */
export type Enforcement = 'off' | 'use' | 'require';
export const ENFORCEMENT_LEVELS: readonly Enforcement[] = ['off', 'use', 'require'];

/**
 * Post-quantum preshared keys (RFC 8784) on a pair: `off` none, `preferred` used when both ends
 * have one (a pair with an end not yet pushed still establishes), `required` or no IKE_SA.
 */
export type QuantumResistance = 'off' | 'preferred' | 'required';

/**
 * The strongSwan release line a host runs: `6` has RFC 9370 additional key exchanges (ML-KEM),
 * so a pair of two `6` hosts negotiates hybrid ML-KEM; `5` (Debian 12's 5.9.8) does not.
 */
export type StrongswanLine = '5' | '6';
export const STRONGSWAN_LINES: readonly StrongswanLine[] = ['5', '6'];
export const QUANTUM_RESISTANCE_LEVELS: readonly QuantumResistance[] = ['off', 'preferred', 'required'];

/** per-peer: one connection per peer per family · compact: one trap connection per family for the whole mesh. */
export type Layout = 'per-peer' | 'compact';
/**
 * What the compact layout's `remote_ts` lists: every peer's address (the default), or the
 * prefixes of the peers' sites, so a host's files do not change when a host joins a site.
 */
export type CompactSelectors = 'peer-addresses' | 'site-prefixes';
export type AuthMode = 'certificate' | 'psk';
export type IpsecMode = 'transport' | 'tunnel';
/**
 * TCP MSS clamping towards peers (docs/render.md, "MTU"): `auto` clamps the links that touch a
 * site declaring an `mtu`, `on` every link, `off` none.
 */
export type MssClampMode = 'auto' | 'on' | 'off';
export const MSS_CLAMP_MODES: readonly MssClampMode[] = ['auto', 'on', 'off'];

/** One address of a host; `network` names which network it is on (e.g. `wan`, `lan`). */
export interface HostAddress {
  readonly address: string; // canonical text form (ipaddr.js toString / RFC 5952 for IPv6)
  readonly network: string; // defaults to 'default'
  /** Behind 1:1 NAT: the address hosts of other sites reach it at (same family). */
  readonly public?: string;
}

export interface HostAddresses {
  readonly ipv4: readonly HostAddress[];
  readonly ipv6: readonly HostAddress[];
}

export interface SshAccess {
  readonly host: string; // address or DNS name to reach sshd
  readonly port: number; // default 22
  readonly user: string; // default 'root'
  /** Pinned host key, OpenSSH public key line (`ssh-ed25519 AAAA...`). Required unless the opt-out below. */
  readonly hostKey?: string;
  /** The inventory said `insecureAcceptAnyHostKey: true`: any server key is accepted (warned on every run). */
  readonly insecureAcceptAnyHostKey: boolean;
  /** Optional bastion, `user@host:port`-style parts, with its own pinned key. */
  readonly jumpHost?: { readonly host: string; readonly port: number; readonly user: string; readonly hostKey?: string };
}

export interface Host {
  readonly name: string; // DNS label-safe, unique
  readonly site: string;
  readonly cluster?: string;
  readonly addresses: HostAddresses; // at least one family non-empty
  readonly ssh: SshAccess;
  /** IKE identity; defaults to `fqdn`. */
  readonly identity: string;
  /** Host's DNS name; defaults to `<name>.<site>.<mesh.domain>` or `<name>` when no domain. */
  readonly fqdn: string;
  readonly tags: readonly string[];
  /**
   * Its certificate is revoked (a leaked key, a host gone rogue): it pairs with no one, the mesh
   * CA's CRL lists its certificate, and nothing more is sent to it. Certificate mode.
   */
  readonly revoked?: boolean;
  /**
   * No SSH: ipsec-mesh configures its peers only and prints its side as a peer sheet
   * (docs/inventory.md, *Unmanaged peers*). `ssh` then holds no usable access.
   */
  readonly unmanaged?: true;
  /**
   * A roaming host (`addresses: dynamic`): no address of its own (both lists empty); it pairs
   * in every family its peer has, from wherever it is, and only it initiates.
   */
  readonly roaming?: true;
  /** `6`: it runs strongSwan 6 (its own setting, else its site's); absent: `5`. */
  readonly strongswan?: '6';
}

export interface Site {
  readonly name: string;
  /** MTU of links between this site and others; used to compute the inner MTU/MSS. */
  readonly mtu: number; // default 1500
  /** The inventory gave `mtu` (mssClamp `auto` clamps the links touching this site). */
  readonly mtuDeclared: boolean;
  /** Address prefixes of the site (CIDR, canonical). Used by the compact layout's remote_ts. */
  readonly prefixes: { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] };
  readonly enforcement?: Enforcement; // per-site override (staged rollout)
  /** Per-site override of mesh.quantumResistance (staged like enforcement). */
  readonly quantumResistance?: QuantumResistance;
  /** The strongSwan line this site's hosts run, unless a host says otherwise. */
  readonly strongswan?: StrongswanLine;
  /** The site's network drops ESP: its pairs always use UDP encapsulation (`encap = yes`). */
  readonly forceUdpEncap?: true;
}

/** Selects hosts; every given criterion must match (AND). Empty selector is invalid. */
export interface HostSelector {
  readonly sites?: readonly string[];
  readonly clusters?: readonly string[];
  readonly tags?: readonly string[]; // host must carry all
  readonly hosts?: readonly string[];
}

export type PairRule =
  /** Full mesh among the hosts of each cluster (`by: cluster`, isolated from each other) or of one selector. */
  | { readonly kind: 'mesh'; readonly select: HostSelector; readonly by?: 'cluster'; readonly network?: string; readonly index: number }
  /** Every host of `from` with every host of `to` (e.g. cache sites ↔ core sites). */
  | { readonly kind: 'between'; readonly from: HostSelector; readonly to: HostSelector; readonly network?: string; readonly index: number }
  /** Explicit pairs by host name. */
  | { readonly kind: 'pairs'; readonly pairs: readonly (readonly [string, string])[]; readonly network?: string; readonly index: number }
  /** Remove pairs: explicit pairs, or every pair touching a selector. */
  | { readonly kind: 'exclude'; readonly pairs?: readonly (readonly [string, string])[]; readonly select?: HostSelector; readonly index: number };

export interface BypassRule {
  readonly name: string; // DNS-safe; becomes part of the connection name
  readonly protocol: 'tcp' | 'udp' | 'icmp' | 'ipv6-icmp' | 'esp' | 'any';
  readonly port?: number; // tcp/udp: the port on either side
  readonly cidrs?: readonly string[]; // remote side; default: everything of the family
}

/** One pair's own levels; a level left out is the pair's sites' (the weaker end's). */
export interface PairEnforcementOverride {
  readonly hosts: readonly [string, string];
  readonly enforcement?: Enforcement;
  readonly quantumResistance?: QuantumResistance;
}

export interface Lifetimes {
  readonly ikeRekeySeconds: number; // rekey_time (IKE), reauth_time is always 0
  readonly childRekeySeconds: number; // children.rekey_time
  readonly childRekeyBytes: number; // children.rekey_bytes
  readonly dpdDelaySeconds: number;
}

export interface MeshSettings {
  readonly name: string; // DNS-safe; prefixes file and connection names
  readonly domain?: string; // for default FQDNs
  readonly layout: Layout;
  /** compact only (docs/render.md, *Site prefixes*); default `peer-addresses`. */
  readonly compactSelectors: CompactSelectors;
  readonly auth: AuthMode;
  readonly mode: IpsecMode;
  readonly enforcement: Enforcement;
  /** PPK on every pair (docs/quantum-resistance.md); sites may override it. */
  readonly quantumResistance: QuantumResistance;
  /** The PPKs' generation: each has its own master and its own PPK_IDs (a rotation bumps it). */
  readonly ppkGeneration: number;
  readonly pairOverrides: readonly PairEnforcementOverride[];
  readonly proposals: readonly string[]; // IKE, default ['aes256gcm16-prfsha384-ecp384']
  readonly espProposals: readonly string[]; // default ['aes256gcm16-ecp384'] (PFS on rekey)
  readonly lifetimes: Lifetimes;
  readonly bypass: readonly BypassRule[]; // user-given; SSH/ICMP/NDP are always added by render
  readonly xfrmGcThresh: number; // default 32768
  /** TCP MSS clamping on the links to peers; default `auto`. */
  readonly mssClamp: MssClampMode;
  /**
   * Where `pulumi up` and the operators' SSH come from (canonical CIDRs). When set, only these
   * (and each host's jump host) reach sshd outside IPsec; unset: any source reaches it.
   */
  readonly sshFrom?: readonly string[];
}

export interface Inventory {
  /** File name the inventory came from, or '<object>'. */
  readonly source: string;
  readonly mesh: MeshSettings;
  readonly sites: readonly Site[];
  readonly hosts: readonly Host[];
  readonly rules: readonly PairRule[];
}
