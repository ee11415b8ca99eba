// Kernel settings for the mesh, as a sysctl.d file (applied by systemd-sysctl at boot and
// by `sysctl --system`). Comments carry the inner MTU / MSS numbers for the host's links.
import type { AddressFamily } from '../inventory/model.js';
import type { MtuPlan } from './link-mtu.js';

export interface SysctlInput {
  readonly meshName: string;
  readonly hostName: string;
  readonly families: readonly AddressFamily[];
  readonly xfrmGcThresh: number;
  readonly espProposals: string;
  readonly mtu: MtuPlan;
}

const LABEL: Readonly<Record<AddressFamily, string>> = { ipv4: 'IPv4', ipv6: 'IPv6' };

export function renderSysctlConf(input: SysctlInput): string {
  const { mtu } = input;
  const lines = [
    `# Managed by ipsec-mesh: mesh "${input.meshName}", host "${input.hostName}". Do not edit: every deploy overwrites this file.`,
    '# XFRM dst cache garbage collection starts at this many entries (kernels 3.7-3.13 defaulted',
    '# to 1024 and dropped SAs under load; newer kernels default to 32768).',
  ];
  // IPv4's is always set (harmless without IPv4 addresses); IPv6's only where IPv6 exists.
  lines.push(`net.ipv4.xfrm4_gc_thresh = ${input.xfrmGcThresh}`);
  if (input.families.includes('ipv6')) lines.push(`net.ipv6.xfrm6_gc_thresh = ${input.xfrmGcThresh}`);
  lines.push(
    '# ESP makes packets bigger; when an ICMP "too big" is lost on the way, TCP probes the path',
    '# MTU itself instead of stalling (1 = only after a black hole is detected; IPv4 and IPv6).',
    'net.ipv4.tcp_mtu_probing = 1',
    '#',
    `# ESP overhead per packet with esp_proposals ${input.espProposals}, ${mtu.mode} mode${mtu.natT ? ', NAT-T assumed' : ''}:`,
  );
  for (const f of input.families) lines.push(`#   ${LABEL[f]}: up to ${mtu.overhead[f]} bytes`);
  if (mtu.links.length > 0) {
    lines.push('# Largest inner packet (MTU) and TCP MSS that fit the links to peers; the mesh\'s nftables');
    lines.push('# table clamps TCP MSS to these on the links mssClamp covers (see docs/render.md, "MTU"):');
    for (const link of mtu.links) {
      const per = link.families.map((x) => `${LABEL[x.family]} MTU ${x.innerMtu} / MSS ${x.mss}`).join(', ');
      lines.push(`#   to site ${link.site} (link MTU ${link.linkMtu}): ${per}`);
    }
  }
  lines.push('');
  return lines.join('\n');
}
