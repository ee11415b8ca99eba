// The kernel's view of IPsec, from iproute2 and procfs: the SAD (`ip xfrm state`), the SPD
// (`ip xfrm policy`) and the per-namespace error counters (/proc/net/xfrm_stat). Pure parsers;
// the monitor script reads the same text with awk (monitor-script.ts), these mirror it.
//
// `ip xfrm state` prints the keys (`aead rfc4106(gcm(aes)) 0x…`): the parsers keep only the
// header lines, and callers should filter the text before it leaves the host.

/** The text is not what iproute2 / procfs print. */
export class XfrmParseError extends Error {
  override readonly name = 'XfrmParseError';
  constructor(
    readonly source: 'xfrm-state' | 'xfrm-policy' | 'xfrm-stat',
    readonly line: number,
    message: string,
  ) {
    super(`${source} line ${line}: ${message}`);
  }
}

/** One SA of the kernel SAD (only what liveness needs; never the keys). */
export interface XfrmState {
  readonly src: string;
  readonly dst: string;
  /** esp, ah, comp, … */
  readonly proto: string;
  /** 8 lower-case hex digits, as charon prints `spi-in`/`spi-out`. */
  readonly spi: string;
  readonly reqid: number;
  readonly mode: string;
  /** `ip -s` only: current lifetime counters. */
  readonly bytes?: number;
  readonly packets?: number;
  /** `ip -s` only: replay-window drops and integrity failures. */
  readonly replayDrops?: number;
  readonly integrityFailed?: number;
}

function spiHex(text: string): string {
  // `0xc1a2b3c4` or, with -s, `0xc1a2b3c4(3248665540)`
  const m = /^0x([0-9a-fA-F]{1,8})(?:\(\d+\))?$/.exec(text);
  return m ? m[1]!.toLowerCase().padStart(8, '0') : '';
}

/** `ip [-s] xfrm state` → SAs. Lines other than the header, proto, lifetime and stats lines are ignored. */
export function parseXfrmState(text: string): XfrmState[] {
  const out: XfrmState[] = [];
  let cur: { line: number; src: string; dst: string; proto?: string; spi?: string; reqid?: number; mode?: string; bytes?: number; packets?: number; replayDrops?: number; integrityFailed?: number } | undefined;
  let inCurrent = false;
  let inStats = false;
  const flush = (): void => {
    if (cur === undefined) return;
    if (cur.proto === undefined || cur.spi === undefined) throw new XfrmParseError('xfrm-state', cur.line, `SA ${cur.src} → ${cur.dst} has no "proto … spi …" line`);
    out.push({
      src: cur.src,
      dst: cur.dst,
      proto: cur.proto,
      spi: cur.spi,
      reqid: cur.reqid ?? 0,
      mode: cur.mode ?? '',
      ...(cur.bytes !== undefined ? { bytes: cur.bytes, packets: cur.packets ?? 0 } : {}),
      ...(cur.integrityFailed !== undefined ? { replayDrops: cur.replayDrops ?? 0, integrityFailed: cur.integrityFailed } : {}),
    });
    cur = undefined;
  };
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw.trim() === '') return;
    let m: RegExpExecArray | null;
    if ((m = /^src (\S+) dst (\S+)\s*$/.exec(raw))) {
      flush();
      cur = { line: n, src: m[1]!, dst: m[2]! };
      inCurrent = inStats = false;
      return;
    }
    if (cur === undefined) throw new XfrmParseError('xfrm-state', n, `expected "src … dst …", got ${JSON.stringify(raw.slice(0, 80))}`);
    const line = raw.trim();
    if ((m = /^proto (\S+) spi (\S+) reqid (\d+)(?:\(0x[0-9a-f]+\))? mode (\S+)/.exec(line))) {
      const spi = spiHex(m[2]!);
      if (spi === '') throw new XfrmParseError('xfrm-state', n, `bad spi ${m[2]}`);
      cur.proto = m[1]!;
      cur.spi = spi;
      cur.reqid = Number(m[3]);
      cur.mode = m[4]!;
    } else if (line === 'lifetime current:') {
      inCurrent = true;
    } else if (line === 'stats:') {
      inStats = true;
    } else if (inCurrent && (m = /^(\d+)\(bytes\), (\d+)\(packets\)$/.exec(line))) {
      cur.bytes = Number(m[1]);
      cur.packets = Number(m[2]);
      inCurrent = false;
    } else if (inStats && (m = /^replay-window \d+ replay (\d+) failed (\d+)$/.exec(line))) {
      cur.replayDrops = Number(m[1]);
      cur.integrityFailed = Number(m[2]);
      inStats = false;
    }
  });
  flush();
  return out;
}

export interface XfrmTemplate {
  readonly src: string;
  readonly dst: string;
  readonly proto: string;
  readonly mode: string;
  readonly reqid: number;
}

/** One policy of the kernel SPD. */
export interface XfrmPolicy {
  /** Selector, `addr/prefix`. */
  readonly src: string;
  readonly dst: string;
  /** Selector protocol and ports as printed (`proto tcp dport 22`), empty for all traffic. */
  readonly upper: string;
  /** in, out, fwd — or `socket in`/`socket out` for per-socket policies. */
  readonly dir: string;
  readonly priority: number;
  /** allow (default) or block. */
  readonly action: string;
  readonly templates: readonly XfrmTemplate[];
}

/** `ip xfrm policy` (without -s) → policies. */
export function parseXfrmPolicy(text: string): XfrmPolicy[] {
  const out: XfrmPolicy[] = [];
  type Building = { src: string; dst: string; upper: string; dir?: string; priority?: number; action?: string; templates: XfrmTemplate[]; tmpl?: { src: string; dst: string } };
  let cur: Building | undefined;
  const flush = (n: number): void => {
    if (cur === undefined) return;
    if (cur.dir === undefined) throw new XfrmParseError('xfrm-policy', n, `policy ${cur.src} → ${cur.dst} has no "dir" line`);
    out.push({ src: cur.src, dst: cur.dst, upper: cur.upper, dir: cur.dir, priority: cur.priority ?? 0, action: cur.action ?? 'allow', templates: cur.templates });
    cur = undefined;
  };
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw.trim() === '') return;
    let m: RegExpExecArray | null;
    if ((m = /^src (\S+) dst (\S+)\s*(.*?)\s*$/.exec(raw))) {
      flush(n);
      cur = { src: m[1]!, dst: m[2]!, upper: m[3]!.replace(/\s*uid \d+$/, ''), templates: [] };
      return;
    }
    if (cur === undefined) throw new XfrmParseError('xfrm-policy', n, `expected "src … dst …", got ${JSON.stringify(raw.slice(0, 80))}`);
    const line = raw.trim();
    if ((m = /^(?:dir (in|out|fwd)|socket (in|out))\b/.exec(line))) {
      cur.dir = m[1] ?? `socket ${m[2]}`;
      const p = /\bpriority (\d+)/.exec(line);
      if (p) cur.priority = Number(p[1]);
      const a = /\baction (\S+)/.exec(line);
      if (a) cur.action = a[1]!;
    } else if ((m = /^tmpl src (\S+) dst (\S+)$/.exec(line))) {
      cur.tmpl = { src: m[1]!, dst: m[2]! };
    } else if (cur.tmpl && (m = /^proto (\S+) (?:spi \S+ )?reqid (\d+) mode (\S+)/.exec(line))) {
      cur.templates.push({ ...cur.tmpl, proto: m[1]!, reqid: Number(m[2]), mode: m[3]! });
      cur.tmpl = undefined;
    }
  });
  flush(lines.length);
  return out;
}

/** `/proc/net/xfrm_stat` → counter name → value (XfrmInNoStates, XfrmInStateSeqError, …). */
export function parseXfrmStat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^([A-Za-z][A-Za-z0-9]*)\s+(\d+)\s*$/.exec(line);
    if (!m) throw new XfrmParseError('xfrm-stat', i + 1, `expected "<Counter> <value>", got ${JSON.stringify(line.slice(0, 80))}`);
    out.set(m[1]!, Number(m[2]));
  });
  return out;
}

/** Host-prefix form of an address, as selectors print it. */
export function hostPrefix(address: string): string {
  return `${address}/${address.includes(':') ? 128 : 32}`;
}
