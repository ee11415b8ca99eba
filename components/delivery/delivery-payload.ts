// The stdin of one host's push: every file to install, the owned files to keep, and the
// mesh's connection names, in a line format that POSIX sh + awk + base64 parse safely.
//
//   ipsec-mesh-payload 1
//   H <host>
//   M <mesh>
//   F <mode, 4 octal digits> <path> <length of the base64 text>
//   <base64 of the content, 76 characters a line>
//   K <path>                       (an owned file that stays though not carried, e.g. a key made on the host)
//   C <connection name>            (the mesh connections this config defines)
//   D <connection name> <fingerprint>  (of a C connection: hex hash of its config and credentials)
//   END <number of F, K, C and D records>
//
// What a push carries on stdin is that text packed (packPayload): gzip, base64 in lines, after
// one header line. The command provider stores stdin in state twice (as input and as output):
// packed, a payload costs a half to a fifth of its text there (docs/benchmarks.md, *State*).
//
// The END line makes a truncated stdin detectable; the H/M lines make a payload delivered
// to the wrong host or mesh detectable. Records are sorted, so equal inputs give equal bytes.
import type { RenderedFile } from '../render/rendered-file.js';
import { DeliveryError } from './delivery-error.js';
import { packText, unpackText } from './packed-text.js';
import { checkConnectionName, checkDeliveryPath, checkLabel } from './delivery-path.js';

export const PAYLOAD_MAGIC = 'ipsec-mesh-payload';
export const PAYLOAD_VERSION = 1;
/** The first line of a packed payload (gzip + base64); the push also takes a plain one. */
export const PACKED_PAYLOAD_HEADER = 'ipsec-mesh-packed 1';
const BASE64_LINE = 76;

/** Everything one host receives for one mesh. */
export interface DeliveryBundle {
  readonly host: string;
  readonly mesh: string;
  readonly files: readonly RenderedFile[];
  /** Owned paths that must survive though not carried (e.g. the host's own private key). */
  readonly keep?: readonly string[];
  /** Names of the mesh connections in `files`: SAs of names that disappear are terminated. */
  readonly connections: readonly string[];
  /**
   * Per connection (a subset of `connections`): a one-way hash (hex, 16–128 digits) of
   * everything that defines it, credentials included — never a secret itself. After a
   * successful load the push closes the IKE_SAs of connections whose fingerprint differs from
   * the last push's, so they renegotiate with the new proposal or credentials.
   */
  readonly fingerprints?: Readonly<Record<string, string>>;
}

export interface DecodedFile {
  readonly path: string;
  readonly mode: number;
  readonly content: string;
}

export interface DecodedPayload {
  readonly host: string;
  readonly mesh: string;
  readonly files: readonly DecodedFile[];
  readonly keep: readonly string[];
  readonly connections: readonly string[];
  readonly fingerprints: Readonly<Record<string, string>>;
}

/** A connection fingerprint: lower-case hex, 16 to 128 digits (a sha256 or a prefix of one). */
const FINGERPRINT = /^[0-9a-f]{16,128}$/;

function modeText(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function checkMode(host: string, file: RenderedFile): void {
  if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > 0o777) {
    throw new DeliveryError(host, `mode ${String(file.mode)} of ${file.path} is not a permission between 0000 and 0777`, file.path);
  }
  if (file.secret && (file.mode & 0o077) !== 0) {
    throw new DeliveryError(host, `${file.path} is secret but its mode ${modeText(file.mode)} lets group or others read it`, file.path);
  }
}

function unique(host: string, what: string, values: readonly string[]): void {
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) throw new DeliveryError(host, `${what} ${v} is listed twice`, what === 'path' ? v : undefined);
    seen.add(v);
  }
}

/** Checks a bundle without encoding it; `encodePayload` calls it. */
export function validateBundle(bundle: DeliveryBundle): void {
  const { host, mesh } = bundle;
  checkLabel(host, 'host name', host);
  checkLabel(host, 'mesh name', mesh);
  const keep = bundle.keep ?? [];
  for (const f of bundle.files) {
    checkDeliveryPath(host, f.path);
    checkMode(host, f);
  }
  for (const k of keep) checkDeliveryPath(host, k);
  unique(host, 'path', [...bundle.files.map((f) => f.path), ...keep]);
  for (const c of bundle.connections) checkConnectionName(host, c);
  unique(host, 'connection', bundle.connections);
  checkFingerprints(host, bundle.connections, Object.entries(bundle.fingerprints ?? {}));
}

function checkFingerprints(host: string, connections: readonly string[], entries: readonly (readonly [string, string])[]): void {
  const known = new Set(connections);
  for (const [name, fp] of entries) {
    if (!known.has(name)) throw new DeliveryError(host, `fingerprint for "${name}", which is not one of the payload's connections`);
    if (!FINGERPRINT.test(fp)) throw new DeliveryError(host, `fingerprint of ${name} is not 16 to 128 lower-case hex digits`);
  }
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The stdin content of one host's push. Throws DeliveryError (host, path) on anything unsafe. */
export function encodePayload(bundle: DeliveryBundle): string {
  validateBundle(bundle);
  const lines = [`${PAYLOAD_MAGIC} ${PAYLOAD_VERSION}`, `H ${bundle.host}`, `M ${bundle.mesh}`];
  const files = [...bundle.files].sort((a, b) => byText(a.path, b.path));
  for (const f of files) {
    const b64 = Buffer.from(f.content, 'utf8').toString('base64');
    lines.push(`F ${modeText(f.mode)} ${f.path} ${b64.length}`);
    for (let i = 0; i < b64.length; i += BASE64_LINE) lines.push(b64.slice(i, i + BASE64_LINE));
  }
  const keep = [...(bundle.keep ?? [])].sort(byText);
  for (const k of keep) lines.push(`K ${k}`);
  const connections = [...bundle.connections].sort(byText);
  for (const c of connections) lines.push(`C ${c}`);
  const fingerprints = Object.entries(bundle.fingerprints ?? {}).sort(([a], [b]) => byText(a, b));
  for (const [c, fp] of fingerprints) lines.push(`D ${c} ${fp}`);
  lines.push(`END ${files.length + keep.length + connections.length + fingerprints.length}`);
  return `${lines.join('\n')}\n`;
}

/** The push's stdin: the payload packed (packText) in 76-character lines under PACKED_PAYLOAD_HEADER. */
export function packPayload(payload: string): string {
  const b64 = packText(payload);
  const lines = [PACKED_PAYLOAD_HEADER];
  for (let i = 0; i < b64.length; i += BASE64_LINE) lines.push(b64.slice(i, i + BASE64_LINE));
  return `${lines.join('\n')}\n`;
}

/** The payload text of a push's stdin, packed or plain. Throws DeliveryError when it cannot be unpacked. */
export function unpackPayload(stdin: string): string {
  if (!stdin.startsWith(`${PACKED_PAYLOAD_HEADER}\n`)) return stdin;
  const body = stdin.slice(PACKED_PAYLOAD_HEADER.length + 1).replace(/\n/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new DeliveryError('<payload>', 'packed payload: corrupt base64');
  try {
    return unpackText(body);
  } catch (e) {
    throw new DeliveryError('<payload>', `packed payload: cannot gunzip it (${e instanceof Error ? e.message : String(e)})`);
  }
}

/**
 * Parses a payload the way the push script does (same checks), for tests and tools.
 * Throws DeliveryError on a malformed or truncated payload.
 */
export function decodePayload(stdin: string): DecodedPayload {
  const payload = unpackPayload(stdin);
  const lines = payload.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let host = '<payload>';
  const fail = (n: number, why: string): never => {
    throw new DeliveryError(host, `payload line ${n + 1}: ${why}`);
  };
  if (lines[0] !== `${PAYLOAD_MAGIC} ${PAYLOAD_VERSION}`) fail(0, `expected "${PAYLOAD_MAGIC} ${PAYLOAD_VERSION}"`);
  const h = /^H (\S+)$/.exec(lines[1] ?? '');
  if (!h?.[1]) return fail(1, 'expected "H <host>"');
  host = h[1];
  checkLabel(host, 'host name', host);
  const m = /^M (\S+)$/.exec(lines[2] ?? '');
  if (!m?.[1]) return fail(2, 'expected "M <mesh>"');
  const mesh = m[1];
  checkLabel(host, 'mesh name', mesh);
  const files: DecodedFile[] = [];
  const keep: string[] = [];
  const connections: string[] = [];
  const fingerprints: [string, string][] = [];
  let i = 3;
  for (;;) {
    const line = lines[i];
    if (line === undefined) return fail(i, 'payload truncated: no END line');
    let r: RegExpExecArray | null;
    if ((r = /^F (0[0-7]{3}) (\S+) ([0-9]+)$/.exec(line))) {
      const [, mode = '', path = '', len = ''] = r;
      checkDeliveryPath(host, path);
      const want = Number(len);
      let b64 = '';
      i++;
      while (b64.length < want) {
        const chunk = lines[i];
        if (chunk === undefined || !/^[A-Za-z0-9+/=]+$/.test(chunk)) fail(i, `payload truncated or corrupt inside ${path}`);
        b64 += chunk;
        i++;
      }
      if (b64.length !== want) fail(i - 1, `base64 of ${path} is longer than announced`);
      files.push({ path, mode: parseInt(mode, 8), content: Buffer.from(b64, 'base64').toString('utf8') });
      continue;
    }
    if ((r = /^K (\S+)$/.exec(line))) {
      checkDeliveryPath(host, r[1] ?? '');
      keep.push(r[1] ?? '');
    } else if ((r = /^C (\S+)$/.exec(line))) {
      checkConnectionName(host, r[1] ?? '');
      connections.push(r[1] ?? '');
    } else if ((r = /^D (\S+) (\S+)$/.exec(line))) {
      fingerprints.push([r[1] ?? '', r[2] ?? '']);
    } else if ((r = /^END ([0-9]+)$/.exec(line))) {
      const count = files.length + keep.length + connections.length + fingerprints.length;
      if (Number(r[1]) !== count) fail(i, `END announces ${r[1]} records, found ${count}: payload truncated`);
      if (i !== lines.length - 1) fail(i + 1, 'data after END');
      break;
    } else {
      fail(i, 'unexpected line');
    }
    i++;
  }
  unique(host, 'path', [...files.map((f) => f.path), ...keep]);
  unique(host, 'fingerprint of connection', fingerprints.map(([c]) => c));
  checkFingerprints(host, connections, fingerprints);
  return { host, mesh, files, keep, connections, fingerprints: Object.fromEntries(fingerprints) };
}
