// The rollout gate's host script (scripts/rollout-gate.sh): installed by every push beside
// the liveness monitor it reads (render/monitor-files.ts), run by the gate command after a
// push in a staged rollout (delivery/rollout-gate.ts). A file on the host, so the command
// Pulumi prints when a gate fails is one line, not the script.
import { readFileSync } from 'node:fs';

export const ROLLOUT_GATE_SCRIPT = readFileSync(new URL('./scripts/rollout-gate.sh', import.meta.url), 'utf8');

/** Where the push installs the gate script (0644: run as `/bin/sh <path>`). */
export function rolloutGatePath(mesh: string): string {
  return `/etc/swanctl/ipsec-mesh_${mesh}_gate.sh`;
}
