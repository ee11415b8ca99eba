// Reading back what charon holds, from `swanctl --list-* --pretty`: the vici messages
// printed one key per line, so values with spaces (`class = pre-shared key`, DN ids) stay whole.
//
//   list-sa event {
//     mesh-a-b-4 {
//       uniqueid = 1
//       child-sas {
//       }
//     }
//   }
//   local_addrs = [
//     198.51.100.10
//   ]

/** swanctl printed something this parser does not understand (a changed format, or not swanctl output). */
export class SwanctlParseError extends Error {
  override readonly name = 'SwanctlParseError';
}

export type ViciValue = string | readonly string[] | ViciSection;
export interface ViciSection {
  readonly [key: string]: ViciValue;
}
/** One printed message, e.g. `list-sa event` or `list-sas reply`. */
export interface ViciMessage {
  readonly name: string;
  readonly body: ViciSection;
}

/** Parses swanctl's `--pretty` output into its messages. Throws SwanctlParseError on anything else. */
export function parseSwanctlPretty(text: string): ViciMessage[] {
  const messages: ViciMessage[] = [];
  const lines = text.split('\n');
  let i = 0;
  const fail = (why: string): never => {
    throw new SwanctlParseError(`cannot parse swanctl output line ${i + 1} (${why}): ${JSON.stringify(lines[i] ?? '')}`);
  };
  // Sections are objects with a null prototype, so keys like `__proto__` stay keys.
  const section = (): Record<string, ViciValue> => {
    const s = Object.create(null) as Record<string, ViciValue>;
    for (;;) {
      const line = (lines[i] ?? fail('unterminated section')).trim();
      i++;
      if (line === '}') return s;
      let m: RegExpExecArray | null;
      if ((m = /^(.*?) \{$/.exec(line))) {
        s[m[1]!] = section();
      } else if ((m = /^(.*?) = \[$/.exec(line))) {
        const items: string[] = [];
        for (;;) {
          const item = (lines[i] ?? fail('unterminated list')).trim();
          i++;
          if (item === ']') break;
          items.push(item);
        }
        s[m[1]!] = items;
      } else if ((m = /^(.*?) = (.*)$/.exec(line))) {
        s[m[1]!] = m[2]!;
      } else if ((m = /^(.*?) =$/.exec(line))) {
        s[m[1]!] = '';
      } else {
        i--;
        fail('expected key = value, key {, key = [ or }');
      }
    }
  };
  while (i < lines.length) {
    const line = lines[i]!.trim();
    i++;
    if (line === '') continue;
    const m = /^(.*?) \{$/.exec(line);
    if (!m) {
      i--;
      fail('expected a message header');
    }
    messages.push({ name: m![1]!, body: section() });
  }
  return messages;
}

const str = (s: ViciSection, key: string): string | undefined => {
  const v = s[key];
  return typeof v === 'string' ? v : undefined;
};
const list = (s: ViciSection, key: string): readonly string[] => {
  const v = s[key];
  return Array.isArray(v) ? (v as readonly string[]) : [];
};
const sub = (s: ViciSection, key: string): ViciSection => {
  const v = s[key];
  return v !== undefined && typeof v === 'object' && !Array.isArray(v) ? (v as ViciSection) : {};
};
const entries = (s: ViciSection): [string, ViciSection][] =>
  Object.keys(s).map((k) => [k, sub(s, k)] as [string, ViciSection]);

/**
 * Algorithms of an SA as one string, as `swanctl --list-sas` prints them, e.g.
 * `AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/KE1_ML_KEM_768/PPK` (additional key exchanges of
 * strongSwan 6, `ake1`…`ake7`, and a post-quantum preshared key in use on an IKE_SA).
 */
function proposalOf(s: ViciSection, withPrf: boolean): string {
  const encr = str(s, 'encr-alg');
  const size = str(s, 'encr-keysize');
  const ake: string[] = [];
  for (let i = 1; i <= 7; i++) {
    const v = str(s, `ake${i}`);
    if (v !== undefined) ake.push(`KE${i}_${v}`);
  }
  return [
    encr && `${encr}${size ? `_${size}` : ''}`,
    str(s, 'integ-alg'),
    withPrf ? str(s, 'prf-alg') : undefined,
    str(s, 'dh-group'),
    ...ake,
    withPrf ? undefined : str(s, 'esn') === '1' ? 'ESN' : undefined,
    withPrf && str(s, 'ppk') === 'yes' ? 'PPK' : undefined,
  ]
    .filter((x): x is string => Boolean(x))
    .join('/');
}

export interface ChildSaStatus {
  /** Config name of the CHILD_SA (the key in `child-sas` is `<name>-<uniqueid>`). */
  readonly name: string;
  readonly uniqueId: number;
  readonly state: string; // INSTALLED, REKEYING, …
  readonly mode: string; // TRANSPORT, TUNNEL
  readonly protocol: string; // ESP
  readonly encap: boolean; // UDP-encapsulated
  readonly proposal: string;
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
  readonly raw: ViciSection;
}

export interface IkeSaStatus {
  readonly name: string;
  readonly uniqueId: number;
  readonly version: number;
  readonly state: string; // ESTABLISHED, CONNECTING, …
  readonly localHost: string;
  readonly localId: string;
  readonly remoteHost: string;
  readonly remoteId: string;
  readonly initiator: boolean;
  /** e.g. `AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384` */
  readonly proposal: string;
  readonly children: readonly ChildSaStatus[];
  readonly raw: ViciSection;
}

/**
 * What protects an IKE_SA's keys against a quantum computer: a post-quantum preshared key
 * mixed into them (RFC 8784), an ML-KEM additional key exchange (RFC 9370), both, or neither.
 */
export type QuantumProtection = 'ppk' | 'ml-kem' | 'ppk+ml-kem' | 'none';

export function quantumProtection(sa: Pick<IkeSaStatus, 'proposal'>): QuantumProtection {
  const parts = sa.proposal.split('/');
  const ppk = parts.includes('PPK');
  const mlkem = parts.some((p) => /^KE\d_ML_KEM_/.test(p));
  return ppk && mlkem ? 'ppk+ml-kem' : ppk ? 'ppk' : mlkem ? 'ml-kem' : 'none';
}

/** IKE_SAs from `swanctl --list-sas --pretty`. */
export function parseListSas(text: string): IkeSaStatus[] {
  return parseSwanctlPretty(text)
    .filter((m) => m.name === 'list-sa event')
    .flatMap((m) =>
      entries(m.body).map(([name, s]) => ({
        name,
        uniqueId: Number(str(s, 'uniqueid')),
        version: Number(str(s, 'version')),
        state: str(s, 'state') ?? '',
        localHost: str(s, 'local-host') ?? '',
        localId: str(s, 'local-id') ?? '',
        remoteHost: str(s, 'remote-host') ?? '',
        remoteId: str(s, 'remote-id') ?? '',
        initiator: str(s, 'initiator') === 'yes',
        proposal: proposalOf(s, true),
        children: entries(sub(s, 'child-sas')).map(([, c]) => ({
          name: str(c, 'name') ?? '',
          uniqueId: Number(str(c, 'uniqueid')),
          state: str(c, 'state') ?? '',
          mode: str(c, 'mode') ?? '',
          protocol: str(c, 'protocol') ?? '',
          encap: str(c, 'encap') === 'yes',
          proposal: proposalOf(c, false),
          localTs: list(c, 'local-ts'),
          remoteTs: list(c, 'remote-ts'),
          raw: c,
        })),
        raw: s,
      })),
    );
}

export interface ChildConfigStatus {
  readonly name: string;
  readonly mode: string; // TRANSPORT, TUNNEL, PASS, DROP
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
  readonly raw: ViciSection;
}

export interface AuthConfigStatus {
  readonly id: string;
  readonly class: string; // "pre-shared key", "public key", …
  readonly raw: ViciSection;
}

export interface ConnectionStatus {
  readonly name: string;
  readonly localAddrs: readonly string[];
  readonly remoteAddrs: readonly string[];
  readonly version: string;
  readonly local: readonly AuthConfigStatus[];
  readonly remote: readonly AuthConfigStatus[];
  readonly children: readonly ChildConfigStatus[];
  readonly raw: ViciSection;
}

/** Loaded connections from `swanctl --list-conns --pretty` (bypass shunts are connections with PASS children). */
export function parseListConns(text: string): ConnectionStatus[] {
  return parseSwanctlPretty(text)
    .filter((m) => m.name === 'list-conn event')
    .flatMap((m) =>
      entries(m.body).map(([name, s]) => {
        const auths = (prefix: string): AuthConfigStatus[] =>
          entries(s)
            .filter(([k]) => k.startsWith(`${prefix}-`))
            .map(([, a]) => ({ id: str(a, 'id') ?? '', class: str(a, 'class') ?? '', raw: a }));
        return {
          name,
          localAddrs: list(s, 'local_addrs'),
          remoteAddrs: list(s, 'remote_addrs'),
          version: str(s, 'version') ?? '',
          local: auths('local'),
          remote: auths('remote'),
          children: entries(sub(s, 'children')).map(([cname, c]) => ({
            name: cname,
            mode: str(c, 'mode') ?? '',
            localTs: list(c, 'local-ts'),
            remoteTs: list(c, 'remote-ts'),
            raw: c,
          })),
          raw: s,
        };
      }),
    );
}

export interface PolicyStatus {
  /** `<connection>/<child>` */
  readonly name: string;
  readonly mode: string; // TRANSPORT, TUNNEL (trap) or PASS, DROP (shunt)
  readonly localTs: readonly string[];
  readonly remoteTs: readonly string[];
}

/** Installed trap and shunt policies from `swanctl --list-pols --pretty`. */
export function parseListPols(text: string): PolicyStatus[] {
  return parseSwanctlPretty(text)
    .filter((m) => m.name === 'list-policy event')
    .flatMap((m) =>
      entries(m.body).map(([name, p]) => ({
        name,
        mode: str(p, 'mode') ?? '',
        localTs: list(p, 'local-ts'),
        remoteTs: list(p, 'remote-ts'),
      })),
    );
}
