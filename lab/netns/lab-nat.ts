import { LabPrerequisiteError } from './lab-errors.js';
import { routerNetns, routerSiteIf } from './lab-names.js';
import type { ResolvedLabSpec, ResolvedSite } from './lab-spec.js';
import { run, runOk } from './run-command.js';

// The lab's stand-in for a cloud provider's network: a site with `nat` sits behind 1:1 IPv4
// NAT done by the lab router, and with `dropEsp` the router also drops IP protocol 50 to and
// from it. One nftables table per NAT site, in the ROUTER namespace only: it lives and dies
// with that namespace, the root namespace never gets a rule.

/** nft table of a NAT site (family inet), in the router namespace. */
export const natTable = (siteIndex: number): string => `imlab_nat_site${siteIndex}`;
/** Named counter (in natTable) of the ESP packets the router dropped for the site. */
export const ESP_DROP_COUNTER = 'esp_dropped';

/** The nftables ruleset (`nft -f` text) for one NAT site; '' when the site has no nat. */
export function natRuleset(spec: ResolvedLabSpec, site: ResolvedSite): string {
  if (!site.nat) return '';
  const dev = routerSiteIf(site.index);
  const hosts = spec.hosts.filter((h) => h.site === site.name);
  const pairs = hosts.flatMap((h) => h.ipv4.map((priv, k) => ({ host: h.name, priv, pub: h.publicIpv4[k]! })));
  const lines = [
    `table inet ${natTable(site.index)} {`,
    `  # site ${site.name}: private ${site.ipv4?.cidr ?? '?'} <-> public ${site.nat.ipv4.cidr}, 1:1 by offset`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    ...pairs.map((p) => `    ip daddr ${p.pub} dnat ip to ${p.priv} comment "${p.host}"`),
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    ...pairs.map((p) => `    oifname != "${dev}" ip saddr ${p.priv} snat ip to ${p.pub} comment "${p.host}"`),
    `  }`,
  ];
  if (site.nat.dropEsp) {
    lines.push(
      `  counter ${ESP_DROP_COUNTER} {`,
      `  }`,
      `  chain forward {`,
      `    type filter hook forward priority filter; policy accept;`,
      `    iifname "${dev}" meta l4proto esp counter name "${ESP_DROP_COUNTER}" drop`,
      `    oifname "${dev}" meta l4proto esp counter name "${ESP_DROP_COUNTER}" drop`,
      `  }`,
    );
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** Loads every NAT site's ruleset into the router namespace (one `nft -f -` per site). */
export async function applyNat(spec: ResolvedLabSpec): Promise<void> {
  const natSites = spec.sites.filter((s) => s.nat);
  if (natSites.length === 0) return;
  if ((await run(['sh', '-c', 'command -v nft'])).code !== 0) {
    throw new LabPrerequisiteError(['nft (Debian package nftables), for the sites with nat']);
  }
  const rt = routerNetns(spec.name);
  for (const site of natSites) {
    await runOk(['ip', 'netns', 'exec', rt, 'nft', '-f', '-'], { stdin: natRuleset(spec, site), context: `loading site ${site.name}'s NAT rules into the router` });
  }
}

/** How many ESP packets the router dropped for `siteName` so far (its ESP_DROP_COUNTER). */
export async function espDropCount(spec: ResolvedLabSpec, siteName: string): Promise<number> {
  const site = spec.sites.find((s) => s.name === siteName);
  if (!site?.nat?.dropEsp) throw new Error(`site "${siteName}" of lab "${spec.name}" does not drop ESP`);
  const stdout = await runOk(['ip', 'netns', 'exec', routerNetns(spec.name), 'nft', '-j', 'list', 'counter', 'inet', natTable(site.index), ESP_DROP_COUNTER], {
    context: `reading site ${siteName}'s ESP drop counter`,
  });
  const parsed = JSON.parse(stdout) as { nftables: { counter?: { packets: number } }[] };
  const counter = parsed.nftables.find((e) => e.counter)?.counter;
  if (!counter) throw new Error(`no counter ${ESP_DROP_COUNTER} in the router's table ${natTable(site.index)}`);
  return counter.packets;
}
