// The zod schema of an inventory: structure, types, unknown keys (strict objects) and every
// single-field check (addresses, CIDRs, names, ports, host keys). Checks that relate fields
// to each other live in inventory-checks.ts. Output strings are already canonical.
import * as z from 'zod';
import { dnsLabelProblem, dnsNameProblem, parseAddressOrName } from './dns-name.js';
import type { InventoryInput } from './inventory-input.js';
import { parseAddress, parseHostAddress, parsePrefix, type ParsedAddress, type ParsedPrefix } from './ip-address.js';
import { ENFORCEMENT_LEVELS, QUANTUM_RESISTANCE_LEVELS, STRONGSWAN_LINES, type AddressFamily } from './model.js';
import { parseSshHostKey } from './ssh-host-key.js';

type Check<T> = (text: string) => { ok: true; value: T } | { ok: false; message: string };

/** A string that `check` validates and converts; its message becomes the issue. */
function checkedString<T>(check: Check<T>) {
  return z.string().transform((text, ctx): T => {
    const r = check(text);
    if (r.ok) return r.value;
    ctx.issues.push({ code: 'custom', message: r.message, input: text });
    return z.NEVER;
  });
}

const fromProblem =
  (problem: (s: string) => string | undefined): Check<string> =>
  (s) => {
    const p = problem(s);
    return p === undefined ? { ok: true, value: s } : { ok: false, message: p };
  };

const dnsLabel = checkedString(fromProblem(dnsLabelProblem));
const dnsName = checkedString(fromProblem(dnsNameProblem));

const identity = checkedString(
  fromProblem((s) =>
    s.trim() !== s || s === '' || s.length > 255 || /["\\\p{Cc}]/u.test(s)
      ? `${JSON.stringify(s)} is not a usable IKE identity: 1–255 characters, no surrounding spaces, quotes, backslashes or control characters`
      : undefined,
  ),
);

const sshUser = checkedString(
  fromProblem((s) =>
    /^[a-z_][a-z0-9_-]{0,31}$/.test(s) ? undefined : `${JSON.stringify(s)} is not a valid user name (lowercase letters, digits, "_" and "-", at most 32)`,
  ),
);

const proposal = checkedString(
  fromProblem((s) =>
    /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(s)
      ? undefined
      : `${JSON.stringify(s)} is not a proposal: lowercase algorithm keywords joined by "-" (e.g. aes256gcm16-prfsha384-ecp384)`,
  ),
);

const port = z.number().int().min(1).max(65_535);
const positiveInt = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const enforcement = z.enum(ENFORCEMENT_LEVELS as ['off', 'use', 'require']);
const quantumResistance = z.enum(QUANTUM_RESISTANCE_LEVELS as ['off', 'preferred', 'required']);
const strongswanLine = z.enum(STRONGSWAN_LINES as ['5', '6']);
const prefix = checkedString<ParsedPrefix>((s) => parsePrefix(s));
const hostPair = z.tuple([z.string(), z.string()]);

export interface AddressEntry {
  readonly parsed: ParsedAddress;
  readonly network?: string;
  /** 1:1 NAT: the address other sites reach it at. */
  readonly public?: ParsedAddress;
}

// The union only decides the shape (bare string or mapping); the values are checked after it,
// because zod's union cannot pick a branch whose transform failed.
const addressEntry = (family: AddressFamily) =>
  z
    .preprocess((v, ctx) => {
      // Unquoted, YAML reads `- 2001:db8::` as the mapping { "2001:db8:": null }.
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const keys = Object.keys(v);
        if (keys.length === 1 && (v as Record<string, unknown>)[keys[0]!] === null && parseAddress(`${keys[0]}:`).ok) {
          const text = `${keys[0]}:`;
          ctx.issues.push({ code: 'custom', message: `${text} must be quoted ("${text}"): unquoted, YAML reads an address ending in "::" as a mapping key`, input: v });
        }
      }
      return v;
    }, z.union([z.string(), z.strictObject({ address: z.string(), network: z.string().optional(), public: z.string().optional() })], {
      error: 'expected an address string or a mapping { address, network, public }',
    }))
    .transform((e, ctx): AddressEntry => {
      const text = typeof e === 'string' ? e : e.address;
      const r = parseHostAddress(text, family);
      if (!r.ok) ctx.issues.push({ code: 'custom', message: r.message, input: text, path: typeof e === 'string' ? [] : ['address'] });
      const network = typeof e === 'string' ? undefined : e.network;
      const problem = network === undefined ? undefined : dnsLabelProblem(network);
      if (problem !== undefined) ctx.issues.push({ code: 'custom', message: problem, input: network, path: ['network'] });
      const pub = typeof e === 'string' || e.public === undefined ? undefined : parseHostAddress(e.public, family);
      if (pub !== undefined && !pub.ok) ctx.issues.push({ code: 'custom', message: pub.message, input: typeof e === 'string' ? '' : e.public, path: ['public'] });
      if (!r.ok || problem !== undefined || (pub !== undefined && !pub.ok)) return z.NEVER;
      return { parsed: r.value, ...(network === undefined ? {} : { network }), ...(pub === undefined ? {} : { public: pub.value }) };
    });

const lifetimes = z.strictObject({
  ikeRekeySeconds: positiveInt.optional(),
  childRekeySeconds: positiveInt.optional(),
  childRekeyBytes: positiveInt.optional(),
  dpdDelaySeconds: positiveInt.optional(),
});

const bypassRule = z.strictObject({
  name: dnsLabel,
  protocol: z.enum(['tcp', 'udp', 'icmp', 'ipv6-icmp', 'esp', 'any']),
  port: port.optional(),
  cidrs: z.array(prefix).min(1).optional(),
});

const pairOverride = z
  .strictObject({ hosts: hostPair, enforcement: enforcement.optional(), quantumResistance: quantumResistance.optional() })
  .refine((o) => o.enforcement !== undefined || o.quantumResistance !== undefined, { message: 'an override sets enforcement, quantumResistance or both' });

export const meshSchema = z.strictObject({
  name: dnsLabel,
  domain: dnsName.optional(),
  layout: z.enum(['per-peer', 'compact']).optional(),
  compactSelectors: z.enum(['peer-addresses', 'site-prefixes']).optional(),
  auth: z.enum(['certificate', 'psk']).optional(),
  mode: z.enum(['transport', 'tunnel']).optional(),
  enforcement: enforcement.optional(),
  quantumResistance: quantumResistance.optional(),
  ppkGeneration: z.number().int().min(0).max(1_000_000).optional(),
  proposals: z.array(proposal).min(1).optional(),
  espProposals: z.array(proposal).min(1).optional(),
  lifetimes: lifetimes.optional(),
  bypass: z.array(bypassRule).optional(),
  sshFrom: z.array(prefix).min(1).optional(),
  xfrmGcThresh: z.number().int().min(1).max(2_147_483_647).optional(),
  mssClamp: z.enum(['auto', 'on', 'off']).optional(),
  pairOverrides: z.array(pairOverride).optional(),
});

export const siteSchema = z.strictObject({
  name: dnsLabel,
  mtu: z.number().int().min(576).max(65_535).optional(),
  prefixes: z.array(prefix).optional(),
  enforcement: enforcement.optional(),
  forceUdpEncap: z.boolean().optional(),
  quantumResistance: quantumResistance.optional(),
  strongswan: strongswanLine.optional(),
});

const hostKey = checkedString((s) => {
  const r = parseSshHostKey(s);
  return r.ok ? r : { ok: false, message: `${JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s)} ${r.message}` };
});

const sshSchema = z.strictObject({
  host: checkedString(parseAddressOrName).optional(),
  port: port.optional(),
  user: sshUser.optional(),
  hostKey: hostKey.optional(),
  insecureAcceptAnyHostKey: z.boolean().optional(),
  jumpHost: z
    .strictObject({ host: checkedString(parseAddressOrName), port: port.optional(), user: sshUser.optional(), hostKey: hostKey.optional() })
    .optional(),
});

export const hostSchema = z.strictObject({
  name: dnsLabel,
  site: z.string(),
  cluster: dnsLabel.optional(),
  // `dynamic` (a roaming host) reads as { dynamic: true }: one object shape, so the address
  // entries keep their own messages (a union would hide them).
  addresses: z.preprocess(
    (v) => (v === 'dynamic' ? { dynamic: true } : v),
    z.strictObject({
      ipv4: z.array(addressEntry('ipv4')).optional(),
      ipv6: z.array(addressEntry('ipv6')).optional(),
      dynamic: z.literal(true).optional(),
    }),
  ),
  ssh: sshSchema.optional(),
  identity: identity.optional(),
  fqdn: dnsName.optional(),
  tags: z.array(dnsLabel).optional(),
  revoked: z.boolean().optional(),
  managed: z.boolean().optional(),
  strongswan: strongswanLine.optional(),
});

const nameList = z.array(z.string()).min(1).optional();
const selectorShape = { sites: nameList, clusters: nameList, tags: nameList, hosts: nameList };
const selector = z.strictObject(selectorShape);

export const ruleSchema = z.strictObject({
  mesh: z.strictObject({ ...selectorShape, by: z.literal('cluster').optional() }).optional(),
  between: z.strictObject({ from: selector, to: selector }).optional(),
  pairs: z.array(hostPair).min(1).optional(),
  exclude: z.strictObject({ ...selectorShape, pairs: z.array(hostPair).min(1).optional() }).optional(),
  network: dnsLabel.optional(),
});

export const inventorySchema = z.strictObject({
  mesh: meshSchema,
  sites: z.array(siteSchema),
  hosts: z.array(hostSchema),
  rules: z.array(ruleSchema),
});

export type MeshParsed = z.output<typeof meshSchema>;
export type SiteParsed = z.output<typeof siteSchema>;
export type HostParsed = z.output<typeof hostSchema>;
export type RuleParsed = z.output<typeof ruleSchema>;
export type SelectorParsed = z.output<typeof selector>;

// Compile-time guard: everything the hand-written InventoryInput allows, the schema accepts.
type DeepReadonly<T> = T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
const inputFitsSchema = (x: InventoryInput): DeepReadonly<z.input<typeof inventorySchema>> => x;
void inputFitsSchema;
