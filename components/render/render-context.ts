// What every host of one inventory shares, computed once per Inventory object and reused for
// each host rendered from it (a 1000-host mesh renders 1000 times from the same inventory).
import type { Host, Inventory, MeshSettings, QuantumResistance, Site } from '../inventory/model.js';
import { resolvePairQuantumResistance, siteQuantumResistance } from '../topology/pair-quantum-resistance.js';
import type { HostPair } from '../topology/host-pair.js';
import { confValue } from './conf-syntax.js';
import { espTransforms, type EspTransform } from './esp-overhead.js';
import { assertLabel } from './file-paths.js';
import { RenderError } from './render-error.js';

export interface HostInfo {
  readonly host: Host;
  readonly siteIndex: number;
}

export interface RenderContext {
  readonly mesh: MeshSettings;
  readonly hostsByName: ReadonlyMap<string, Host>;
  readonly sitesByName: ReadonlyMap<string, Site>;
  /** Sites in inventory order (plus any site a host names but the inventory lacks). */
  readonly sites: readonly Site[];
  /** Host name → the host and its index in `sites`: one lookup per pair in the hot loops. */
  readonly hostInfo: ReadonlyMap<string, HostInfo>;
  /** `proposals` / `esp_proposals` values, validated. */
  readonly ikeProposals: string;
  readonly espProposals: string;
  /**
   * The proposals of a pair whose ends both run strongSwan 6: each one with an ML-KEM-768
   * additional key exchange (RFC 9370), hybrid with its ECDH group.
   */
  readonly hybridIkeProposals: string;
  readonly hybridEspProposals: string;
  /** Transforms the ESP proposals allow (for overhead and MTU). */
  readonly espTransforms: readonly EspTransform[];
  /** Sites whose pairs force UDP encapsulation (`forceUdpEncap`). */
  readonly udpEncapSites: ReadonlySet<string>;
  /** Sites with a host behind 1:1 NAT (an address with `public`). */
  readonly natSites: ReadonlySet<string>;
  /** A host's IKE identity as a swanctl value (quoted when needed), cached per host. */
  identityValue(host: Host): string;
  /** The PPK level of a pair between hosts of these sites (the weaker site level). */
  /** The pair's PPK level: its own override, else the weaker of the two sites' levels. */
  quantumResistance(pair: HostPair, siteA: string, siteB: string): QuantumResistance;
}

const cache = new WeakMap<Inventory, RenderContext>();

// strongSwan proposal keywords: lower-case letters, digits, `_`; `-` joins them. No `!`:
// swanctl proposals are strict already, and anything else would be misread.
const PROPOSAL = /^[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*$/;

// swanctl parses byte and time values into a 16-byte buffer (vici_config.c parse_bytes):
// longer strings are rejected at load time.
const MAX_NUMBER_CHARS = 15;

export function renderContext(inventory: Inventory): RenderContext {
  let ctx = cache.get(inventory);
  if (ctx === undefined) {
    ctx = buildContext(inventory);
    cache.set(inventory, ctx);
  }
  return ctx;
}

function buildContext(inventory: Inventory): RenderContext {
  const mesh = inventory.mesh;
  assertLabel(mesh.name, 'mesh name', { mesh: mesh.name });
  const hostsByName = new Map<string, Host>();
  for (const h of inventory.hosts) {
    // Host names become parts of connection, section and file names.
    assertLabel(h.name, 'host name', { mesh: mesh.name, host: h.name });
    hostsByName.set(h.name, h);
  }
  const sitesByName = new Map<string, Site>();
  const sites = [...inventory.sites];
  const siteIndex = new Map<string, number>();
  for (const s of sites) {
    sitesByName.set(s.name, s);
    siteIndex.set(s.name, siteIndex.size);
  }
  const hostInfo = new Map<string, HostInfo>();
  for (const h of inventory.hosts) {
    let i = siteIndex.get(h.site);
    if (i === undefined) {
      // A site the inventory does not declare: default MTU (validation normally rejects it).
      i = sites.length;
      sites.push({ name: h.site, mtu: 1500, mtuDeclared: false, prefixes: { ipv4: [], ipv6: [] } });
      siteIndex.set(h.site, i);
    }
    hostInfo.set(h.name, { host: h, siteIndex: i });
  }

  const names = new Set<string>();
  for (const rule of mesh.bypass) {
    assertLabel(rule.name, 'bypass rule name', { mesh: mesh.name });
    if (names.has(rule.name)) {
      throw new RenderError(`two bypass rules are named "${rule.name}"`, { code: 'duplicate-bypass', mesh: mesh.name });
    }
    names.add(rule.name);
  }
  const lt = mesh.lifetimes;
  for (const [what, n] of [
    ['lifetimes.ikeRekeySeconds', lt.ikeRekeySeconds],
    ['lifetimes.childRekeySeconds', lt.childRekeySeconds],
    ['lifetimes.childRekeyBytes', lt.childRekeyBytes],
    ['lifetimes.dpdDelaySeconds', lt.dpdDelaySeconds],
    ['xfrmGcThresh', mesh.xfrmGcThresh],
  ] as const) {
    if (!Number.isSafeInteger(n) || n < 0 || String(n).length > MAX_NUMBER_CHARS) {
      throw new RenderError(`${what} = ${n} is not a non-negative integer of at most ${MAX_NUMBER_CHARS} digits`, { code: 'bad-value', mesh: mesh.name });
    }
  }

  const ikeProposals = proposalList(mesh.proposals, 'proposals', mesh.name);
  const espProposals = proposalList(mesh.espProposals, 'espProposals', mesh.name);
  let transforms: readonly EspTransform[];
  try {
    transforms = espTransforms(espProposals);
  } catch (e) {
    if (e instanceof RenderError) throw new RenderError(e.message, { code: e.code, mesh: mesh.name });
    throw e;
  }

  const identities = new Map<string, string>();
  const qrLevels = new Map<string, QuantumResistance>();
  const siteLevel = (site: string): QuantumResistance => {
    let v = qrLevels.get(site);
    if (v === undefined) qrLevels.set(site, (v = siteQuantumResistance(inventory, site)));
    return v;
  };
  const udpEncapSites = new Set(sites.filter((s) => s.forceUdpEncap === true).map((s) => s.name));
  const natSites = new Set(inventory.hosts.filter((h) => h.addresses.ipv4.some((a) => a.public !== undefined) || h.addresses.ipv6.some((a) => a.public !== undefined)).map((h) => h.site));
  return {
    hybridIkeProposals: withMlKem(ikeProposals),
    hybridEspProposals: withMlKem(espProposals),
    udpEncapSites,
    natSites,
    mesh,
    hostsByName,
    sitesByName,
    sites,
    hostInfo,
    ikeProposals,
    espProposals,
    espTransforms: transforms,
    quantumResistance(pair: HostPair, siteA: string, siteB: string): QuantumResistance {
      // Once per pair of every host: the site levels are looked up once per site.
      return resolvePairQuantumResistance(siteLevel(siteA), siteLevel(siteB), pair.quantumResistance);
    },
    identityValue(host: Host): string {
      let v = identities.get(host.name);
      if (v === undefined) {
        v = confValue(host.identity, `identity of host "${host.name}"`);
        identities.set(host.name, v);
      }
      return v;
    },
  };
}

/** Each proposal with `ke1_mlkem768` appended, unless it names additional key exchanges already. */
function withMlKem(list: string): string {
  return list
    .split(',')
    .map((p) => (/(^|-)ke\d_/.test(p) ? p : `${p}-ke1_mlkem768`))
    .join(',');
}

function proposalList(list: readonly string[], what: string, meshName: string): string {
  const parts: string[] = [];
  for (const entry of list) {
    for (const p of entry.split(',')) {
      const t = p.trim();
      if (!PROPOSAL.test(t)) {
        throw new RenderError(`${what}: "${t}" is not a strongSwan proposal (keywords joined by '-')`, { code: 'bad-proposal', mesh: meshName });
      }
      parts.push(t);
    }
  }
  if (parts.length === 0) throw new RenderError(`${what} is empty`, { code: 'bad-proposal', mesh: meshName });
  return parts.join(',');
}
