// Growable buffer of numeric pair codes. Pairs are handled as numbers until the very end:
// a 1000-host full mesh is ~500k pairs, and a numeric typed-array sort plus a linear scan
// replaces a Map of 500k entries (much less time and garbage).

/** Encodes host indexes i < j (of N hosts) and the rule slot s (of R rules) as one exact integer. */
export interface PairCoding {
  readonly hosts: number; // N
  readonly rules: number; // R
}

export class PairCodeBuffer {
  private data: Float64Array;
  private size = 0;

  constructor(initialCapacity = 1024) {
    this.data = new Float64Array(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.size;
  }

  /** Room for `n` more codes without further growth (a mesh rule knows its count up front). */
  reserve(n: number): void {
    const need = this.size + n;
    if (need <= this.data.length) return;
    let cap = this.data.length;
    while (cap < need) cap *= 2;
    const next = new Float64Array(cap);
    next.set(this.data.subarray(0, this.size));
    this.data = next;
  }

  push(code: number): void {
    if (this.size === this.data.length) this.reserve(1);
    this.data[this.size++] = code;
  }

  /** The codes pushed so far, sorted ascending (a view: valid until the next push). */
  sorted(): Float64Array {
    return this.data.subarray(0, this.size).sort();
  }
}

/** Exact floor(x / d) for non-negative integers below 2^53 (float division may round up by one). */
export function exactQuotient(x: number, d: number): number {
  let q = Math.floor(x / d);
  if (q * d > x) q--;
  else if ((q + 1) * d <= x) q++;
  return q;
}
