// The rollout gate script run for real (POSIX sh) against a fake liveness monitor and a fake
// swanctl: it passes once every target is up, probes what is down, fails at the deadline
// naming the pairs, checks a later wave's pair only when it was deployed before, and refuses
// truncated or malformed input.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryError } from '../../components/delivery/delivery-error.js';
import { gateInput, payloadDigest, rolloutGateScript, type GateTarget } from '../../components/delivery/rollout-gate.js';
import { scriptOfCommand } from '../../components/delivery/remote-shell.js';

const SCRIPT = new URL('../../components/operations/scripts/rollout-gate.sh', import.meta.url).pathname;

// Writes the metrics of the targets listed in $SB/up ("<peer> <family>" lines) as up, the
// rest of $SB/targets as down: the lines the real monitor writes.
const FAKE_MONITOR = `#!/bin/sh
echo "monitor $*" >> "$SB/log"
dir=
while [ "$#" -gt 0 ]; do case $1 in --textfile-dir) dir=$2; shift ;; esac; shift; done
: > "$dir/ipsec_mesh_lab.prom"
while read -r peer fam; do
  v=0; grep -qxF "$peer $fam" "$SB/up" && v=1
  echo "ipsec_mesh_ike_established{mesh=\\"lab\\",peer=\\"$peer\\",family=\\"$fam\\",enforcement=\\"require\\"} $v" >> "$dir/ipsec_mesh_lab.prom"
done < "$SB/targets"
`;

// swanctl --initiate brings the target up when $SB/fixable lists it.
const FAKE_SWANCTL = `#!/bin/sh
echo "swanctl $*" >> "$SB/log"
if [ "$1" = --initiate ]; then
  conn=$3
  if grep -q "^$conn " "$SB/fixable"; then grep "^$conn " "$SB/fixable" | cut -d" " -f2- >> "$SB/up"; exit 0; fi
  exit 1
fi
`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sandbox(opts: { up?: string[]; fixable?: string[]; prev?: string[] } = {}) {
  const sb = mkdtempSync(join(tmpdir(), 'ipsec-mesh-gate-test-'));
  dirs.push(sb);
  const root = join(sb, 'root');
  mkdirSync(join(root, 'etc/swanctl'), { recursive: true });
  mkdirSync(join(sb, 'bin'));
  writeFileSync(join(root, 'etc/swanctl/ipsec-mesh_lab_monitor.sh'), FAKE_MONITOR);
  writeFileSync(join(sb, 'bin/swanctl'), FAKE_SWANCTL);
  writeFileSync(join(sb, 'bin/ping'), '#!/bin/sh\necho "ping $*" >> "$SB/log"\nexit 1\n');
  writeFileSync(join(sb, 'bin/sleep'), '#!/bin/sh\nexit 0\n');
  for (const f of ['swanctl', 'ping', 'sleep']) chmodSync(join(sb, 'bin', f), 0o755);
  writeFileSync(join(sb, 'targets'), 'h2 ipv4\nh2 ipv6\nh3 ipv4\n');
  writeFileSync(join(sb, 'up'), (opts.up ?? []).map((l) => `${l}\n`).join(''));
  writeFileSync(join(sb, 'fixable'), (opts.fixable ?? []).map((l) => `${l}\n`).join(''));
  writeFileSync(join(sb, 'log'), '');
  if (opts.prev) writeFileSync(join(root, 'etc/swanctl/.ipsec-mesh-before.lab'), opts.prev.map((c) => `C ${c}\n`).join(''));
  const run = (stdin: string) => {
    const r = spawnSync('/bin/sh', [SCRIPT, '--root', root], { input: stdin, encoding: 'utf8', env: { ...process.env, SB: sb, PATH: `${join(sb, 'bin')}:${process.env.PATH ?? ''}` } });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, log: readFileSync(join(sb, 'log'), 'utf8') };
  };
  return { run, sb, root };
}

const T = (peer: string, family: 'ipv4' | 'ipv6', wave: 'earlier' | 'later' = 'earlier'): GateTarget => ({
  peer,
  family,
  connection: `lab_${peer}_${family === 'ipv4' ? 'v4' : 'v6'}`,
  remote: family === 'ipv4' ? '198.51.100.2' : '2001:db8::2',
  layout: 'per-peer',
  wave,
});

const input = (targets: GateTarget[], waitSeconds = 3) =>
  gateInput({ host: 'h1', mesh: 'lab', level: 'ike', waitSeconds, payloadDigest: payloadDigest('payload'), targets });

describe('rollout gate script', () => {
  it('passes at once when every target is up', () => {
    const { run } = sandbox({ up: ['h2 ipv4', 'h2 ipv6', 'h3 ipv4'] });
    const r = run(input([T('h2', 'ipv4'), T('h2', 'ipv6'), T('h3', 'ipv4')]));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('h1: rollout gate passed: 3 pair/family target(s) with an ESTABLISHED IKE_SA');
    expect(r.log).toContain('monitor --after-load --textfile-dir');
    expect(r.log).not.toContain('swanctl --initiate');
  });

  it('initiates what is down and passes once it comes up', () => {
    const { run } = sandbox({ up: ['h2 ipv4'], fixable: ['lab_h3_v4 h3 ipv4'] });
    const r = run(input([T('h2', 'ipv4'), T('h3', 'ipv4')]));
    expect(r.code).toBe(0);
    expect(r.log).toContain('swanctl --initiate --ike lab_h3_v4 --child lab_h3_v4 --timeout 5');
    expect(r.log).not.toContain('--ike lab_h2_v4');
  });

  it('fails at the deadline naming every pair still down', () => {
    const { run } = sandbox({ up: ['h2 ipv4'] });
    const r = run(input([T('h2', 'ipv4'), T('h2', 'ipv6'), T('h3', 'ipv4')], 1));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('h1: rollout gate FAILED: after 1s still without an ESTABLISHED IKE_SA: h1~h2 (ipv6) h1~h3 (ipv4).');
    expect(r.stderr).not.toContain('h1~h2 (ipv4)');
  });

  it('checks a later wave\'s pair only when this host had it before the push', () => {
    const fresh = sandbox({ up: [] }).run(input([T('h2', 'ipv4', 'later'), T('h3', 'ipv4', 'later')], 1));
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toContain('nothing to check yet (2 new pair/family target(s)');
    const deployed = sandbox({ up: [], prev: ['lab_h2_v4'] }).run(input([T('h2', 'ipv4', 'later'), T('h3', 'ipv4', 'later')], 1));
    expect(deployed.code).toBe(1);
    expect(deployed.stderr).toContain('IKE_SA: h1~h2 (ipv4).');
  });

  it('refuses truncated or malformed input before judging anything', () => {
    const { run } = sandbox({ up: ['h2 ipv4'] });
    const good = input([T('h2', 'ipv4')]);
    expect(run(good.replace('END 1\n', '')).stderr).toContain('input truncated: no END line');
    expect(run(good.replace('END 1', 'END 2')).stderr).toContain('input truncated: END 2, found 1');
    expect(run(good.replace('T h2 ipv4', 'T h2;reboot ipv4')).stderr).toContain('bad peer name');
    expect(run(good.replace('L ike', 'L esp')).stderr).toContain('level must be ike or child');
    for (const bad of [good.replace('END 1\n', ''), good.replace('L ike', 'L esp')]) expect(run(bad).code).toBe(1);
  });

  it('fails when the monitor the push installs is missing', () => {
    const { run, sb } = sandbox({ up: ['h2 ipv4'] });
    rmSync(join(sb, 'root/etc/swanctl/ipsec-mesh_lab_monitor.sh'));
    const r = run(input([T('h2', 'ipv4')]));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no liveness monitor');
    expect(existsSync(join(sb, 'root/etc/swanctl/ipsec-mesh_lab_monitor.sh'))).toBe(false);
  });
});

describe('gateInput and the gate command', () => {
  it('rejects what the script would refuse, naming the host', () => {
    const base = { host: 'h1', mesh: 'lab', level: 'ike' as const, waitSeconds: 5, payloadDigest: payloadDigest('x'), targets: [T('h2', 'ipv4')] };
    expect(() => gateInput({ ...base, waitSeconds: 0 })).toThrow(DeliveryError);
    expect(() => gateInput({ ...base, payloadDigest: 'abc' })).toThrow('h1: gate payload digest');
    expect(() => gateInput({ ...base, targets: [{ ...T('h2', 'ipv4'), remote: '1.2.3.4; rm' }] })).toThrow('is not an address');
  });

  it('runs the script the push installed, through the shared bootstrap: a short command, no secret', () => {
    const cmd = rolloutGateScript('h1', 'lab');
    expect(cmd.startsWith("/bin/sh -c '")).toBe(true);
    expect(cmd).toContain(' ipsec-mesh-gate \'');
    expect(scriptOfCommand(cmd).startsWith('f=/etc/swanctl/ipsec-mesh_lab_gate.sh\n')).toBe(true);
    expect(cmd.length).toBeLessThan(1_000);
    expect(cmd).not.toContain('#!/bin/sh');
  });

  it('the command runs the installed script with its stdin, and says so when the push has not installed it', () => {
    const { sb, root } = sandbox({ up: ['h2 ipv4'] });
    const run = (): { code: number; stdout: string; stderr: string } => {
      const r = spawnSync('/bin/sh', ['-c', `${rolloutGateScript('h1', 'lab')} --root ${root}`], {
        input: input([T('h2', 'ipv4')]),
        encoding: 'utf8',
        env: { ...process.env, SB: sb, PATH: `${join(sb, 'bin')}:${process.env.PATH ?? ''}` },
      });
      return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
    };
    const missing = run();
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('h1: no rollout gate script at /etc/swanctl/ipsec-mesh_lab_gate.sh: the push installs it');
    copyFileSync(SCRIPT, join(root, 'etc/swanctl/ipsec-mesh_lab_gate.sh'));
    const ok = run();
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain('h1: rollout gate passed: 1 pair/family target(s)');
  });
});
