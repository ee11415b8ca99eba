// YAML loading that remembers where every node is, so an issue at `hosts[3].addresses.ipv6[0]`
// can name its line. js-yaml 4's `listener` reports each node's open (start offset) and close
// (end offset, value); nesting the events rebuilds the node tree, and a mapping's children are
// told apart as keys or values by the ':' that follows a key.
import yaml from 'js-yaml';
import { InventoryError, type PathSegment } from './inventory-error.js';

interface YamlNode {
  readonly start: number;
  end: number;
  kind: string | null;
  value: unknown;
  readonly children: YamlNode[];
  /** Key → (key node, value node), built on first lookup. */
  entries?: Map<string, { key: YamlNode; value?: YamlNode }>;
}

export interface YamlDocument {
  readonly value: unknown;
  /** 1-based line of the node at `path`, or of its nearest ancestor present in the text. */
  lineOf(path: readonly PathSegment[]): number | undefined;
}

export function parseYamlDocument(text: string, file: string): YamlDocument {
  // js-yaml drops a BOM before parsing; dropping it here keeps offsets aligned.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const stack: YamlNode[] = [];
  let root: YamlNode | undefined;
  let input = source;
  let value: unknown;
  try {
    value = yaml.load(source, {
      filename: file,
      schema: yaml.CORE_SCHEMA,
      listener(event, state) {
        if (event === 'open') {
          input = state.input;
          stack.push({ start: state.position, end: state.position, kind: null, value: undefined, children: [] });
          return;
        }
        const node = stack.pop();
        if (node === undefined) return;
        node.end = state.position;
        node.kind = state.kind;
        node.value = state.result;
        const parent = stack[stack.length - 1];
        if (parent !== undefined) parent.children.push(node);
        else root = node;
      },
    });
  } catch (e) {
    if (e instanceof yaml.YAMLException) {
      const line = typeof e.mark?.line === 'number' ? e.mark.line + 1 : undefined;
      const column = typeof e.mark?.column === 'number' ? ` (column ${e.mark.column + 1})` : '';
      throw new InventoryError(file, [
        { file, path: '', ...(line === undefined ? {} : { line }), message: `YAML syntax error: ${e.reason}${column}` },
      ]);
    }
    throw e;
  }

  let lineStarts: number[] | undefined;
  const lineAt = (offset: number): number => {
    if (lineStarts === undefined) {
      lineStarts = [0];
      for (let i = input.indexOf('\n'); i >= 0; i = input.indexOf('\n', i + 1)) lineStarts.push(i + 1);
    }
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const nodeLine = (node: YamlNode): number => lineAt(contentStart(input, node.start));

  return {
    value,
    lineOf(path) {
      if (root === undefined) return undefined;
      let node = root;
      let line = nodeLine(root);
      for (const seg of path) {
        if (node.kind === 'mapping') {
          const entry = entriesOf(node, input).get(String(seg));
          if (entry === undefined) break;
          // A key's own line reads best ("addresses:"), also for a nested mapping below it.
          line = nodeLine(entry.key);
          if (entry.value === undefined) break;
          node = entry.value;
        } else if (node.kind === 'sequence' && typeof seg === 'number') {
          const items = node.children;
          // Only trust the children when they line up with the items (no empty `-` entries).
          if (!Array.isArray(node.value) || items.length !== node.value.length) break;
          const item = items[seg];
          if (item === undefined) break;
          node = item;
          line = nodeLine(item);
        } else {
          break;
        }
      }
      return line;
    },
  };
}

function entriesOf(node: YamlNode, input: string): Map<string, { key: YamlNode; value?: YamlNode }> {
  if (node.entries !== undefined) return node.entries;
  const entries = new Map<string, { key: YamlNode; value?: YamlNode }>();
  let current: { key: YamlNode; value?: YamlNode } | undefined;
  for (const child of node.children) {
    if (followedByColon(input, child.end)) {
      current = { key: child };
      entries.set(String(child.value), current);
    } else if (current !== undefined && current.value === undefined) {
      current.value = child;
    }
  }
  node.entries = entries;
  return entries;
}

function followedByColon(input: string, offset: number): boolean {
  let i = offset;
  while (input[i] === ' ' || input[i] === '\t') i++;
  return input[i] === ':';
}

/** First offset at or after `offset` that is not whitespace or a comment. */
function contentStart(input: string, offset: number): number {
  let i = offset;
  for (;;) {
    const c = input[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') i++;
    else if (c === '#') {
      const nl = input.indexOf('\n', i);
      if (nl < 0) return i;
      i = nl + 1;
    } else return i;
  }
}
