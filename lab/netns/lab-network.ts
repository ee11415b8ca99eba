import { readdirSync } from 'node:fs';
import {
  HOST_IF,
  OPERATOR_IF,
  ROUTER_OPERATOR_IF,
  hostNetns,
  hostPort,
  operatorNetns,
  routerNetns,
  routerPort,
  routerSiteIf,
  siteBridge,
  switchNetns,
} from './lab-names.js';
import { applyNat } from './lab-nat.js';
import type { ResolvedLabSpec, ResolvedSubnet } from './lab-spec.js';
import { run, runOk } from './run-command.js';

// The wire: every object lives in a lab-owned namespace; the root namespace gets nothing
// but the /run/netns/<name> handles that `ip netns add` makes.
//
//   host ns (eth0) ──veth── h<j> ┐
//                                ├ br<i>  (switch ns, one bridge per site)
//   router ns (site<i>) ──veth── r<i> ┘
//   router ns (op0) ──veth── operator ns (eth0)
//
// Hosts route everything via the router, so cross-site pairs cross a real IP hop. A site
// with `nat` is reached at its public addresses: the router translates 1:1 (lab-nat.ts).

export const NETNS_DIR = '/run/netns';

export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

/** Runs `ip` commands in one namespace with one process (`ip -n NS -batch -`). */
export async function ipBatch(netns: string, lines: readonly string[], context: string): Promise<void> {
  if (lines.length === 0) return;
  await runOk(['ip', '-n', netns, '-batch', '-'], { stdin: `${lines.join('\n')}\n`, context });
}

/** Sets sysctls inside a namespace (/proc/sys/net is per network namespace). */
async function sysctlIn(netns: string, settings: readonly string[], context: string): Promise<void> {
  await runOk(['nsenter', `--net=${NETNS_DIR}/${netns}`, '--', 'sysctl', '-q', '-w', ...settings], { context });
}

const withPrefix = (address: string, subnet: ResolvedSubnet): string => `${address}/${subnet.prefixLength}`;

export interface BuildNetworkOptions {
  /**
   * Make a namespace and a veth per host (default true). The vm lab passes false: its hosts
   * are guests whose tap devices it plugs into the site bridges itself.
   */
  readonly hosts?: boolean;
}

/**
 * Creates every namespace, bridge, veth, address and route of the lab. `created` is
 * called for each namespace as soon as it exists, so a failure part-way can be undone.
 */
export async function buildNetwork(spec: ResolvedLabSpec, created: (netns: string) => void, opts: BuildNetworkOptions = {}): Promise<void> {
  const lab = spec.name;
  const sw = switchNetns(lab);
  const rt = routerNetns(lab);
  const op = operatorNetns(lab);
  const hosts = opts.hosts === false ? [] : spec.hosts;
  const all = [sw, rt, op, ...hosts.map((h) => hostNetns(lab, h.name))];

  for (const name of all) {
    // One by one: concurrent first-time `ip netns add` calls race on mounting /run/netns,
    // and each namespace is recorded the moment it exists.
    await runOk(['ip', 'netns', 'add', name], { context: `creating namespace ${name}` });
    created(name);
  }

  // No IPv6 on the switch: its bridges and ports are plain L2, silent on the wire.
  await Promise.all([
    sysctlIn(sw, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], 'switch sysctls'),
    sysctlIn(rt, ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv6.conf.default.accept_dad=0'], 'router sysctls'),
  ]);

  await ipBatch(
    sw,
    spec.sites.flatMap((s) => [
      `link add ${siteBridge(s.index)} type bridge stp_state 0 mcast_snooping 0`,
      `link set ${siteBridge(s.index)} up`,
    ]),
    'creating site bridges',
  );

  const routerLines = spec.sites.flatMap((s) => [
    `link add ${routerSiteIf(s.index)} type veth peer name ${routerPort(s.index)} netns ${sw}`,
    ...(s.ipv4 ? [`addr add ${withPrefix(s.ipv4.gateway, s.ipv4)} dev ${routerSiteIf(s.index)}`] : []),
    ...(s.ipv6 ? [`addr add ${withPrefix(s.ipv6.gateway, s.ipv6)} dev ${routerSiteIf(s.index)} nodad`] : []),
    `link set ${routerSiteIf(s.index)} up`,
  ]);
  const o = spec.operator;
  routerLines.push(
    `link add ${ROUTER_OPERATOR_IF} type veth peer name ${OPERATOR_IF} netns ${op}`,
    ...(o.ipv4 ? [`addr add ${withPrefix(o.ipv4.gateway, o.ipv4)} dev ${ROUTER_OPERATOR_IF}`] : []),
    ...(o.ipv6 ? [`addr add ${withPrefix(o.ipv6.gateway, o.ipv6)} dev ${ROUTER_OPERATOR_IF} nodad`] : []),
    `link set ${ROUTER_OPERATOR_IF} up`,
    'link set lo up',
  );

  const hostBatches = hosts.map((h) => {
    const site = spec.sites.find((s) => s.name === h.site);
    if (!site) throw new Error(`host ${h.name}: unknown site ${h.site}`); // resolveLabSpec rules this out
    const lines = [
      'link set lo up',
      `link add ${HOST_IF} type veth peer name ${hostPort(h.index)} netns ${sw}`,
      ...h.ipv4.map((a) => `addr add ${withPrefix(a, site.ipv4!)} dev ${HOST_IF}`),
      ...h.ipv6.map((a) => `addr add ${withPrefix(a, site.ipv6!)} dev ${HOST_IF} nodad`),
      `link set ${HOST_IF} up`,
      // onlink: the route does not wait for the switch side of the veth to come up.
      ...(h.ipv4.length && site.ipv4 ? [`route add 0.0.0.0/0 via ${site.ipv4.gateway} dev ${HOST_IF} onlink`] : []),
      ...(h.ipv6.length && site.ipv6 ? [`route add ::/0 via ${site.ipv6.gateway} dev ${HOST_IF} onlink`] : []),
    ];
    return ipBatch(hostNetns(lab, h.name), lines, `wiring host ${h.name}`);
  });
  await Promise.all([ipBatch(rt, routerLines, 'wiring the router'), ...hostBatches]);

  await Promise.all([
    ipBatch(
      sw,
      [
        ...spec.sites.flatMap((s) => [
          `link set ${routerPort(s.index)} master ${siteBridge(s.index)}`,
          `link set ${routerPort(s.index)} up`,
        ]),
        ...hosts.flatMap((h) => {
          const site = spec.sites.find((s) => s.name === h.site)!;
          return [`link set ${hostPort(h.index)} master ${siteBridge(site.index)}`, `link set ${hostPort(h.index)} up`];
        }),
      ],
      'plugging ports into the bridges',
    ),
    ipBatch(
      op,
      [
        'link set lo up',
        ...(o.ipv4 ? [`addr add ${withPrefix(o.ipv4.address, o.ipv4)} dev ${OPERATOR_IF}`] : []),
        ...(o.ipv6 ? [`addr add ${withPrefix(o.ipv6.address, o.ipv6)} dev ${OPERATOR_IF} nodad`] : []),
        `link set ${OPERATOR_IF} up`,
        ...(o.ipv4 ? [`route add 0.0.0.0/0 via ${o.ipv4.gateway} dev ${OPERATOR_IF} onlink`] : []),
        ...(o.ipv6 ? [`route add ::/0 via ${o.ipv6.gateway} dev ${OPERATOR_IF} onlink`] : []),
      ],
      'wiring the operator namespace',
    ),
  ]);

  // Sites with `nat`: 1:1 NAT (and ESP filtering) by nftables in the router namespace.
  await applyNat(spec);
}

/** Deletes the named namespaces; missing ones are fine (down is safe to run twice). */
export async function deleteNetns(names: readonly string[]): Promise<string[]> {
  const present = new Set(listNetns());
  const failures: string[] = [];
  for (const name of names) {
    if (!present.has(name)) continue;
    const r = await run(['ip', 'netns', 'delete', name]);
    if (r.code !== 0) failures.push(`${name}: ${r.stderr.trim()}`);
  }
  return failures;
}
