// Validation and normalisation: unknown input → Inventory, or an InventoryError listing every
// problem. The whole document is checked by one zod schema; only when it fails are the
// elements that passed re-parsed one by one, so the cross-field checks still run on them.
import * as z from 'zod';
import {
  DEFAULT_AUTH,
  DEFAULT_ENFORCEMENT,
  DEFAULT_ESP_PROPOSALS,
  DEFAULT_LAYOUT,
  DEFAULT_LIFETIMES,
  DEFAULT_MODE,
  DEFAULT_NETWORK,
  DEFAULT_PROPOSALS,
  DEFAULT_SITE_MTU,
  DEFAULT_SSH_PORT,
  DEFAULT_SSH_USER,
  DEFAULT_XFRM_GC_THRESH,
} from './defaults.js';
import { checkInventory, defaultFqdn, type CheckInput, type Located } from './inventory-checks.js';
import { formatPath, InventoryError, type InventoryIssue, type PathSegment } from './inventory-error.js';
import {
  hostSchema,
  inventorySchema,
  meshSchema,
  ruleSchema,
  siteSchema,
  type AddressEntry,
  type HostParsed,
  type MeshParsed,
  type RuleParsed,
  type SelectorParsed,
  type SiteParsed,
} from './inventory-schema.js';
import type { Host, HostAddress, HostSelector, Inventory, MeshSettings, PairRule, Site } from './model.js';
import { describeValue, fromZodIssues, zodErrorMap, type RawIssue } from './zod-issues.js';

/** Maps an issue path to a 1-based source line (YAML input only). */
export type LineLocator = (path: readonly PathSegment[]) => number | undefined;

/** Validates and normalises an inventory given as data (typed `InventoryInput`, parsed JSON…). */
export function parseInventory(input: unknown, source = '<object>'): Inventory {
  return buildInventory(input, source, undefined);
}

/** Shared by the YAML loader, which supplies line numbers. */
export function buildInventory(input: unknown, source: string, lineOf: LineLocator | undefined): Inventory {
  const fail = (raw: readonly RawIssue[]): never => {
    const issues: InventoryIssue[] = raw.map((r) => {
      const line = lineOf?.(r.path);
      return { file: source, path: formatPath(r.path), ...(line === undefined ? {} : { line }), message: r.message };
    });
    // Stable: issues on one line keep the order they were found in.
    if (lineOf !== undefined) issues.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    throw new InventoryError(source, issues);
  };

  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return fail([{ path: [], message: `the inventory must be a mapping with mesh, sites, hosts and rules, got ${describeValue(input)}` }]);
  }
  const whole = inventorySchema.safeParse(input, { error: zodErrorMap });
  let checkInput: CheckInput;
  let schemaIssues: RawIssue[] = [];
  if (whole.success) {
    const d = whole.data;
    const at = <T>(value: T, index: number): Located<T> => ({ value, index });
    checkInput = {
      mesh: d.mesh,
      sites: d.sites.map(at),
      hosts: d.hosts.map(at),
      rules: d.rules.map(at),
      incomplete: { mesh: false, sites: false, hosts: false, rules: false },
      tainted: { sites: new Set(), hosts: new Set(), clusters: new Set(), tags: new Set() },
    };
  } else {
    schemaIssues = fromZodIssues(whole.error.issues);
    checkInput = salvage(input as Record<string, unknown>, schemaIssues);
  }
  const issues = [...schemaIssues, ...checkInventory(checkInput)];
  if (issues.length > 0 || !whole.success) return fail(issues);
  return normalise(whole.data, source);
}

/** The elements that passed the schema (re-parsed alone), and the names the others carry. */
function salvage(raw: Record<string, unknown>, issues: readonly RawIssue[]): CheckInput {
  const failed = new Set<string>(); // 'mesh', 'hosts', 'hosts.3', …
  for (const { path } of issues) {
    const [section, index] = path;
    if (typeof section !== 'string') continue;
    failed.add(typeof index === 'number' ? `${section}.${index}` : section);
  }
  const tainted = { sites: new Set<string>(), hosts: new Set<string>(), clusters: new Set<string>(), tags: new Set<string>() };
  const incomplete = { mesh: failed.has('mesh'), sites: false, hosts: false, rules: false };
  const section = <T>(name: 'sites' | 'hosts' | 'rules', schema: z.ZodType<T>, taint: (el: Record<string, unknown>) => void): Located<T>[] => {
    const list = raw[name];
    if (!Array.isArray(list) || failed.has(name)) {
      incomplete[name] = true;
      return [];
    }
    const out: Located<T>[] = [];
    list.forEach((el: unknown, index) => {
      if (failed.has(`${name}.${index}`)) {
        incomplete[name] = true;
        if (el !== null && typeof el === 'object') taint(el as Record<string, unknown>);
        return;
      }
      const r = schema.safeParse(el);
      if (r.success) out.push({ value: r.data, index });
      else incomplete[name] = true; // cannot happen: it passed as part of the whole
    });
    return out;
  };
  const str = (v: unknown, into: Set<string>): void => {
    if (typeof v === 'string') into.add(v);
  };
  const sites = section<SiteParsed>('sites', siteSchema, (s) => str(s['name'], tainted.sites));
  const hosts = section<HostParsed>('hosts', hostSchema, (h) => {
    str(h['name'], tainted.hosts);
    str(h['cluster'], tainted.clusters);
    if (Array.isArray(h['tags'])) for (const t of h['tags']) str(t, tainted.tags);
  });
  const rules = section<RuleParsed>('rules', ruleSchema, () => undefined);
  let mesh: MeshParsed | undefined;
  if (!incomplete.mesh) {
    const r = meshSchema.safeParse(raw['mesh']);
    if (r.success) mesh = r.data;
    else incomplete.mesh = true;
  }
  return { mesh, sites, hosts, rules, incomplete, tainted };
}

type InventoryParsed = z.output<typeof inventorySchema>;

function normalise(d: InventoryParsed, source: string): Inventory {
  const m = d.mesh;
  const mesh: MeshSettings = {
    name: m.name,
    ...(m.domain === undefined ? {} : { domain: m.domain }),
    layout: m.layout ?? DEFAULT_LAYOUT,
    auth: m.auth ?? DEFAULT_AUTH,
    mode: m.mode ?? DEFAULT_MODE,
    enforcement: m.enforcement ?? DEFAULT_ENFORCEMENT,
    pairOverrides: (m.pairOverrides ?? []).map((o) => ({ hosts: [o.hosts[0], o.hosts[1]] as const, enforcement: o.enforcement })),
    proposals: m.proposals ?? [...DEFAULT_PROPOSALS],
    espProposals: m.espProposals ?? [...DEFAULT_ESP_PROPOSALS],
    lifetimes: { ...DEFAULT_LIFETIMES, ...definedOnly(m.lifetimes ?? {}) },
    bypass: (m.bypass ?? []).map((b) => ({
      name: b.name,
      protocol: b.protocol,
      ...(b.port === undefined ? {} : { port: b.port }),
      ...(b.cidrs === undefined ? {} : { cidrs: b.cidrs.map((c) => c.canonical) }),
    })),
    xfrmGcThresh: m.xfrmGcThresh ?? DEFAULT_XFRM_GC_THRESH,
  };

  const sites: Site[] = d.sites.map((s) => ({
    name: s.name,
    mtu: s.mtu ?? DEFAULT_SITE_MTU,
    prefixes: {
      ipv4: (s.prefixes ?? []).filter((p) => p.family === 'ipv4').map((p) => p.canonical),
      ipv6: (s.prefixes ?? []).filter((p) => p.family === 'ipv6').map((p) => p.canonical),
    },
    ...(s.enforcement === undefined ? {} : { enforcement: s.enforcement }),
  }));

  const hosts: Host[] = d.hosts.map((h) => {
    const addr = (list: readonly AddressEntry[] | undefined): HostAddress[] =>
      (list ?? []).map((e) => ({ address: e.parsed.canonical, network: e.network ?? DEFAULT_NETWORK }));
    const ipv4 = addr(h.addresses.ipv4);
    const ipv6 = addr(h.addresses.ipv6);
    const fqdn = h.fqdn ?? defaultFqdn(h.name, h.site, m.domain);
    const ssh = h.ssh ?? {};
    const sshUser = ssh.user ?? DEFAULT_SSH_USER;
    return {
      name: h.name,
      site: h.site,
      ...(h.cluster === undefined ? {} : { cluster: h.cluster }),
      addresses: { ipv4, ipv6 },
      ssh: {
        // The checks guarantee at least one address.
        host: ssh.host ?? (ipv4[0] ?? ipv6[0])!.address,
        port: ssh.port ?? DEFAULT_SSH_PORT,
        user: sshUser,
        ...(ssh.hostKey === undefined ? {} : { hostKey: ssh.hostKey }),
        ...(ssh.jumpHost === undefined
          ? {}
          : { jumpHost: { host: ssh.jumpHost.host, port: ssh.jumpHost.port ?? DEFAULT_SSH_PORT, user: ssh.jumpHost.user ?? sshUser } }),
      },
      identity: h.identity ?? fqdn,
      fqdn,
      tags: h.tags ?? [],
    };
  });

  const rules: PairRule[] = d.rules.map((r, index) => normaliseRule(r, index));
  return { source, mesh, sites, hosts, rules };
}

function normaliseRule(r: RuleParsed, index: number): PairRule {
  const network = r.network === undefined ? {} : { network: r.network };
  if (r.mesh !== undefined) {
    const { by, ...sel } = r.mesh;
    return { kind: 'mesh', select: selectorOf(sel), ...(by === undefined ? {} : { by }), ...network, index };
  }
  if (r.between !== undefined) {
    return { kind: 'between', from: selectorOf(r.between.from), to: selectorOf(r.between.to), ...network, index };
  }
  if (r.pairs !== undefined) return { kind: 'pairs', pairs: r.pairs.map(([a, b]) => [a, b] as const), ...network, index };
  // The checks guarantee exactly one kind, so this is the exclude.
  const { pairs, ...sel } = r.exclude!;
  const select = selectorOf(sel);
  return {
    kind: 'exclude',
    ...(pairs === undefined ? {} : { pairs: pairs.map(([a, b]) => [a, b] as const) }),
    ...(Object.keys(select).length === 0 ? {} : { select }),
    index,
  };
}

function selectorOf(sel: SelectorParsed): HostSelector {
  return {
    ...(sel.sites === undefined ? {} : { sites: sel.sites }),
    ...(sel.clusters === undefined ? {} : { clusters: sel.clusters }),
    ...(sel.tags === undefined ? {} : { tags: sel.tags }),
    ...(sel.hosts === undefined ? {} : { hosts: sel.hosts }),
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
