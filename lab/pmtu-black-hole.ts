// A PMTU black hole between the lab's sites: the router forwards at most `mtu` bytes from one
// site to another (a locked route MTU per site prefix, like a smaller WAN link), and its ICMP
// "fragmentation needed" / "packet too big" to the sites' hosts are dropped, as a firewall on
// the path would. The operator's own traffic keeps its ICMP (only the sites' prefixes lose
// it), so SSH and `pulumi up` still find the path MTU.
import { runOk } from './netns/run-command.js';
import type { ResolvedLabSpec } from './netns/lab-spec.js';
import { routerSiteIf } from './netns/lab-names.js';
import { ipBatch } from './netns/lab-network.js';

export interface PmtuBlackHole {
  /** ICMP too-big messages the router generated and dropped so far (IPv4 + IPv6). */
  droppedTooBig(): Promise<number>;
  /** Puts the routes back and deletes the drop table. */
  restore(): Promise<void>;
}

interface LabWithRouter {
  readonly name: string;
  readonly spec: ResolvedLabSpec;
  readonly routerNetns: string;
}

const TABLE = 'inet imlab_pmtu_black_hole';

function routeLines(spec: ResolvedLabSpec, mtu: number | undefined): string[] {
  const lock = mtu === undefined ? '' : ` mtu lock ${mtu}`;
  return spec.sites.flatMap((s) => [
    ...(s.ipv4 ? [`route replace ${s.ipv4.cidr} dev ${routerSiteIf(s.index)} proto kernel scope link src ${s.ipv4.gateway}${lock}`] : []),
    ...(s.ipv6 ? [`route replace ${s.ipv6.cidr} dev ${routerSiteIf(s.index)} proto kernel metric 256${lock}`] : []),
  ]);
}

/** Narrows every inter-site path to `mtu` bytes and drops the router's too-big ICMP to the sites. */
export async function makePmtuBlackHole(lab: LabWithRouter, mtu: number): Promise<PmtuBlackHole> {
  const v4 = lab.spec.sites.flatMap((s) => (s.ipv4 ? [s.ipv4.cidr] : []));
  const v6 = lab.spec.sites.flatMap((s) => (s.ipv6 ? [s.ipv6.cidr] : []));
  const nft = [
    `table ${TABLE} {`,
    '\tchain output {',
    '\t\ttype filter hook output priority filter; policy accept;',
    ...(v4.length ? [`\t\tip daddr { ${v4.join(', ')} } icmp type destination-unreachable icmp code frag-needed counter drop`] : []),
    ...(v6.length ? [`\t\tip6 daddr { ${v6.join(', ')} } icmpv6 type packet-too-big counter drop`] : []),
    '\t}',
    '}',
    '',
  ].join('\n');
  await runOk(['ip', 'netns', 'exec', lab.routerNetns, 'nft', '-f', '-'], { stdin: nft, context: 'the router\'s ICMP drop table' });
  await ipBatch(lab.routerNetns, routeLines(lab.spec, mtu), `narrowing the router's site routes to MTU ${mtu}`);
  return {
    async droppedTooBig() {
      const text = await runOk(['ip', 'netns', 'exec', lab.routerNetns, 'nft', 'list', 'table', ...TABLE.split(' ')], { context: 'reading the drop counters' });
      return [...text.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    },
    async restore() {
      await ipBatch(lab.routerNetns, routeLines(lab.spec, undefined), "restoring the router's site routes");
      await runOk(['ip', 'netns', 'exec', lab.routerNetns, 'nft', 'delete', 'table', ...TABLE.split(' ')], { context: 'deleting the ICMP drop table' });
    },
  };
}
