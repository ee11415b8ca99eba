// The drift check run for real (POSIX sh) on a throwaway host root: it compares the files
// the push recorded by hash and the mesh's kernel settings against what is there now, and
// its report parses into what `status --drift` and the stack program act on.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DRIFT_CHECK_SCRIPT, formatDrift, parseDriftReport } from '../../components/operations/drift-check.js';

const CONF = '/etc/swanctl/conf.d/ipsec-mesh_lab.conf';
const SYSCTL = '/etc/sysctl.d/60-ipsec-mesh_lab.conf';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A host root with one push's files and state, and the kernel settings under its proc/sys. */
function host(state?: string) {
  const sb = mkdtempSync(join(tmpdir(), 'ipsec-mesh-drift-test-'));
  dirs.push(sb);
  const root = join(sb, 'root');
  for (const d of [join(root, 'etc/swanctl/conf.d'), join(root, 'etc/sysctl.d'), join(root, 'proc/sys/net/ipv4')]) mkdirSync(d, { recursive: true });
  const conf = 'connections {\n}\n';
  const sysctl = '# ipsec-mesh\nnet.ipv4.xfrm4_gc_thresh = 32768\nnet.ipv4.tcp_mtu_probing = 1\nnet.ipv4.missing_key = 5\n';
  writeFileSync(join(root, CONF), conf);
  writeFileSync(join(root, SYSCTL), sysctl);
  writeFileSync(join(root, 'proc/sys/net/ipv4/xfrm4_gc_thresh'), '32768\n');
  writeFileSync(join(root, 'proc/sys/net/ipv4/tcp_mtu_probing'), '1\n');
  writeFileSync(
    join(root, 'etc/swanctl/.ipsec-mesh-state.lab'),
    state ?? ['ipsec-mesh-state 1', 'N 1', `F ${CONF}`, `S ${sha(conf)} ${CONF}`, `F ${SYSCTL}`, `S ${sha(sysctl)} ${SYSCTL}`, 'C lab_b_v4', ''].join('\n'),
  );
  const check = () => {
    const r = spawnSync('/bin/sh', ['-s', 'lab', '--root', root], { input: DRIFT_CHECK_SCRIPT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return parseDriftReport('b', r.stdout);
  };
  return { sb, root, check };
}

describe('drift check', () => {
  it('finds nothing on a host as pushed (a key the kernel lacks is skipped)', () => {
    const r = host().check();
    expect(r).toEqual({ host: 'b', drifted: [], untracked: 0, noState: false, filesCompared: 2, settingsCompared: 2 });
    expect(formatDrift([r])).toBe('  b: as pushed (2 files, 2 kernel settings)');
  });

  it('names a hand-edited file, a removed one and a changed kernel setting', () => {
    const h = host();
    writeFileSync(join(h.root, CONF), 'connections {\n  # hand edit\n}\n');
    rmSync(join(h.root, SYSCTL));
    writeFileSync(join(h.root, 'proc/sys/net/ipv4/tcp_mtu_probing'), '0\n');
    let r = h.check();
    expect(r.drifted).toEqual([`file ${CONF} changed`, `file ${SYSCTL} missing`]);
    // The settings file is gone, so its keys are not compared; put it back to see the setting.
    writeFileSync(join(h.root, SYSCTL), '# ipsec-mesh\nnet.ipv4.xfrm4_gc_thresh = 32768\nnet.ipv4.tcp_mtu_probing = 1\nnet.ipv4.missing_key = 5\n');
    r = h.check();
    expect(r.drifted).toEqual([`file ${CONF} changed`, 'sysctl net.ipv4.tcp_mtu_probing 0 => 1']);
    expect(formatDrift([r])).toContain('b: DRIFTED\n    file /etc/swanctl/conf.d/ipsec-mesh_lab.conf changed\n    sysctl net.ipv4.tcp_mtu_probing 0 => 1');
  });

  it('says so for a host without a push, and for files of an older push without hashes', () => {
    const none = host();
    rmSync(join(none.root, 'etc/swanctl/.ipsec-mesh-state.lab'));
    expect(none.check().noState).toBe(true);
    const old = host(['ipsec-mesh-state 1', 'N 1', `F ${CONF}`, `F ${SYSCTL}`, ''].join('\n')).check();
    expect(old.untracked).toBe(2);
    expect(old.drifted).toEqual([]);
  });

  it('waits for a push in progress (it holds the host lock) instead of reporting its half-done swap as drift', () => {
    const h = host();
    mkdirSync(join(h.root, 'run'));
    const conf2 = 'connections {\n  # next push\n}\n';
    const next = ['ipsec-mesh-state 1', 'N 2', `F ${CONF}`, `S ${sha(conf2)} ${CONF}`, `F ${SYSCTL}`, `S ${sha('# ipsec-mesh\nnet.ipv4.xfrm4_gc_thresh = 32768\nnet.ipv4.tcp_mtu_probing = 1\nnet.ipv4.missing_key = 5\n')} ${SYSCTL}`, ''].join('\n');
    writeFileSync(join(h.sb, 'next-conf'), conf2);
    writeFileSync(join(h.sb, 'next-state'), next);
    // The "push": file swapped first, state file 1.5 s later, all under the exclusive lock.
    const script = [
      'exec 9>"$1/run/ipsec-mesh.lock"; flock 9',
      'cp "$2/next-conf" "$1/etc/swanctl/conf.d/ipsec-mesh_lab.conf"',
      'echo locked > "$2/ready"; sleep 1.5',
      'cp "$2/next-state" "$1/etc/swanctl/.ipsec-mesh-state.lab"',
    ].join('\n');
    const push = spawn('/bin/sh', ['-c', script, 'push', h.root, h.sb], { stdio: 'ignore' });
    try {
      const until = Date.now() + 5000;
      while (!existsSync(join(h.sb, 'ready')) && Date.now() < until) spawnSync('sleep', ['0.05']);
      expect(existsSync(join(h.sb, 'ready'))).toBe(true);
      const r = h.check();
      expect(r.drifted, 'the check saw the state the push finished with').toEqual([]);
      expect(readFileSync(join(h.root, 'etc/swanctl/.ipsec-mesh-state.lab'), 'utf8')).toBe(next);
    } finally {
      push.kill();
    }
  });

  it('treats a report cut short, or one that miscounts, as an error, never as clean', () => {
    expect(parseDriftReport('b', 'DRIFT file /x changed\n').error).toMatch(/no SUMMARY/);
    expect(parseDriftReport('b', 'SUMMARY 1 3 0\n').error).toMatch(/counted 1 difference/);
    expect(formatDrift([parseDriftReport('b', '')])).toContain('b: NOT CHECKED');
  });
});
