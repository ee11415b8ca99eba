// Turns zod issues into inventory issues with messages written for people editing YAML:
// one issue per unknown key (with a "did you mean"), "required field is missing", etc.
import type * as z from 'zod';
import type { PathSegment } from './inventory-error.js';

export interface RawIssue {
  readonly path: readonly PathSegment[];
  readonly message: string;
  /** The issue is a key the schema does not know (the path ends in it). */
  readonly unknownKey?: boolean;
}

/** Per-parse error map. Runs before zod copies the issue, so `known` rides along on it. */
export const zodErrorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'unrecognized_keys': {
      const shape: unknown = (iss.inst as { _zod?: { def?: { shape?: unknown } } } | undefined)?._zod?.def?.shape;
      if (shape !== null && typeof shape === 'object') (iss as { known?: string[] }).known = Object.keys(shape);
      return undefined;
    }
    case 'invalid_type':
      if (iss.input === undefined) return 'required field is missing';
      return `expected ${describeExpected(iss.expected)}, got ${describeValue(iss.input)}`;
    case 'invalid_value':
      return iss.values.length === 1
        ? `expected ${JSON.stringify(iss.values[0])}, got ${describeValue(iss.input)}`
        : `expected one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(iss.input)}`;
    case 'too_small':
      if (iss.origin === 'array') {
        return Number(iss.minimum) === 1 ? 'must not be empty' : `needs at least ${iss.minimum} items, got ${describeValue(iss.input)}`;
      }
      return `must be at least ${iss.minimum}, got ${describeValue(iss.input)}`;
    case 'too_big':
      if (iss.origin === 'array') return `allows at most ${iss.maximum} items, got ${describeValue(iss.input)}`;
      return `must be at most ${iss.maximum}, got ${describeValue(iss.input)}`;
    default:
      return undefined;
  }
};

export function fromZodIssues(issues: readonly z.core.$ZodIssue[], base: readonly PathSegment[] = []): RawIssue[] {
  const out: RawIssue[] = [];
  for (const iss of issues) {
    const path = [...base, ...(iss.path as PathSegment[])];
    if (iss.code === 'unrecognized_keys') {
      const known = (iss as { known?: readonly string[] }).known ?? [];
      for (const key of iss.keys) out.push({ path: [...path, key], message: unknownKeyMessage(key, known), unknownKey: true });
    } else {
      out.push({ path, message: iss.message });
    }
  }
  return out;
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const near = closest(key, known);
  if (near !== undefined) return `unknown key ${JSON.stringify(key)} (did you mean ${JSON.stringify(near)}?)`;
  return known.length > 0 ? `unknown key ${JSON.stringify(key)} (expected one of: ${known.join(', ')})` : `unknown key ${JSON.stringify(key)}`;
}

/** The known key within edit distance 2 (or differing only in case), if exactly one is nearest. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, k);
    if (d < bestDist) [best, bestDist] = [k, d];
  }
  return bestDist <= Math.min(2, Math.max(1, Math.floor(key.length / 3))) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function describeExpected(expected: string): string {
  switch (expected) {
    case 'int':
      return 'an integer';
    case 'array':
      return 'a list';
    case 'object':
      return 'a mapping';
    case 'tuple':
      return 'a list';
    default:
      return `a ${expected}`;
  }
}

/** A short description of a value as YAML shows it. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null (an empty value)';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return `number ${v}`;
  return `${typeof v} ${String(v)}`;
}
