// Test-only reader of the strongswan.conf / swanctl.conf syntax the renderer emits, so tests
// assert on sections and keys (after resolving `name : reference` inheritance the way
// strongSwan does) rather than on substrings. Strict: any line it does not understand throws.

export interface ConfSection {
  readonly name: string;
  /** Absolute names of referenced sections (`name : a, b.c {`). */
  readonly refs: readonly string[];
  readonly values: Map<string, string>;
  readonly sections: Map<string, ConfSection>;
  /** Subsection names in file order. */
  readonly order: string[];
}

function section(name: string, refs: readonly string[]): ConfSection {
  return { name, refs, values: new Map(), sections: new Map(), order: [] };
}

// Section names and keys: printable characters except . , : { } = " # and blanks.
const NAME = String.raw`[^.,:{}="#\s]+`;
const OPEN = new RegExp(String.raw`^(${NAME})\s*(?::\s*([^{]+?))?\s*\{$`);
const KEY_VALUE = new RegExp(String.raw`^(${NAME})\s*=\s*(.*)$`);

function unquote(raw: string, line: number): string {
  if (!raw.startsWith('"')) {
    const hash = raw.indexOf('#');
    return (hash >= 0 ? raw.slice(0, hash) : raw).trim();
  }
  let out = '';
  for (let i = 1; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\') {
      out += raw[++i] ?? '';
    } else if (c === '"') {
      const rest = raw.slice(i + 1).trim();
      if (rest !== '' && !rest.startsWith('#')) throw new Error(`line ${line}: text after a quoted value`);
      return out;
    } else {
      out += c;
    }
  }
  throw new Error(`line ${line}: unterminated quoted value`);
}

export function parseConf(text: string): ConfSection {
  const root = section('', []);
  const stack: ConfSection[] = [root];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const top = stack[stack.length - 1]!;
    if (line === '}') {
      if (stack.length === 1) throw new Error(`line ${n + 1}: unbalanced '}'`);
      stack.pop();
      continue;
    }
    const open = OPEN.exec(line);
    if (open !== null) {
      const name = open[1]!;
      if (top.sections.has(name)) throw new Error(`line ${n + 1}: section "${name}" defined twice`);
      const refs = open[2] === undefined ? [] : open[2].split(',').map((r) => r.trim());
      const s = section(name, refs);
      top.sections.set(name, s);
      top.order.push(name);
      stack.push(s);
      continue;
    }
    const kv = KEY_VALUE.exec(line);
    if (kv !== null) {
      if (top.values.has(kv[1]!)) throw new Error(`line ${n + 1}: key "${kv[1]}" set twice`);
      top.values.set(kv[1]!, unquote(kv[2]!, n + 1));
      continue;
    }
    throw new Error(`line ${n + 1}: cannot parse ${JSON.stringify(line)}`);
  }
  if (stack.length !== 1) throw new Error(`unclosed section "${stack[stack.length - 1]!.name}"`);
  return root;
}

function lookup(root: ConfSection, absname: string): ConfSection {
  let s = root;
  for (const part of absname.split('.')) {
    const next = s.sections.get(part);
    if (next === undefined) throw new Error(`reference "${absname}" does not resolve`);
    s = next;
  }
  return s;
}

/**
 * The section as strongSwan sees it: own values first, then those of referenced sections
 * (recursively, left to right); subsections of the same name merge the same way.
 */
export function resolve(root: ConfSection, s: ConfSection, depth = 0): ConfSection {
  if (depth > 16) throw new Error(`reference loop at "${s.name}"`);
  const out = section(s.name, []);
  const layers = [s, ...s.refs.map((r) => resolve(root, lookup(root, r), depth + 1))];
  for (const layer of layers) {
    for (const [k, v] of layer.values) if (!out.values.has(k)) out.values.set(k, v);
    for (const name of layer.order) {
      const sub = layer.sections.get(name)!;
      const mine = out.sections.get(name);
      const resolvedSub = layer === s ? resolve(root, sub, depth + 1) : sub;
      if (mine === undefined) {
        out.sections.set(name, resolvedSub);
        out.order.push(name);
      } else {
        out.sections.set(name, mergeUnder(mine, resolvedSub));
      }
    }
  }
  return out;
}

function mergeUnder(top: ConfSection, below: ConfSection): ConfSection {
  const out = section(top.name, []);
  for (const [k, v] of top.values) out.values.set(k, v);
  for (const [k, v] of below.values) if (!out.values.has(k)) out.values.set(k, v);
  for (const name of [...top.order, ...below.order.filter((x) => !top.sections.has(x))]) {
    const a = top.sections.get(name);
    const b = below.sections.get(name);
    out.sections.set(name, a !== undefined && b !== undefined ? mergeUnder(a, b) : (a ?? b)!);
    out.order.push(name);
  }
  return out;
}

/** swanctl's view: every connection, resolved, in file order. */
export function connectionsOf(text: string): Map<string, ConfSection> {
  const root = parseConf(text);
  const conns = root.sections.get('connections');
  const out = new Map<string, ConfSection>();
  if (conns === undefined) return out;
  for (const name of conns.order) out.set(name, resolve(root, conns.sections.get(name)!));
  return out;
}

/** A value that must exist. */
export function val(s: ConfSection | undefined, path: string): string {
  const parts = path.split('.');
  let cur = s;
  for (const p of parts.slice(0, -1)) cur = cur?.sections.get(p);
  const v = cur?.values.get(parts[parts.length - 1]!);
  if (v === undefined) throw new Error(`no value at "${path}" in section "${s?.name}"`);
  return v;
}

/** The children of a resolved connection, in file order. */
export function childrenOf(conn: ConfSection): ConfSection[] {
  const children = conn.sections.get('children');
  return children === undefined ? [] : children.order.map((n) => children.sections.get(n)!);
}
