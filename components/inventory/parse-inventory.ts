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
  DEFAULT_MSS_CLAMP,
  DEFAULT_QUANTUM_RESISTANCE,
  DEFAULT_STRONGSWAN_LINE,
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
      opaque: { sites: false, hosts: false },
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

/** Optional parts an element may lose so that the rest of it can still be cross-checked. */
const PRUNABLE: Record<'mesh' | 'sites' | 'hosts' | 'rules', readonly (readonly string[])[]> = {
  mesh: ['domain', 'layout', 'compactSelectors', 'auth', 'mode', 'enforcement', 'quantumResistance', 'ppkGeneration', 'proposals', 'espProposals', 'lifetimes', 'bypass', 'sshFrom', 'xfrmGcThresh', 'mssClamp', 'pairOverrides'].map((k) => [k]),
  sites: [['mtu'], ['prefixes'], ['enforcement'], ['forceUdpEncap'], ['quantumResistance'], ['strongswan']],
  hosts: [['cluster'], ['addresses', 'ipv4'], ['addresses', 'ipv6'], ['ssh'], ['identity'], ['fqdn'], ['tags'], ['managed'], ['strongswan']],
  rules: [['network']],
};

/**
 * After a failed parse: every element without issues, plus every element that passes once the
 * optional parts carrying its issues (and unknown keys) are dropped — so a host with a bad
 * SSH port is still checked for duplicate addresses. The names failed elements carry are
 * "tainted" so they are not reported as unknown elsewhere.
 */
function salvage(raw: Record<string, unknown>, issues: readonly RawIssue[]): CheckInput {
  const bySection = new Map<string, RawIssue[]>(); // 'mesh', 'hosts', 'hosts.3', …
  const note = (key: string, issue: RawIssue): void => {
    const list = bySection.get(key);
    if (list === undefined) bySection.set(key, [issue]);
    else list.push(issue);
  };
  for (const issue of issues) {
    const [section, index] = issue.path;
    if (section === 'mesh' && issue.path.length > 1) note('mesh', { ...issue, path: issue.path.slice(1) });
    else if (typeof section === 'string' && typeof index === 'number') note(`${section}.${index}`, { ...issue, path: issue.path.slice(2) });
    else if (typeof section === 'string') note(`${section}!`, issue); // the section itself
  }
  const tainted = { sites: new Set<string>(), hosts: new Set<string>(), clusters: new Set<string>(), tags: new Set<string>() };
  const incomplete = { mesh: bySection.has('mesh') || bySection.has('mesh!'), sites: false, hosts: false, rules: false };
  const opaque = { sites: false, hosts: false };
  const str = (v: unknown, into: Set<string>): void => {
    if (typeof v === 'string') into.add(v);
  };
  const taint: Record<'sites' | 'hosts' | 'rules', (el: Record<string, unknown>) => void> = {
    sites: (s) => str(s['name'], tainted.sites),
    hosts: (h) => {
      str(h['name'], tainted.hosts);
      str(h['cluster'], tainted.clusters);
      if (Array.isArray(h['tags'])) for (const t of h['tags']) str(t, tainted.tags);
    },
    rules: () => undefined,
  };
  const section = <T>(name: 'sites' | 'hosts' | 'rules', schema: z.ZodType<T>): Located<T>[] => {
    const list = raw[name];
    if (!Array.isArray(list) || bySection.has(`${name}!`)) {
      incomplete[name] = true;
      if (name !== 'rules') opaque[name] = true;
      return [];
    }
    const out: Located<T>[] = [];
    list.forEach((el: unknown, index) => {
      const own = bySection.get(`${name}.${index}`);
      if (own === undefined) {
        const r = schema.safeParse(el);
        if (r.success) out.push({ value: r.data, index });
        return;
      }
      incomplete[name] = true;
      if (isRecord(el)) taint[name](el);
      const pruned = pruneAndParse(el, own, PRUNABLE[name], schema);
      if (pruned !== undefined) out.push({ value: pruned.value, index, pruned: pruned.pruned });
    });
    return out;
  };
  const sites = section<SiteParsed>('sites', siteSchema);
  const hosts = section<HostParsed>('hosts', hostSchema);
  const rules = section<RuleParsed>('rules', ruleSchema);
  let mesh: MeshParsed | undefined;
  if (!bySection.has('mesh!')) {
    const own = bySection.get('mesh');
    if (own === undefined) {
      const r = meshSchema.safeParse(raw['mesh']);
      if (r.success) mesh = r.data;
    } else {
      mesh = pruneAndParse(raw['mesh'], own, PRUNABLE.mesh, meshSchema)?.value;
    }
  }
  return { mesh, sites, hosts, rules, incomplete, opaque, tainted };
}

/** Re-parses `el` without the prunable parts its issues point into; undefined if that cannot help. */
function pruneAndParse<T>(
  el: unknown,
  issues: readonly RawIssue[], // paths relative to `el`
  prunable: readonly (readonly string[])[],
  schema: z.ZodType<T>,
): { value: T; pruned: ReadonlySet<string> } | undefined {
  if (!isRecord(el)) return undefined;
  let clone: Record<string, unknown>;
  try {
    clone = structuredClone(el);
  } catch {
    return undefined; // typed input holding something uncloneable: no salvage
  }
  const pruned = new Set<string>();
  for (const issue of issues) {
    if (issue.unknownKey === true) {
      deleteAt(clone, issue.path);
      continue;
    }
    const part = prunable.find((p) => p.every((seg, i) => issue.path[i] === seg));
    if (part === undefined) return undefined;
    deleteAt(clone, part);
    pruned.add(part.join('.'));
  }
  const r = schema.safeParse(clone);
  return r.success ? { value: r.data, pruned } : undefined;
}

function deleteAt(root: Record<string, unknown>, path: readonly PathSegment[]): void {
  let node: unknown = root;
  for (const seg of path.slice(0, -1)) {
    node = isRecord(node) || Array.isArray(node) ? (node as Record<string | number, unknown>)[seg] : undefined;
  }
  const last = path[path.length - 1];
  if (isRecord(node) && typeof last === 'string') delete node[last];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

type InventoryParsed = z.output<typeof inventorySchema>;

function normalise(d: InventoryParsed, source: string): Inventory {
  const m = d.mesh;
  const mesh: MeshSettings = {
    name: m.name,
    ...(m.domain === undefined ? {} : { domain: m.domain }),
    layout: m.layout ?? DEFAULT_LAYOUT,
    compactSelectors: m.compactSelectors ?? 'peer-addresses',
    auth: m.auth ?? DEFAULT_AUTH,
    mode: m.mode ?? DEFAULT_MODE,
    enforcement: m.enforcement ?? DEFAULT_ENFORCEMENT,
    quantumResistance: m.quantumResistance ?? DEFAULT_QUANTUM_RESISTANCE,
    ppkGeneration: m.ppkGeneration ?? 0,
    pairOverrides: (m.pairOverrides ?? []).map((o) => ({
      hosts: [o.hosts[0], o.hosts[1]] as const,
      ...(o.enforcement === undefined ? {} : { enforcement: o.enforcement }),
      ...(o.quantumResistance === undefined ? {} : { quantumResistance: o.quantumResistance }),
    })),
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
    mssClamp: m.mssClamp ?? DEFAULT_MSS_CLAMP,
    ...(m.sshFrom === undefined ? {} : { sshFrom: m.sshFrom.map((c) => c.canonical) }),
  };

  const sites: Site[] = d.sites.map((s) => ({
    name: s.name,
    mtu: s.mtu ?? DEFAULT_SITE_MTU,
    mtuDeclared: s.mtu !== undefined,
    prefixes: {
      ipv4: (s.prefixes ?? []).filter((p) => p.family === 'ipv4').map((p) => p.canonical),
      ipv6: (s.prefixes ?? []).filter((p) => p.family === 'ipv6').map((p) => p.canonical),
    },
    ...(s.enforcement === undefined ? {} : { enforcement: s.enforcement }),
    ...(s.forceUdpEncap === true ? { forceUdpEncap: true as const } : {}),
    ...(s.quantumResistance === undefined ? {} : { quantumResistance: s.quantumResistance }),
    ...(s.strongswan === undefined ? {} : { strongswan: s.strongswan }),
  }));

  const siteLine = new Map(d.sites.filter((s) => s.strongswan !== undefined).map((s) => [s.name, s.strongswan!] as const));
  const hosts: Host[] = d.hosts.map((h) => {
    const addr = (list: readonly AddressEntry[] | undefined): HostAddress[] =>
      (list ?? []).map((e) => ({
        address: e.parsed.canonical,
        network: e.network ?? DEFAULT_NETWORK,
        ...(e.public === undefined ? {} : { public: e.public.canonical }),
      }));
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
        // The checks guarantee at least one address, or an ssh.host for a managed roaming host.
        host: ssh.host ?? (ipv4[0] ?? ipv6[0])?.address ?? '',
        port: ssh.port ?? DEFAULT_SSH_PORT,
        user: sshUser,
        ...(ssh.hostKey === undefined ? {} : { hostKey: ssh.hostKey }),
        insecureAcceptAnyHostKey: ssh.insecureAcceptAnyHostKey ?? false,
        ...(ssh.jumpHost === undefined
          ? {}
          : {
              jumpHost: {
                host: ssh.jumpHost.host,
                port: ssh.jumpHost.port ?? DEFAULT_SSH_PORT,
                user: ssh.jumpHost.user ?? sshUser,
                ...(ssh.jumpHost.hostKey === undefined ? {} : { hostKey: ssh.jumpHost.hostKey }),
              },
            }),
      },
      identity: h.identity ?? fqdn,
      fqdn,
      tags: h.tags ?? [],
      ...(h.revoked === true ? { revoked: true } : {}),
      ...(h.managed === false ? { unmanaged: true as const } : {}),
      ...(h.addresses.dynamic === true ? { roaming: true as const } : {}),
      ...((h.strongswan ?? siteLine.get(h.site) ?? DEFAULT_STRONGSWAN_LINE) === '6' ? { strongswan: '6' as const } : {}),
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
