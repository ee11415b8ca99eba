// Loss per stream from what a sink received: imlab-udp-send numbers its datagrams from 0, so
// the largest jump between consecutive numbers received is the longest outage, in datagrams.

export interface StreamLoss {
  readonly stream: string;
  readonly received: number;
  /** The highest sequence number received (the stream's length, as far as it got). */
  readonly last: number;
  /** Datagrams never received, in all. */
  readonly missing: number;
  /** The longest run of consecutive datagrams never received. */
  readonly longestRun: number;
}

/** Lines `<payload> <stream> <seq>` (other lines ignored) → per stream, sorted by name. */
export function streamLoss(sinkText: string, payload: string): StreamLoss[] {
  const seen = new Map<string, Set<number>>();
  for (const line of sinkText.split('\n')) {
    const m = /^(\S+) (\S+) (\d+)$/.exec(line);
    if (!m || m[1] !== payload) continue;
    const set = seen.get(m[2]!) ?? new Set<number>();
    set.add(Number(m[3]));
    seen.set(m[2]!, set);
  }
  return [...seen]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([stream, set]) => {
      const seqs = [...set].sort((a, b) => a - b);
      let longestRun = seqs[0]!; // those before the first received
      for (let i = 1; i < seqs.length; i++) longestRun = Math.max(longestRun, seqs[i]! - seqs[i - 1]! - 1);
      const last = seqs[seqs.length - 1]!;
      return { stream, received: seqs.length, last, missing: last + 1 - seqs.length, longestRun };
    });
}
