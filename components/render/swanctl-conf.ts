// The swanctl.conf text of one host: shared defaults as top-level sections that every
// connection references (strongswan.conf "referencing other sections", strongSwan ≥ 5.7),
// so a per-peer host with ~1000 connections writes only what differs per connection.
import { createHash } from 'node:crypto';
import type { Host } from '../inventory/model.js';
import { bypassConnectionName, type BypassShunt } from './bypass-shunts.js';
import { commentText, confValue } from './conf-syntax.js';
import type { ChildRole, MeshConnection } from './mesh-connections.js';
import type { RenderContext } from './render-context.js';
import { RenderError } from './render-error.js';

/**
 * Kernel policy priorities (lower wins). Fixed, not strongSwan's size-based automatic ones
 * (~100000+), so every bypass shunt beats every mesh policy whatever the selector sizes,
 * and both beat automatically prioritised policies of other connections on the host.
 */
export const BYPASS_POLICY_PRIORITY = 1000;
export const MESH_POLICY_PRIORITY = 2000;
/**
 * Shunts that yield to the mesh (SSH in from any source, when mesh.sshFrom is not declared):
 * a peer's SSH then matches its mesh policy first and rides IPsec both ways, while sources
 * that are not mesh peers match only the shunt.
 */
export const FALLBACK_BYPASS_POLICY_PRIORITY = 3000;

/** Connections that exist only to hold shunts never match a real peer (no IKE uses them). */
const SHUNT_REMOTE_ADDRS = '127.0.0.1';

export const CHILD_ACTIONS: Readonly<Record<ChildRole, { start: string; dpd: string; close: string }>> = {
  // Traps on both ends: a packet with no SA triggers IKE and is never sent in cleartext.
  // After DPD or a peer's delete the trap is (re)installed, so the next packet renegotiates.
  require: { start: 'trap', dpd: 'trap', close: 'trap' },
  // Starts at load, restarts under a fresh IKE_SA when DPD declares the peer dead, and
  // re-creates the SA at once when the peer deletes it.
  'use-initiator': { start: 'start', dpd: 'restart', close: 'start' },
  // Only answers. A dead peer's SA is cleared, and with it its policies: cleartext resumes.
  'use-responder': { start: 'none', dpd: 'clear', close: 'none' },
  // Towards a roaming peer: nothing to start (no address), nothing to trap; the peer calls.
  'roaming-responder': { start: 'none', dpd: 'clear', close: 'none' },
};

export interface SwanctlInput {
  readonly ctx: RenderContext;
  readonly host: Host;
  readonly connections: readonly MeshConnection[];
  readonly bypass: readonly BypassShunt[];
  readonly enabled: boolean;
  /** Certificate mode: CA files for `remote.cacerts`, host cert file for `local.certs`. */
  readonly caCertFiles: readonly string[];
  readonly hostCertFile: string;
}

export function templateName(meshName: string, what: string): string {
  return `ipsec-mesh_${meshName}_${what}`;
}

export function renderSwanctlConf(input: SwanctlInput): string {
  const { ctx, host, connections, bypass, enabled } = input;
  const mesh = ctx.mesh;
  const m = mesh.name;
  const out: string[] = [];

  const roles = new Set<ChildRole>();
  for (const c of connections) roles.add(c.role);
  out.push(
    `# Managed by ipsec-mesh: mesh "${m}", host "${host.name}". Do not edit: every deploy overwrites this file.`,
    `# layout ${mesh.layout}, auth ${mesh.auth}, mode ${mesh.mode}; ${enabled ? `${connections.length} mesh connection(s)` : 'mesh switched OFF (enabled: false): bypass policies only'}.`,
    `# Defaults shared by the connections below (each references them with "name : default").`,
    '',
  );

  if (connections.length > 0) {
    out.push(connTemplate(input), '');
    for (const role of ['require', 'use-initiator', 'use-responder', 'roaming-responder'] as const) {
      if (roles.has(role)) out.push(roleTemplate(ctx, role), '');
    }
  }
  const pass = templateName(m, 'pass');
  const fallback = templateName(m, 'pass-fallback');
  if (bypass.some((s) => !s.yieldsToMesh)) {
    out.push(`${pass} {`, '\tmode = pass', '\tstart_action = trap', `\tpriority = ${BYPASS_POLICY_PRIORITY}`, '}', '');
  }
  if (bypass.some((s) => s.yieldsToMesh)) {
    out.push(`${fallback} {`, '\tmode = pass', '\tstart_action = trap', `\tpriority = ${FALLBACK_BYPASS_POLICY_PRIORITY}`, '}', '');
  }

  out.push('connections {');
  if (bypass.length > 0) {
    out.push(
      `\t${bypassConnectionName(m)} {`,
      `\t\t# holds shunts only; an address no peer has keeps it out of IKE config lookups`,
      `\t\tremote_addrs = ${SHUNT_REMOTE_ADDRS}`,
      '\t\tchildren {',
    );
    for (const s of bypass) {
      out.push(
        `\t\t\t# ${commentText(s.why)}`,
        `\t\t\t${s.name} : ${s.yieldsToMesh ? fallback : pass} {`,
        `\t\t\t\tlocal_ts = ${s.localTs}`,
        `\t\t\t\tremote_ts = ${s.remoteTs}`,
        '\t\t\t}',
      );
    }
    out.push('\t\t}', '\t}');
  }
  for (const c of connections) out.push(connectionSection(m, c, ctx));
  out.push('}', '');
  return out.join('\n');
}

/** The shared IKE defaults every mesh connection references (`name : ipsec-mesh_<mesh>_conn`). */
function connTemplate(input: SwanctlInput): string {
  const { ctx, host } = input;
  const mesh = ctx.mesh;
  const lt = mesh.lifetimes;
  const certMode = mesh.auth === 'certificate';
  const out = [`${templateName(mesh.name, 'conn')} {`, '\tversion = 2', `\tproposals = ${ctx.ikeProposals}`];
  out.push(
    '\t# retry initiation forever (timeouts only; a peer answering with an error stops it)',
    '\tkeyingtries = 0',
    '\tmobike = no',
    '\t# rekey IKE_SAs, never reauthenticate (reauthentication tears SAs down)',
    '\treauth_time = 0',
    `\trekey_time = ${lt.ikeRekeySeconds}s`,
    `\tdpd_delay = ${lt.dpdDelaySeconds}s`,
  );
  if (certMode) out.push('\t# peers have only the CA: always send our certificate', '\tsend_cert = always');
  out.push('\tlocal {', `\t\tauth = ${certMode ? 'pubkey' : 'psk'}`, `\t\tid = ${ctx.identityValue(host)}`);
  if (certMode) out.push(`\t\tcerts = ${confValue(input.hostCertFile, 'host certificate file')}`);
  out.push('\t}', '\tremote {', `\t\tauth = ${certMode ? 'pubkey' : 'psk'}`);
  if (certMode) out.push(`\t\tcacerts = ${caList(input.caCertFiles, mesh.name, host.name)}`);
  out.push('\t}', '}');
  return out.join('\n');
}

/** The CHILD_SA defaults of one role (how the SA starts and recovers). */
function roleTemplate(ctx: RenderContext, role: ChildRole): string {
  const mesh = ctx.mesh;
  const lt = mesh.lifetimes;
  const a = CHILD_ACTIONS[role];
  return [
    `${templateName(mesh.name, role)} {`,
    `\tmode = ${mesh.mode}`,
    `\tesp_proposals = ${ctx.espProposals}`,
    `\trekey_time = ${lt.childRekeySeconds}s`,
    `\trekey_bytes = ${lt.childRekeyBytes}`,
    `\tpriority = ${MESH_POLICY_PRIORITY}`,
    `\tstart_action = ${a.start}`,
    `\tdpd_action = ${a.dpd}`,
    `\tclose_action = ${a.close}`,
    '}',
  ].join('\n');
}

/** One mesh connection's own section, inside `connections { }`. */
function connectionSection(meshName: string, c: MeshConnection, ctx: Pick<RenderContext, 'hybridIkeProposals' | 'hybridEspProposals'>): string {
  // One string per connection: this runs ~1000 times per host in a big per-peer mesh.
  return (
    `\t${c.name} : ${templateName(meshName, 'conn')} {\n` +
    `\t\tlocal_addrs = ${c.localAddrs}\n` +
    // A family-specific wildcard: IPv6 trap policies of a `%any` connection are refused (EINVAL).
    `\t\tremote_addrs = ${c.remoteAddrs ?? (c.family === 'ipv6' ? '%any6' : '%any4')}\n` +
    (c.forceEncap ? '\t\t# a site of this pair drops ESP (forceUdpEncap): ESP in UDP 4500, NAT or not\n\t\tencap = yes\n' : '') +
    (c.roaming ? '\t\t# an end roams: it re-authenticates from each new address (no MOBIKE: it could move this SA to the other family)\n' : '') +
    (c.ppk === undefined ? '' : `\t\t# post-quantum preshared key (RFC 8784), mixed into the keys of every SA\n\t\tppk_id = ${c.ppk.id}\n\t\tppk_required = ${c.ppk.required ? 'yes' : 'no'}\n`) +
    (c.hybrid ? `\t\t# both ends run strongSwan 6: hybrid ML-KEM key exchange (RFC 9370)\n\t\tproposals = ${ctx.hybridIkeProposals}\n` : '') +
    `\t\tremote {\n\t\t\tid = ${c.remoteId ?? '%any'}\n\t\t}\n` +
    `\t\tchildren {\n` +
    `\t\t\t${c.name} : ${templateName(meshName, c.role)} {\n` +
    (c.hybrid ? `\t\t\t\tesp_proposals = ${ctx.hybridEspProposals}\n` : '') +
    `\t\t\t\tlocal_ts = ${c.localTs}\n` +
    `\t\t\t\tremote_ts = ${c.remoteTs}\n` +
    `\t\t\t}\n\t\t}\n\t}`
  );
}

/**
 * A fingerprint (sha256, hex) per mesh connection over exactly the text swanctl reads for it:
 * its own section and the two templates it references. Equal text, equal fingerprint; the
 * push closes the running IKE_SAs of a connection whose fingerprint changed (charon keeps a
 * running IKE_SA on the configuration it was set up with, across rekeys).
 */
export function connectionFingerprints(input: SwanctlInput): Record<string, string> {
  const m = input.ctx.mesh.name;
  const out: Record<string, string> = {};
  if (input.connections.length === 0) return out;
  const conn = connTemplate(input);
  // The templates are hashed once per role, each connection then hashes only its own section
  // (~1000 connections per host in a big per-peer mesh).
  const templates = new Map<ChildRole, string>();
  for (const c of input.connections) {
    let t = templates.get(c.role);
    if (t === undefined) {
      t = createHash('sha256').update(`${conn}\n${roleTemplate(input.ctx, c.role)}\n`).digest('hex');
      templates.set(c.role, t);
    }
    out[c.name] = createHash('sha256').update(`${t}\n${connectionSection(m, c, input.ctx)}\n`).digest('hex');
  }
  return out;
}

function caList(files: readonly string[], meshName: string, hostName: string): string {
  if (files.length === 0) {
    throw new RenderError('certificate mode needs at least one trusted CA file', { code: 'bad-ca-file', mesh: meshName, host: hostName });
  }
  for (const f of files) {
    // The list is comma-separated and unquoted per entry: commas or blanks would split or break it.
    if (f === '' || /[\s,"#{}]/.test(f)) {
      throw new RenderError(`CA file name ${JSON.stringify(f)} cannot appear in a cacerts list`, { code: 'bad-ca-file', mesh: meshName, host: hostName });
    }
  }
  return files.join(',');
}
