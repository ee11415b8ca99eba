// The rollout gate's command and stdin. The script itself (operations/scripts/rollout-gate.sh,
// checked by shellcheck) is installed by every push; the command only runs it, so a failing
// gate's error is its message, not pages of script. Its input is one record per line, checked
// here and again on the host, so a bad name can never become shell syntax.
import { createHash } from 'node:crypto';
import type { AddressFamily } from '../inventory/model.js';
import { DeliveryError } from './delivery-error.js';
import { checkConnectionName, checkLabel } from './delivery-path.js';
import { rolloutGatePath } from '../operations/rollout-gate-script.js';
import { remoteCommand } from './remote-shell.js';

/** What the gate waits for on each pair/family: an ESTABLISHED IKE_SA, or an INSTALLED CHILD_SA too. */
export type RolloutGateLevel = 'ike' | 'child';

export interface GateTarget {
  readonly peer: string;
  readonly family: AddressFamily;
  readonly connection: string;
  /** The peer's address the pair uses (probed with a ping in the compact layout). */
  readonly remote: string;
  readonly layout: 'per-peer' | 'compact';
  /** `later`: the peer's wave comes after this host's, so the pair is checked only if it was deployed before. */
  readonly wave: 'earlier' | 'later';
}

export interface GateInput {
  readonly host: string;
  readonly mesh: string;
  readonly level: RolloutGateLevel;
  readonly waitSeconds: number;
  /** Digest of the push's stdin: the gate's input changes, so it runs again, whenever the push does. */
  readonly payloadDigest: string;
  readonly targets: readonly GateTarget[];
}

export const GATE_MAGIC = 'ipsec-mesh-gate 1';

/** The command string of a host's gate (create and update): runs the installed script. No secret. */
export function rolloutGateScript(host: string, mesh: string): string {
  checkLabel(host, 'host name', host);
  checkLabel(host, 'mesh name', mesh);
  const path = rolloutGatePath(mesh);
  // `--root DIR` (the tests' hook) prefixes the path as it does every other.
  const run = [
    `f=${path}`,
    'if [ "$#" = 2 ] && [ "$1" = --root ]; then f=$2$f; fi',
    `[ -f "$f" ] || { echo "${host}: no rollout gate script at ${path}: the push installs it" >&2; exit 1; }`,
    'exec /bin/sh "$f" "$@"',
  ].join('\n');
  return remoteCommand(host, 'gate', run);
}

/** A one-way digest of a push payload (which may carry secrets): sha256 hex. */
export function payloadDigest(payload: string): string {
  return createHash('sha256').update(payload).digest('hex');
}

const ADDRESS = /^[0-9A-Fa-f:.]+$/;

/** The gate's stdin. Throws DeliveryError on anything the script would refuse. */
export function gateInput(input: GateInput): string {
  const { host } = input;
  checkLabel(host, 'host name', host);
  checkLabel(host, 'mesh name', input.mesh);
  if (!Number.isInteger(input.waitSeconds) || input.waitSeconds < 1) throw new DeliveryError(host, `gate wait must be whole seconds ≥ 1, got ${input.waitSeconds}`);
  if (!/^[0-9a-f]{64}$/.test(input.payloadDigest)) throw new DeliveryError(host, 'gate payload digest must be 64 hex digits');
  const lines = [GATE_MAGIC, `H ${host}`, `M ${input.mesh}`, `L ${input.level}`, `W ${input.waitSeconds}`, `P ${input.payloadDigest}`];
  for (const t of input.targets) {
    checkLabel(host, 'peer name', t.peer);
    checkConnectionName(host, t.connection);
    if (!ADDRESS.test(t.remote)) throw new DeliveryError(host, `gate target ${t.peer}: ${JSON.stringify(t.remote)} is not an address`);
    lines.push(`T ${t.peer} ${t.family} ${t.connection} ${t.remote} ${t.layout} ${t.wave}`);
  }
  lines.push(`END ${input.targets.length}`);
  return `${lines.join('\n')}\n`;
}
