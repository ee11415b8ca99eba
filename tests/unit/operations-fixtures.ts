// Text exactly as strongSwan 5.9.8 (`swanctl --list-sas --pretty`) and iproute2 6.1
// (`ip xfrm state` / `ip xfrm policy`) print it, built from small descriptions, for the
// liveness parsers, the decision function and the monitor script. The list-sas layout is the
// one read back from charon in the lab (tests/lab); the xfrm layouts follow iproute2's
// ipxfrm.c (the lab kernel has no ESP, so no real SA can be listed there).
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface ChildFixture {
  readonly name: string;
  readonly id: number;
  readonly state?: string;
  readonly spiIn: string;
  readonly spiOut: string;
  readonly installTime?: number;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  readonly local: string;
  readonly remote: string;
}

export interface IkeFixture {
  readonly name: string;
  readonly id: number;
  readonly state?: string;
  readonly local: string;
  readonly remote: string;
  readonly initiator?: boolean;
  readonly established?: number;
  readonly children?: readonly ChildFixture[];
  /** A DN identity with spaces and commas, as certificate meshes may have. */
  readonly remoteId?: string;
  /** A post-quantum preshared key is mixed in (RFC 8784). */
  readonly ppk?: boolean;
  /** An ML-KEM additional key exchange ran (strongSwan 6). */
  readonly mlKem?: boolean;
}

const pfx = (a: string): string => `${a}/${a.includes(':') ? 128 : 32}`;

export function prettySas(ikes: readonly IkeFixture[]): string {
  const out: string[] = [];
  for (const ike of ikes) {
    const state = ike.state ?? 'ESTABLISHED';
    out.push(
      'list-sa event {',
      `  ${ike.name} {`,
      `    uniqueid = ${ike.id}`,
      '    version = 2',
      `    state = ${state}`,
      `    local-host = ${ike.local}`,
      '    local-port = 500',
      `    local-id = ${ike.local}`,
      `    remote-host = ${ike.remote}`,
      '    remote-port = 500',
      `    remote-id = ${ike.remoteId ?? ike.remote}`,
    );
    if (ike.initiator) out.push('    initiator = yes');
    out.push('    initiator-spi = 569657e7d410d43e', '    responder-spi = 6d6cf36fc88ad23e');
    if (state === 'ESTABLISHED') {
      out.push('    encr-alg = AES_GCM_16', '    encr-keysize = 256', '    prf-alg = PRF_HMAC_SHA2_384', '    dh-group = ECP_384');
      if (ike.mlKem) out.push('    ake1 = ML_KEM_768');
      if (ike.ppk) out.push('    ppk = yes');
      out.push(`    established = ${ike.established ?? 100}`, '    rekey-time = 14136');
    }
    out.push('    child-sas {');
    for (const c of ike.children ?? []) {
      out.push(
        `      ${c.name}-${c.id} {`,
        `        name = ${c.name}`,
        `        uniqueid = ${c.id}`,
        '        reqid = 1',
        `        state = ${c.state ?? 'INSTALLED'}`,
        '        mode = TRANSPORT',
        '        protocol = ESP',
        `        spi-in = ${c.spiIn}`,
        `        spi-out = ${c.spiOut}`,
        '        encr-alg = AES_GCM_16',
        '        encr-keysize = 256',
        `        bytes-in = ${c.bytesIn ?? 0}`,
        '        packets-in = 0',
        `        bytes-out = ${c.bytesOut ?? 0}`,
        '        packets-out = 0',
        '        rekey-time = 3242',
        '        life-time = 3960',
        `        install-time = ${c.installTime ?? 50}`,
        '        local-ts = [',
        `          ${pfx(c.local)}`,
        '        ]',
        '        remote-ts = [',
        `          ${pfx(c.remote)}`,
        '        ]',
        '      }',
      );
    }
    out.push('    }', '  }', '}');
  }
  out.push('list-sas reply {', '}', '');
  return out.join('\n');
}

export interface SaFixture {
  readonly src: string;
  readonly dst: string;
  readonly spi: string; // 8 hex digits
  readonly proto?: string;
  readonly bytes?: number;
}

/** A secret-looking key on every SA: tests check it never lands in a file the monitor writes. */
export const FAKE_KEY = '0x6b6579206d6174657269616c206e657665722073746f7265640000000000000000000000';

export function xfrmStateText(sas: readonly SaFixture[], stats = false): string {
  const out: string[] = [];
  for (const sa of sas) {
    const spi = stats ? `0x${sa.spi}(${parseInt(sa.spi, 16)})` : `0x${sa.spi}`;
    out.push(
      `src ${sa.src} dst ${sa.dst}`,
      `\tproto ${sa.proto ?? 'esp'} spi ${spi} reqid 1${stats ? '(0x00000001)' : ''} mode transport`,
      '\treplay-window 0 flag af-unspec',
      `\taead rfc4106(gcm(aes)) ${FAKE_KEY}${stats ? ' (288 bits)' : ''} 128`,
      '\tanti-replay context: seq 0x0, oseq 0x5, bitmap 0x00000000',
      `\tsel src ${pfx(sa.src)} dst ${pfx(sa.dst)} ${stats ? 'uid 0' : ''}`,
    );
    if (stats) {
      out.push(
        '\tlifetime config:',
        '\t  limit: soft (INF)(bytes), hard (INF)(bytes)',
        '\t  limit: soft (INF)(packets), hard (INF)(packets)',
        '\t  expire add: soft 3291(sec), hard 3600(sec)',
        '\t  expire use: soft 0(sec), hard 0(sec)',
        '\tlifetime current:',
        `\t  ${sa.bytes ?? 0}(bytes), 5(packets)`,
        '\t  add 2026-11-25 13:12:57 use 2026-11-25 13:12:58',
        '\tstats:',
        '\t  replay-window 0 replay 0 failed 0',
      );
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

export interface PolicyFixture {
  readonly src: string; // selector with prefix
  readonly dst: string;
  readonly dir: 'in' | 'out' | 'fwd';
  readonly upper?: string;
  readonly priority?: number;
  readonly esp?: boolean;
  readonly block?: boolean;
}

export function xfrmPolicyText(pols: readonly PolicyFixture[], withSocketPolicies = true): string {
  const out: string[] = [];
  for (const p of pols) {
    out.push(`src ${p.src} dst ${p.dst} ${p.upper ? `${p.upper} ` : ''}`, `\tdir ${p.dir} ${p.block ? 'action block ' : ''}priority ${p.priority ?? 2000} ptype main `);
    if (p.esp) out.push('\ttmpl src 0.0.0.0 dst 0.0.0.0', '\t\tproto esp reqid 1 mode transport');
  }
  if (withSocketPolicies) {
    for (const fam of ['0.0.0.0/0', '::/0']) {
      for (const d of ['in', 'out']) out.push(`src ${fam} dst ${fam} `, `\tsocket ${d} priority 0 ptype main `);
    }
  }
  return `${out.join('\n')}\n`;
}

/** /proc/net/xfrm_stat as this kernel prints it (tab after padded names). */
export function xfrmStatText(counters: Readonly<Record<string, number>> = {}): string {
  const names = ['XfrmInError', 'XfrmInBufferError', 'XfrmInHdrError', 'XfrmInNoStates', 'XfrmInStateProtoError', 'XfrmInStateModeError', 'XfrmInStateSeqError', 'XfrmInStateExpired', 'XfrmInStateMismatch', 'XfrmInStateInvalid', 'XfrmInTmplMismatch', 'XfrmInNoPols', 'XfrmInPolBlock', 'XfrmInPolError', 'XfrmOutError', 'XfrmOutNoStates', 'XfrmOutPolBlock', 'XfrmAcquireError'];
  return names.map((n) => `${n.padEnd(24)}\t${counters[n] ?? 0}`).join('\n') + '\n';
}

// ---- a sandbox root with fake swanctl, ip, logger, date and sleep for the monitor script ----

const FAKE_SWANCTL = `#!/bin/sh
echo "swanctl $*" >> "$SB/log"
case "$1" in
  --list-sas)
    if [ -f "$SB/charon-down" ]; then echo "connecting to 'unix:///var/run/charon.vici' failed: Connection refused" >&2; exit 1; fi
    n=$(cat "$SB/sas.count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$SB/sas.count"
    if [ -f "$SB/sas.$n" ]; then cat "$SB/sas.$n"; else cat "$SB/sas.txt"; fi ;;
  --initiate)
    echo "[IKE] establishing CHILD_SA"
    if [ -f "$SB/initiate-fails" ]; then echo "initiate failed: establishing CHILD_SA failed" >&2; exit 1; fi
    echo "initiate completed successfully" ;;
  --terminate) echo "terminate completed successfully" ;;
  --list-certs) if [ -f "$SB/certs.txt" ]; then cat "$SB/certs.txt"; fi ;;
esac
exit 0
`;

const FAKE_IP = `#!/bin/sh
echo "ip $*" >> "$SB/log"
[ "$1" = xfrm ] || exit 1
case "$2" in
  state) [ -f "$SB/ip-fails" ] && { echo "RTNETLINK answers: Operation not permitted" >&2; exit 2; }; cat "$SB/sad.txt" ;;
  policy) [ -f "$SB/ip-fails" ] && exit 2; cat "$SB/spd.txt" ;;
esac
`;

const FAKE_LOGGER = `#!/bin/sh
# logger -t TAG -p PRIO -- MESSAGE
echo "$2 $4 $6" >> "$SB/syslog"
`;

export interface MonitorRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class MonitorSandbox {
  readonly dir: string;
  readonly root: string;
  readonly bin: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'ipsec-mesh-monitor-'));
    this.root = join(this.dir, 'root');
    this.bin = join(this.dir, 'bin');
    for (const d of ['run', 'proc/net', 'metrics', 'etc/swanctl', 'dev']) mkdirSync(join(this.root, d), { recursive: true });
    // A syslog socket stands here (the script only checks that it exists before using logger).
    writeFileSync(join(this.root, 'dev/log'), '');
    mkdirSync(this.bin);
    this.tool('swanctl', FAKE_SWANCTL);
    this.tool('ip', FAKE_IP);
    this.tool('logger', FAKE_LOGGER);
    this.tool('date', '#!/bin/sh\ncat "$SB/now"\n');
    this.tool('sleep', '#!/bin/sh\necho "sleep $*" >> "$SB/log"\n');
    this.set({ sas: prettySas([]), sad: '', spd: xfrmPolicyText([]), now: 1_000_000 });
    writeFileSync(join(this.root, 'proc/net/xfrm_stat'), xfrmStatText());
    writeFileSync(join(this.dir, 'log'), '');
    writeFileSync(join(this.dir, 'syslog'), '');
  }

  tool(name: string, script: string): void {
    writeFileSync(join(this.bin, name), script, { mode: 0o755 });
  }

  /**
   * What the fakes print. `sas` is every `--list-sas` of a run, unless `sasByCall` has one for
   * that call (1 = the first listing of the run).
   */
  set(v: { sas?: string; sasByCall?: Readonly<Record<number, string>>; sad?: string; spd?: string; now?: number; stat?: string }): void {
    if (v.sas !== undefined) writeFileSync(join(this.dir, 'sas.txt'), v.sas);
    if (v.sasByCall !== undefined) {
      for (const f of readdirSync(this.dir)) if (/^sas\.\d+$/.test(f)) rmSync(join(this.dir, f));
      for (const [n, text] of Object.entries(v.sasByCall)) writeFileSync(join(this.dir, `sas.${n}`), text);
    }
    if (v.sad !== undefined) writeFileSync(join(this.dir, 'sad.txt'), v.sad);
    if (v.spd !== undefined) writeFileSync(join(this.dir, 'spd.txt'), v.spd);
    if (v.now !== undefined) writeFileSync(join(this.dir, 'now'), `${v.now}\n`);
    if (v.stat !== undefined) writeFileSync(join(this.root, 'proc/net/xfrm_stat'), v.stat);
  }

  flag(name: string, on: boolean): void {
    const f = join(this.dir, name);
    if (on) writeFileSync(f, '');
    else rmSync(f, { force: true });
  }

  /** Runs the script (a file under the root) with dash, the fakes first on PATH. */
  run(script: string, args: readonly string[] = [], shell = '/bin/sh'): MonitorRun {
    const path = join(this.root, 'etc/swanctl/monitor.sh');
    writeFileSync(path, script, { mode: 0o755 });
    chmodSync(path, 0o755);
    rmSync(join(this.dir, 'sas.count'), { force: true });
    const r = spawnSync(shell, [path, '--root', this.root, '--textfile-dir', '/metrics', ...args], {
      encoding: 'utf8',
      env: { PATH: `${this.bin}:/usr/local/bin:/usr/bin:/bin`, SB: this.dir, LC_ALL: 'C' },
      timeout: 60_000,
    });
    if (r.error) throw r.error;
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Starts the script without waiting (the service loop), in its own process group. */
  start(script: string, args: readonly string[] = []): ChildProcess {
    const path = join(this.root, 'etc/swanctl/monitor.sh');
    writeFileSync(path, script, { mode: 0o755 });
    return spawn('/bin/sh', [path, '--root', this.root, '--textfile-dir', '/metrics', ...args], {
      env: { PATH: `${this.bin}:/usr/local/bin:/usr/bin:/bin`, SB: this.dir, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
  }

  read(rel: string): string {
    return readFileSync(join(this.root, rel), 'utf8');
  }
  write(rel: string, content: string): void {
    mkdirSync(dirname(join(this.root, rel)), { recursive: true });
    writeFileSync(join(this.root, rel), content);
  }
  log(): string[] {
    return readFileSync(join(this.dir, 'log'), 'utf8').split('\n').filter(Boolean);
  }
  syslog(): string[] {
    return readFileSync(join(this.dir, 'syslog'), 'utf8').split('\n').filter(Boolean);
  }
  clearLogs(): void {
    writeFileSync(join(this.dir, 'log'), '');
    writeFileSync(join(this.dir, 'syslog'), '');
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
