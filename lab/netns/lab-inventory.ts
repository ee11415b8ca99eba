import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { parseInventory } from '../../components/inventory/index.js';
import type { HostInput, InventoryInput, MeshInput, RuleInput, SiteInput } from '../../components/inventory/index.js';
import type { LabHost } from './lab.js';
import type { ResolvedLabSpec } from './lab-spec.js';

// The inventory (docs/inventory.md) that describes a lab's hosts as ipsec-mesh sees them:
// addresses, sites with their subnets as prefixes, and SSH access pinned to each sshd's key.

/** What the inventory is built from: a Lab, a vm lab (lab/vm), or anything shaped like one. */
export interface LabInventorySource {
  readonly name: string;
  readonly spec: ResolvedLabSpec;
  readonly hosts: readonly (Pick<LabHost, 'name' | 'site' | 'ipv4' | 'ipv6' | 'sshHostKey'> & { readonly publicIpv4?: readonly string[] })[];
}

export interface LabInventoryOptions {
  /** Mesh settings; `name` defaults to the lab's name. */
  readonly mesh?: Partial<MeshInput>;
  /** Pair rules; default: one full mesh of every host. */
  readonly rules?: readonly RuleInput[];
  /** Only these hosts (default all). */
  readonly hosts?: readonly string[];
  /** Pinned SSH host keys to write instead of the ones the hosts have (a test of key pinning), by host name. */
  readonly sshHostKeys?: Readonly<Record<string, string>>;
  /** Extra per-site fields (mtu, enforcement), by site name. */
  readonly siteFields?: Readonly<Record<string, Partial<Omit<SiteInput, 'name' | 'prefixes'>>>>;
  /** Hosts written as roaming (`addresses: dynamic`), reached over SSH at their lab address. */
  readonly roamingHosts?: readonly string[];
  /** Extra per-host fields (cluster, tags, identity…), by host name. */
  readonly hostFields?: Readonly<Record<string, Partial<Omit<HostInput, 'name' | 'site' | 'addresses' | 'ssh'>>>>;
}

/** The lab as an InventoryInput (typed object; `parseInventory` accepts it as is). */
export function labInventory(lab: LabInventorySource, opts: LabInventoryOptions = {}): InventoryInput {
  const wanted = opts.hosts ? new Set(opts.hosts) : undefined;
  const hosts = lab.hosts.filter((h) => !wanted || wanted.has(h.name));
  const siteNames = new Set(hosts.map((h) => h.site));
  const sites: SiteInput[] = lab.spec.sites
    .filter((s) => siteNames.has(s.name))
    .map((s) => ({ name: s.name, ...opts.siteFields?.[s.name], prefixes: [s.ipv4?.cidr, s.ipv6?.cidr].filter((p): p is string => p !== undefined) }));
  return {
    mesh: { name: lab.name, ...opts.mesh },
    sites,
    hosts: hosts.map((h) => ({
      name: h.name,
      site: h.site,
      ...opts.hostFields?.[h.name],
      // A host of a site behind the lab router's 1:1 NAT declares its public address too.
      addresses: opts.roamingHosts?.includes(h.name)
        ? ('dynamic' as const)
        : {
            ...(h.ipv4.length && { ipv4: h.ipv4.map((a, i) => (h.publicIpv4?.[i] === undefined ? a : { address: a, public: h.publicIpv4[i] })) }),
            ...(h.ipv6.length && { ipv6: [...h.ipv6] }),
          },
      // An unmanaged host (managed: false) takes no ssh: ipsec-mesh never logs in to it.
      ...(opts.hostFields?.[h.name]?.managed === false
        ? {}
        : { ssh: { host: h.ipv4[0] ?? h.ipv6[0]!, port: 22, user: 'root', ...((opts.sshHostKeys?.[h.name] ?? h.sshHostKey) && { hostKey: opts.sshHostKeys?.[h.name] ?? h.sshHostKey }) } }),
    })),
    rules: opts.rules ? [...opts.rules] : [{ mesh: { sites: [...siteNames] } }],
  };
}

/** The lab inventory as YAML, checked with parseInventory first (a broken one throws InventoryError). */
export function labInventoryYaml(lab: LabInventorySource, opts: LabInventoryOptions = {}): string {
  const input = labInventory(lab, opts);
  parseInventory(input, `lab ${lab.name}`);
  return `# ipsec-mesh inventory of lab "${lab.name}", written by lab/netns (docs/lab.md)\n${yaml.dump(input, { lineWidth: 200, noRefs: true })}`;
}

/** Writes the lab inventory (default `<state root>/inventory.yaml`) and returns its path. */
export function writeLabInventory(lab: LabInventorySource & { readonly stateRoot: string }, opts: LabInventoryOptions & { readonly file?: string } = {}): string {
  const file = opts.file ?? join(lab.stateRoot, 'inventory.yaml');
  writeFileSync(file, labInventoryYaml(lab, opts));
  return file;
}
