// What an unmanaged peer (a router, an appliance: `managed: false`) must be configured with by
// hand: its side of every connection, from the same connection plan the managed hosts' swanctl
// files come from (planMeshConnections seen from the unmanaged host), so the two sides agree.
// The sheet never holds a key: it says where to read each one (a secret stack output).
import type { AddressFamily, Host, Inventory, IpsecMode } from '../inventory/model.js';
import type { HostPair } from '../topology/host-pair.js';
import { planBypass } from './bypass-shunts.js';
import { checkedPairs, planMeshConnections, type ChildRole } from './mesh-connections.js';
import { renderContext } from './render-context.js';
import { RenderError } from './render-error.js';
import { CHILD_ACTIONS } from './swanctl-conf.js';

/** The stack output holding every unmanaged peer's keys: `{ <unmanaged host>: { <peer>: "0x…" } }`. */
export const UNMANAGED_SECRETS_OUTPUT = 'unmanagedPeerSecrets';
/** The stack output holding every unmanaged peer's post-quantum preshared keys, shaped like the PSKs'. */
export const UNMANAGED_PPKS_OUTPUT = 'unmanagedPeerPpks';
/** The stack output holding every unmanaged peer's sheet (this type, plain). */
export const PEER_SHEETS_OUTPUT = 'peerSheets';

export interface PeerSheetConnection {
  /** The name the managed peer's connection has (`<mesh>_<unmanaged host>_v4`). */
  readonly peerConnection: string;
  readonly peer: string;
  readonly family: AddressFamily;
  /** The unmanaged host's own address (what it sends from). */
  readonly localAddress: string;
  /** Where it reaches the peer (the peer's public address across 1:1 NAT). */
  readonly remoteAddress: string;
  readonly localIdentity: string;
  readonly remoteIdentity: string;
  readonly localTs: string;
  readonly remoteTs: string;
  /** `forced`: send ESP in UDP 4500 always (a site drops ESP); `auto`: NAT-T when NAT is detected. */
  readonly udpEncap: 'forced' | 'auto';
  /** An end roams (MOBIKE off all the same: it re-authenticates from each new address). */
  readonly roaming: boolean;
  /** This connection's proposals (hybrid ML-KEM when both ends run strongSwan 6). */
  readonly ikeProposals: string;
  readonly espProposals: string;
  /**
   * require: both ends trap (negotiate on the first packet; never cleartext).
   * use-initiator: this side starts the SA and restarts it. use-responder: it only answers.
   */
  readonly role: ChildRole;
  readonly startAction: string;
  readonly dpdAction: string;
  readonly closeAction: string;
  /** How to read this pair's pre-shared key (never the key). */
  readonly pskCommand: string;
  /** The pair's post-quantum preshared key (RFC 8784), when its level is not `off`. */
  readonly ppk?: PeerSheetPpk;
}

export interface PeerSheetPpk {
  /** The PPK_ID both ends send and look their key up by. */
  readonly id: string;
  /** true: no IKE_SA without the PPK (`ppk_required = yes`); false: used when both ends have it. */
  readonly required: boolean;
  /** How to read the key (never the key). */
  readonly command: string;
}

/** A message the managed hosts keep outside IPsec, which the unmanaged side must pass too. */
export interface PeerSheetBypass {
  readonly family: AddressFamily;
  readonly protocol: 'icmp' | 'ipv6-icmp';
  readonly type: number;
  /** undefined: every code of the type. */
  readonly code?: number;
  readonly why: string;
}

export interface PeerSheet {
  readonly mesh: string;
  readonly host: string;
  readonly ikeVersion: 2;
  readonly authentication: 'psk';
  readonly ikeProposals: string;
  readonly espProposals: string;
  readonly mode: IpsecMode;
  readonly ikeRekeySeconds: number;
  readonly childRekeySeconds: number;
  readonly childRekeyBytes: number;
  readonly dpdDelaySeconds: number;
  /**
   * ICMP the managed hosts pass in cleartext (PMTU discovery; IPv6 neighbour discovery, without
   * which /128 policies keep on-link peers from finding each other). Both directions, any peer.
   */
  readonly bypass: readonly PeerSheetBypass[];
  readonly connections: readonly PeerSheetConnection[];
}

/** The command that prints the key of the pair (unmanaged host, peer), for the sheet. */
export function pskCommand(host: string, peer: string): string {
  return `pulumi stack output --show-secrets --json ${UNMANAGED_SECRETS_OUTPUT} | jq -r '.["${host}"]["${peer}"]'`;
}

/** The command that prints the PPK of the pair (unmanaged host, peer), for the sheet. */
export function ppkCommand(host: string, peer: string): string {
  return `pulumi stack output --show-secrets --json ${UNMANAGED_PPKS_OUTPUT} | jq -r '.["${host}"]["${peer}"]'`;
}

export function planPeerSheet(inventory: Inventory, host: Host, pairs: readonly HostPair[]): PeerSheet {
  const ctx = renderContext(inventory);
  const mesh = ctx.mesh;
  if (host.unmanaged !== true) {
    throw new RenderError('a peer sheet is for an unmanaged host (managed: false); ipsec-mesh configures this one itself', { code: 'not-unmanaged', mesh: mesh.name, host: host.name });
  }
  const { connections } = planMeshConnections(ctx, host, checkedPairs(ctx, host, pairs));
  const lt = mesh.lifetimes;
  const families = new Set(connections.map((c) => c.family));
  const bypass = planBypass(ctx, host)
    .filter((s) => s.icmp !== undefined && families.has(s.family))
    .map((s) => ({
      family: s.family,
      protocol: s.family === 'ipv4' ? ('icmp' as const) : ('ipv6-icmp' as const),
      type: s.icmp!.type,
      ...(s.icmp!.code === undefined ? {} : { code: s.icmp!.code }),
      why: s.why,
    }));
  return {
    mesh: mesh.name,
    host: host.name,
    ikeVersion: 2,
    authentication: 'psk',
    ikeProposals: ctx.ikeProposals,
    espProposals: ctx.espProposals,
    mode: mesh.mode,
    ikeRekeySeconds: lt.ikeRekeySeconds,
    childRekeySeconds: lt.childRekeySeconds,
    childRekeyBytes: lt.childRekeyBytes,
    dpdDelaySeconds: lt.dpdDelaySeconds,
    bypass,
    connections: connections.map((c) => {
      const peer = ctx.hostsByName.get(c.peer!)!;
      const a = CHILD_ACTIONS[c.role];
      return {
        peerConnection: `${mesh.name}_${host.name}_${c.family === 'ipv4' ? 'v4' : 'v6'}`,
        peer: peer.name,
        family: c.family,
        localAddress: c.localAddrs,
        remoteAddress: c.remoteAddrs!,
        localIdentity: host.identity,
        remoteIdentity: peer.identity,
        localTs: c.localTs,
        remoteTs: c.remoteTs,
        udpEncap: c.forceEncap ? 'forced' : 'auto',
        roaming: c.roaming,
        ikeProposals: c.hybrid ? ctx.hybridIkeProposals : ctx.ikeProposals,
        espProposals: c.hybrid ? ctx.hybridEspProposals : ctx.espProposals,
        role: c.role,
        startAction: a.start,
        dpdAction: a.dpd,
        closeAction: a.close,
        pskCommand: pskCommand(host.name, peer.name),
        ...(c.ppk === undefined ? {} : { ppk: { id: c.ppk.id, required: c.ppk.required, command: ppkCommand(host.name, peer.name) } }),
      };
    }),
  };
}

const ROLE_TEXT: Readonly<Record<ChildRole, string>> = {
  require: 'negotiate on the first packet (trap); never send this traffic in cleartext',
  'use-initiator': 'initiate at start and re-initiate when the SA goes away',
  'use-responder': 'only answer; the peer initiates',
  'roaming-responder': 'only answer; the peer roams and initiates',
};

/** The sheet as text an engineer types from: one block per connection, `label: value` lines. */
export function formatPeerSheet(sheet: PeerSheet): string {
  const out = [
    `ipsec-mesh peer sheet: mesh "${sheet.mesh}", unmanaged host "${sheet.host}"`,
    `Configure each connection below on ${sheet.host} by hand. Every value is from ${sheet.host}'s side.`,
    'Keys are never printed here: each connection names the command that prints each of its keys.',
    '',
    'for every connection',
    `  IKE version:          ${sheet.ikeVersion}`,
    `  authentication:       pre-shared key, both directions`,
    `  IKE proposals:        ${sheet.ikeProposals}`,
    `  ESP proposals:        ${sheet.espProposals}`,
    `  mode:                 ${sheet.mode}`,
    `  IKE rekey:            ${sheet.ikeRekeySeconds} s (rekey, never reauthenticate)`,
    `  CHILD rekey:          ${sheet.childRekeySeconds} s or ${sheet.childRekeyBytes} bytes`,
    `  DPD delay:            ${sheet.dpdDelaySeconds} s`,
    `  MOBIKE:               off`,
    ...sheet.bypass.map((b) => `  keep outside IPsec:   ${b.protocol} type ${b.type}${b.code === undefined ? '' : ` code ${b.code}`}, both directions, any peer, before the IPsec policies (${b.why})`),
  ];
  for (const c of sheet.connections) {
    out.push(
      '',
      `connection ${sheet.mesh}_${c.peer}_${c.family === 'ipv4' ? 'v4' : 'v6'}`,
      `  peer host:            ${c.peer} (its connection: ${c.peerConnection})`,
      `  family:               ${c.family}`,
      `  local address:        ${c.localAddress}`,
      `  remote address:       ${c.remoteAddress}`,
      `  local identity:       ${c.localIdentity}`,
      `  remote identity:      ${c.remoteIdentity}`,
      `  local selector:       ${c.localTs}`,
      `  remote selector:      ${c.remoteTs}`,
      ...(c.roaming ? ['  roaming:              an end has no fixed address: accept it from any address by its identity'] : []),
      ...(c.ikeProposals !== sheet.ikeProposals ? [`  IKE proposals:        ${c.ikeProposals} (hybrid ML-KEM: both ends run strongSwan 6)`] : []),
      ...(c.espProposals !== sheet.espProposals ? [`  ESP proposals:        ${c.espProposals}`] : []),
      `  UDP encapsulation:    ${c.udpEncap === 'forced' ? 'forced (always ESP in UDP 4500: a site of this pair drops ESP)' : 'auto (NAT-T when NAT is detected)'}`,
      `  start:                ${ROLE_TEXT[c.role]} (start ${c.startAction}, dpd ${c.dpdAction}, close ${c.closeAction})`,
      `  pre-shared key:       ${c.pskCommand}`,
      ...(c.ppk === undefined
        ? ['  post-quantum PPK:     none']
        : [
            `  post-quantum PPK:     RFC 8784, ${c.ppk.required ? 'required (no IKE_SA without it)' : 'preferred (used when both ends have it)'}`,
            `  PPK id:               ${c.ppk.id}`,
            `  PPK:                  ${c.ppk.command}`,
          ]),
    );
  }
  return `${out.join('\n')}\n`;
}
