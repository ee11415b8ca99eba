// A throwaway host root for running the delivery scripts for real (POSIX sh, coreutils,
// awk) without SSH or charon: every on-host path is prefixed through the scripts' `--root`
// test hook, and `swanctl`/`sysctl` are small fakes whose behaviour the test steers.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

// Fake swanctl: --load-all fails like strongSwan 5.9.8 does on an invalid proposal when a
// conf.d file says BROKEN, and like on a parse error (exit 0, "invalid config file") when one
// says SYNTAX. SAs "exist" while listed in $SB/sas ("<IKE name> <unique id>"); a load appends
// the lines of $SB/load-sas (SAs charon sets up itself during a load, e.g. start_action = start).
const FAKE_SWANCTL = `#!/bin/sh
echo "swanctl $*" >> "$SB/log"
case "$1" in
  --load-all)
    if [ -f "$SB/charon-down" ]; then echo "connecting to 'unix:///var/run/charon.vici' failed: Connection refused" >&2; exit 111; fi
    if grep -rqs BROKEN "$SB/root/etc/swanctl/conf.d"; then
      echo "loading connection 'x' failed: invalid value for: proposals, config discarded" >&2
      echo "loaded 0 of 1 connections, 1 failed to load, 0 unloaded" >&2; exit 22
    fi
    if grep -rqs SYNTAX "$SB/root/etc/swanctl/conf.d"; then
      echo "syntax error, unexpected end of file" >&2; echo "invalid config file '/etc/swanctl/swanctl.conf'" >&2
      echo "no connections found, 1 unloaded"; exit 0
    fi
    echo "plugin 'test-vectors': failed to load - test_vectors_plugin_create not found and no plugin file available" >&2
    if [ -f "$SB/load-sas" ]; then cat "$SB/load-sas" >> "$SB/sas"; fi
    echo "successfully loaded 2 connections, 0 unloaded" ;;
  --list-sas)
    while read -r n id; do echo "list-sa event {$n {uniqueid=$id version=2 state=ESTABLISHED local-host=198.51.100.1 child-sas {$n {uniqueid=9$id state=INSTALLED}}}}"; done < "$SB/sas"
    echo "list-sas reply {}" ;;
  --terminate)
    case $2 in
      --ike) awk -v n="$3" '$1 != n' "$SB/sas" > "$SB/sas.new" ;;
      --ike-id)
        if ! awk -v i="$3" '$2 == i { f = 1 } END { exit !f }' "$SB/sas"; then echo "terminate failed: no matching SAs to terminate found" >&2; exit 1; fi
        awk -v i="$3" '$2 != i' "$SB/sas" > "$SB/sas.new" ;;
    esac
    mv "$SB/sas.new" "$SB/sas"
    echo "terminate completed successfully" ;;
esac
exit 0
`;

// Fake sysctl: UNKNOWN in the file is a key this kernel lacks, INVALID a value it refuses.
const FAKE_SYSCTL = `#!/bin/sh
echo "sysctl $*" >> "$SB/log"
f=$2
if grep -q UNKNOWN "$f"; then echo "sysctl: cannot stat /proc/sys/net/ipv4/unknown_key: No such file or directory" >&2; exit 255; fi
if grep -q INVALID "$f"; then echo "sysctl: setting key \\"net.ipv4.invalid\\": Invalid argument" >&2; exit 255; fi
exit 0
`;

// Fake nft: records what it is asked; NFTFAIL in a file it loads is a ruleset the kernel
// refuses. The loaded table's text is kept in $SB/nft-table (deleted by `delete table`).
const FAKE_NFT = `#!/bin/sh
echo "nft $*" >> "$SB/log"
case "$1" in
  -f) if grep -q NFTFAIL "$2"; then echo "$2:1:1-3: Error: Could not process rule: No such file or directory" >&2; exit 1; fi
      cp "$2" "$SB/nft-table" ;;
  delete) if [ ! -f "$SB/nft-table" ]; then echo "Error: No such file or directory" >&2; exit 1; fi
      rm -f "$SB/nft-table" ;;
esac
exit 0
`;

export class Sandbox {
  readonly dir: string;
  readonly root: string;
  readonly bin: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'ipsec-mesh-delivery-'));
    this.root = join(this.dir, 'root');
    this.bin = join(this.dir, 'bin');
    for (const d of ['etc/swanctl/conf.d', 'etc/swanctl/x509', 'etc/swanctl/x509ca', 'etc/swanctl/private', 'etc/strongswan.d', 'etc/sysctl.d', 'run']) {
      mkdirSync(join(this.root, d), { recursive: true });
    }
    chmodSync(join(this.root, 'etc/swanctl/private'), 0o700);
    mkdirSync(this.bin);
    this.tool('swanctl', FAKE_SWANCTL);
    this.tool('sysctl', FAKE_SYSCTL);
    this.tool('nft', FAKE_NFT);
    writeFileSync(join(this.dir, 'log'), '');
    writeFileSync(join(this.dir, 'sas'), '');
  }

  /** Puts an executable on the scripts' PATH ahead of the system's. */
  tool(name: string, script: string): void {
    writeFileSync(join(this.bin, name), script, { mode: 0o755 });
  }

  /**
   * Runs a remote.Command string the way sshd does (`<login shell> -c "<command>"`), with
   * the test hook appended, `stdin` as the payload.
   */
  run(command: string, stdin = '', opts: { shell?: string; path?: string; hook?: boolean } = {}): RunResult {
    const full = opts.hook === false ? command : `${command} --root ${this.root}`;
    const r = spawnSync(opts.shell ?? '/bin/sh', ['-c', full], {
      input: stdin,
      encoding: 'utf8',
      env: { PATH: opts.path ?? `${this.bin}:/usr/local/bin:/usr/bin:/bin`, SB: this.dir, LC_ALL: 'C' },
      timeout: 60_000,
    });
    // A script that exits before reading its stdin (e.g. refused by sudo) is not an error here.
    if (r.error && (r.error as NodeJS.ErrnoException).code !== 'EPIPE') throw r.error;
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  path(onHost: string): string {
    return join(this.root, onHost);
  }
  write(onHost: string, content: string, mode = 0o644): void {
    mkdirSync(dirname(this.path(onHost)), { recursive: true });
    writeFileSync(this.path(onHost), content, { mode });
    chmodSync(this.path(onHost), mode);
  }
  read(onHost: string): string {
    return readFileSync(this.path(onHost), 'utf8');
  }
  exists(onHost: string): boolean {
    return existsSync(this.path(onHost));
  }
  mode(onHost: string): number {
    return statSync(this.path(onHost)).mode & 0o7777;
  }
  inode(onHost: string): number {
    return statSync(this.path(onHost)).ino;
  }
  /** Every file below the root (relative, sorted), hidden ones included. */
  files(): string[] {
    const out: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else out.push(p.slice(this.root.length));
      }
    };
    walk(this.root);
    return out.sort();
  }
  /** Calls the fakes recorded, one line each (`swanctl --load-all --noprompt`, …). */
  log(): string[] {
    return readFileSync(join(this.dir, 'log'), 'utf8').split('\n').filter(Boolean);
  }
  clearLog(): void {
    writeFileSync(join(this.dir, 'log'), '');
  }
  /** IKE_SAs by name; unique ids 1, 2, … in this order unless given as `name id`. */
  setSas(names: readonly string[]): void {
    writeFileSync(join(this.dir, 'sas'), names.map((n, i) => (n.includes(' ') ? `${n}\n` : `${n} ${i + 1}\n`)).join(''));
  }
  /** IKE_SAs (`name id`) the next loads set up themselves. */
  setLoadSas(lines: readonly string[]): void {
    writeFileSync(join(this.dir, 'load-sas'), lines.map((l) => `${l}\n`).join(''));
  }
  /** Names of the IKE_SAs that exist. */
  sas(): string[] {
    return this.saIds().map((l) => l.split(' ')[0]!);
  }
  /** `name id` of the IKE_SAs that exist. */
  saIds(): string[] {
    return readFileSync(join(this.dir, 'sas'), 'utf8').split('\n').filter(Boolean);
  }
  flag(name: string, on: boolean): void {
    const f = join(this.dir, name);
    if (on) writeFileSync(f, '');
    else rmSync(f, { force: true });
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
