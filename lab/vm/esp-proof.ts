// What the main job shows on the vm lab after `pulumi up`: charon's CHILD_SAs (INSTALLED,
// TRANSPORT, the default proposals), the kernel's SAs (mode transport), and the payload probe
// per address family with its ESP count and zero plaintext occurrences.
import { formatProbe, probePayload, type PayloadProbe } from './payload-probe.js';
import type { VmLab } from './vm-lab.js';

export interface EspProof {
  readonly from: string;
  readonly to: string;
  readonly listSas: string;
  readonly xfrmState: string;
  readonly probes: readonly PayloadProbe[];
  readonly ok: boolean;
  /** Why `ok` is false, one line each. */
  readonly problems: readonly string[];
}

/** Hides key material in `ip xfrm state` output (long hex strings). */
export function maskXfrmKeys(text: string): string {
  return text.replace(/0x[0-9a-f]{16,}/gi, (k) => `0x${'…'}(${(k.length - 2) / 2} bytes)`);
}

/** The pair the proof uses: the first host and the first one in another site (else the second). */
export function proofPair(lab: VmLab): { from: string; to: string } {
  const [a, ...others] = lab.hosts;
  if (!a || others.length === 0) throw new Error(`lab "${lab.name}" needs two hosts for the wire proof`);
  const b = others.find((h) => h.site !== a.site) ?? others[0]!;
  return { from: a.name, to: b.name };
}

export async function espProof(lab: VmLab, pair = proofPair(lab)): Promise<EspProof> {
  const listSas = (await lab.swanctl(pair.from, ['--list-sas'], { check: true })).stdout;
  const xfrmState = maskXfrmKeys((await lab.exec(pair.from, ['ip', 'xfrm', 'state'], { check: true })).stdout);
  const families = (['ipv4', 'ipv6'] as const).filter((f) => lab.host(pair.from)[f].length > 0 && lab.host(pair.to)[f].length > 0);
  const probes: PayloadProbe[] = [];
  for (const family of families) probes.push(await probePayload(lab, { ...pair, family }));
  const problems: string[] = [];
  if (!/INSTALLED, TRANSPORT/.test(listSas)) problems.push(`${pair.from}: no CHILD_SA is INSTALLED, TRANSPORT`);
  if (!/mode transport/.test(xfrmState)) problems.push(`${pair.from}: no kernel SA in mode transport`);
  for (const p of probes) {
    if (p.wire.esp === 0) problems.push(`${p.family}: no ESP frame between ${p.fromAddress} and ${p.toAddress}`);
    if (p.wire.plaintextOccurrences > 0) problems.push(`${p.family}: the payload crossed the bridge in cleartext ${p.wire.plaintextOccurrences}×`);
    if (!p.received) problems.push(`${p.family}: ${p.to} received nothing`);
  }
  return { ...pair, listSas, xfrmState, probes, ok: problems.length === 0, problems };
}

export function formatEspProof(p: EspProof): string {
  return [
    `--- ${p.from}: swanctl --list-sas`,
    p.listSas.trimEnd(),
    `--- ${p.from}: ip xfrm state (keys hidden)`,
    p.xfrmState.trimEnd(),
    `--- payload ${p.from} → ${p.to}, captured on the bridge in the switch namespace`,
    ...p.probes.map(formatProbe),
    p.ok ? 'wire proof: OK — transport-mode ESP, no plaintext on the wire' : `wire proof: FAILED\n  ${p.problems.join('\n  ')}`,
  ].join('\n');
}
