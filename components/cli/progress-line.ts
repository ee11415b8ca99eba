// Progress on stderr while hosts are queried over SSH, so a long run is never silent and
// stdout stays the result alone (JSON, a table, a plugin line). On a terminal one line is
// redrawn in place; elsewhere (CI logs, cron mail) a line at the start, one every few
// seconds while hosts are outstanding, and one at the end.
export interface ProgressLine {
  /** Pass as `onHostDone` to the collectors. */
  readonly hostDone: (host: string) => void;
  /** The closing line; stops the periodic lines. */
  readonly finish: () => void;
}

export interface ProgressLineOptions {
  readonly write?: (text: string) => void;
  readonly isTty?: boolean;
  /** SSH reads per host (e.g. SAs and certificates): answers counted are hosts × this. */
  readonly readsPerHost?: number;
  /** Seconds between lines when not on a terminal. */
  readonly everySeconds?: number;
  readonly now?: () => number;
}

export function startProgressLine(what: string, hosts: number, opts: ProgressLineOptions = {}): ProgressLine {
  const total = hosts * (opts.readsPerHost ?? 1);
  const write = opts.write ?? ((t: string) => process.stderr.write(t));
  const tty = opts.isTty ?? process.stderr.isTTY === true;
  const now = opts.now ?? (() => Date.now());
  const started = now();
  let done = 0;
  let last = '';
  const elapsed = (): string => `${((now() - started) / 1000).toFixed(1)} s`;
  const text = (): string => `ipsec-mesh: ${what}: ${done}/${total} answer(s) from ${hosts} host(s) (${elapsed()})`;
  if (tty) write(`\r${text()}`);
  else write(`ipsec-mesh: ${what}: querying ${hosts} host(s) over SSH\n`);
  const timer = tty
    ? undefined
    : setInterval(() => {
        const t = text();
        if (t !== last) write(`${t}\n`);
        last = t;
      }, (opts.everySeconds ?? 5) * 1000);
  timer?.unref();
  return {
    hostDone: () => {
      done += 1;
      if (tty) write(`\r${text()}`);
    },
    finish: () => {
      if (timer !== undefined) clearInterval(timer);
      write(tty ? `\r${text()}\n` : `${text()}\n`);
    },
  };
}
