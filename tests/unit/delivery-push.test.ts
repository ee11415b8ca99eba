import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodePayload, packPayload, pushScript, removeScript, scriptOfCommand, type DeliveryBundle } from '../../components/delivery/index.js';
import type { RenderedFile } from '../../components/render/rendered-file.js';
import { Sandbox } from './delivery-sandbox.js';

// The push and remove scripts, run for real by /bin/sh (dash) and bash against a sandbox
// root: every step on the host except strongSwan itself (faked; the lab tests use charon).

const CONF = '/etc/swanctl/conf.d/ipsec-mesh_prod.conf';
const SECRETS = '/etc/swanctl/conf.d/ipsec-mesh_prod_secrets.conf';
const SYSCTL = '/etc/sysctl.d/60-ipsec-mesh_prod.conf';
const CHARON = '/etc/strongswan.d/ipsec-mesh.conf';
const KEY = '/etc/swanctl/private/ipsec-mesh_prod_cp1_g0.key';
const STATE = '/etc/swanctl/.ipsec-mesh-state.prod';
const BEFORE = '/etc/swanctl/.ipsec-mesh-before.prod';
const OPERATOR = '/etc/swanctl/conf.d/operator.conf';
const SECRET_VALUE = '0x5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7';

const file = (path: string, content: string, secret = false): RenderedFile => ({ path, content, mode: secret ? 0o600 : 0o644, secret });

function bundle(over: Partial<DeliveryBundle> = {}): DeliveryBundle {
  return {
    host: 'cp1',
    mesh: 'prod',
    files: [
      file(CONF, 'connections {\n  prod_cp2_v4 { }\n  prod_cp3_v4 { }\n}\n'),
      file(SECRETS, `secrets {\n  ike-prod_cp2 { secret = ${SECRET_VALUE} }\n}\n`, true),
      file(SYSCTL, 'net.ipv4.xfrm4_gc_thresh = 32768\n'),
    ],
    connections: ['prod_cp2_v4', 'prod_cp3_v4'],
    ...over,
  };
}

const create = pushScript({ host: 'cp1', mesh: 'prod', phase: 'create' });
const update = pushScript({ host: 'cp1', mesh: 'prod', phase: 'update' });
const remove = removeScript({ host: 'cp1', mesh: 'prod' });

let sb: Sandbox;
beforeEach(() => {
  sb = new Sandbox();
  sb.write(OPERATOR, 'connections { operator { } }\n');
});
afterEach(() => sb.cleanup());

function ok(r: { code: number; stdout: string; stderr: string }): typeof r {
  expect(r.code, `exit code; stderr:\n${r.stderr}`).toBe(0);
  return r;
}

describe('command strings', () => {
  it('are deterministic, carry no secret and no payload, and differ between create and update only in the phase', () => {
    expect(pushScript({ host: 'cp1', mesh: 'prod', phase: 'create' })).toBe(create);
    expect(removeScript({ host: 'cp1', mesh: 'prod' })).toBe(remove);
    const payload = encodePayload(bundle());
    for (const cmd of [create, update, remove]) {
      expect(cmd).not.toContain(SECRET_VALUE);
      expect(cmd).not.toContain(payload.split('\n')[4]);
      expect(cmd.startsWith("/bin/sh -c '")).toBe(true);
      // Exactly the four quotes of the two single-quoted arguments: the scripts hold none.
      expect(cmd.split("'").length - 1).toBe(4);
    }
    expect(scriptOfCommand(create).replace('PHASE=create', 'PHASE=update').replace('push (create)', 'push (update)')).toBe(scriptOfCommand(update));
    // Packed: the provider stores each command string twice per host (docs/benchmarks.md, *State*).
    expect(create.length).toBeLessThan(scriptOfCommand(create).length / 2);
  });
});

const BACKSTOP = '/etc/swanctl/ipsec-mesh_prod_backstop.nft';
const NFT_V1 = 'table inet ipsec-mesh_prod {}\ndelete table inet ipsec-mesh_prod\ntable inet ipsec-mesh_prod { } # v1\n';

describe('push: the require backstop (nftables)', () => {
  const withBackstop = (content = NFT_V1): DeliveryBundle => bundle({ files: [...bundle().files, file(BACKSTOP, content)] });

  it('loads the table before strongSwan loads the traps, and reports it', () => {
    const r = ok(sb.run(create, encodePayload(withBackstop())));
    expect(sb.read(BACKSTOP)).toBe(NFT_V1);
    expect(sb.read('/../nft-table')).toBe(NFT_V1);
    const log = sb.log();
    expect(log.indexOf(`nft -f ${sb.path(BACKSTOP)}`)).toBeGreaterThan(-1);
    expect(log.indexOf(`nft -f ${sb.path(BACKSTOP)}`)).toBeLessThan(log.indexOf('swanctl --load-all --noprompt'));
    expect(r.stdout).toContain('require backstop loaded (inet ipsec-mesh_prod)');
  });

  it('deletes the table when a push no longer carries it (no require peer left, or enabled: false)', () => {
    ok(sb.run(create, encodePayload(withBackstop())));
    sb.clearLog();
    const r = ok(sb.run(update, encodePayload(bundle())));
    expect(sb.exists(BACKSTOP)).toBe(false);
    expect(sb.log()).toContain('nft delete table inet ipsec-mesh_prod');
    expect(sb.exists('/../nft-table')).toBe(false);
    expect(r.stdout).toContain('no require backstop');
    // A mesh that never had one does not touch nftables at all.
    sb.clearLog();
    ok(sb.run(update, encodePayload(bundle())));
    expect(sb.log().filter((l) => l.startsWith('nft'))).toEqual([]);
  });

  it('rolls back when the kernel refuses the new table: old files and the old table are back, strongSwan not reloaded with the new config', () => {
    ok(sb.run(create, encodePayload(withBackstop())));
    const conf = sb.read(CONF);
    sb.clearLog();
    const r = sb.run(update, encodePayload(withBackstop('NFTFAIL\n')));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nft -f /etc/swanctl/ipsec-mesh_prod_backstop.nft failed');
    expect(sb.read(BACKSTOP)).toBe(NFT_V1);
    expect(sb.read(CONF)).toBe(conf);
    expect(sb.read('/../nft-table')).toBe(NFT_V1);
    expect(sb.log().filter((l) => l.startsWith('nft -f'))).toEqual([`nft -f ${sb.path(BACKSTOP)}`, `nft -f ${sb.path(BACKSTOP)}`]);
  });

  it('is removed by the delete, after the connections are unloaded', () => {
    ok(sb.run(create, encodePayload(withBackstop())));
    sb.clearLog();
    ok(sb.run(remove));
    expect(sb.exists(BACKSTOP)).toBe(false);
    const log = sb.log();
    expect(log.at(-1)).toBe('nft delete table inet ipsec-mesh_prod');
    expect(log.indexOf('swanctl --load-all --noprompt')).toBeLessThan(log.length - 1);
    expect(sb.exists('/../nft-table')).toBe(false);
  });
});

describe('push', () => {
  it.each([['/bin/sh'], ['/bin/bash']])('installs every file with its mode, root-owned, from the stdin payload (login shell %s)', (shell) => {
    const r = ok(sb.run(create, encodePayload(bundle()), { shell }));
    expect(sb.read(CONF)).toBe(bundle().files[0]!.content);
    expect(sb.read(SECRETS)).toBe(bundle().files[1]!.content);
    expect(sb.mode(CONF)).toBe(0o644);
    expect(sb.mode(SECRETS)).toBe(0o600);
    expect(sb.mode(SYSCTL)).toBe(0o644);
    expect(sb.mode(STATE)).toBe(0o600);
    expect(r.stdout).toContain('cp1: mesh prod: 3 file(s) written, 0 unchanged, 0 removed; 2 connection(s) configured');
    expect(r.stdout).not.toContain(SECRET_VALUE);
    expect(r.stderr).not.toContain(SECRET_VALUE);
    expect(sb.log()).toEqual(['swanctl --load-all --noprompt', `sysctl -p ${sb.path(SYSCTL)}`]);
    // No temp file, backup or scratch directory left behind; the operator file untouched.
    // BEFORE: the connections kept from the previous push (none here), which the rollout gate reads.
    expect(sb.files()).toEqual([CONF, SECRETS, OPERATOR, STATE, BEFORE, '/etc/sysctl.d/60-ipsec-mesh_prod.conf', '/run/ipsec-mesh.lock'].sort());
    expect(sb.read(BEFORE)).toBe('');
    // S: each file's SHA-256 as installed, what the drift check compares.
    const sha = (p: string) => createHash('sha256').update(sb.read(p)).digest('hex');
    expect(sb.read(STATE)).toBe(
      [
        'ipsec-mesh-state 1',
        'N 1',
        `F ${CONF}`,
        `S ${sha(CONF)} ${CONF}`,
        `F ${SECRETS}`,
        `S ${sha(SECRETS)} ${SECRETS}`,
        `F ${SYSCTL}`,
        `S ${sha(SYSCTL)} ${SYSCTL}`,
        'C prod_cp2_v4',
        'C prod_cp3_v4',
        '',
      ].join('\n'),
    );
    // A second push keeps the connections it had and still has (a removed one would not stay).
    ok(sb.run(pushScript({ host: 'cp1', mesh: 'prod', phase: 'update' }), encodePayload(bundle({ connections: ['prod_cp2_v4'] }))));
    expect(sb.read(BEFORE)).toBe('C prod_cp2_v4\n');
  });

  it('round-trips content byte for byte: empty files, no trailing newline, UTF-8, lines that look like records', () => {
    const files = [
      file('/etc/swanctl/conf.d/ipsec-mesh_empty.conf', ''),
      file('/etc/swanctl/conf.d/ipsec-mesh_nonl.conf', 'no newline at the end'),
      file('/etc/swanctl/conf.d/ipsec-mesh_utf8.conf', '# grüße — ✓\n'),
      file('/etc/swanctl/conf.d/ipsec-mesh_tricky.conf', 'END 0\nF 0644 /etc/passwd 4\nK /etc/shadow\n\n\n'),
      file('/etc/swanctl/conf.d/ipsec-mesh_big.conf', 'x'.repeat(200_000) + '\n'),
    ];
    ok(sb.run(create, encodePayload(bundle({ files, connections: [] }))));
    for (const f of files) expect(sb.read(f.path), f.path).toBe(f.content);
  });

  it('takes the packed payload ipsec-mesh sends (gzip + base64) as the plain one; refuses a damaged packing before changing anything', () => {
    const files = [
      file('/etc/swanctl/conf.d/ipsec-mesh_utf8.conf', '# grüße — ✓\n'),
      file('/etc/swanctl/conf.d/ipsec-mesh_big.conf', 'remote_ts = 198.51.100.1/32\n'.repeat(5_000)),
    ];
    const plain = encodePayload(bundle({ files: [...bundle().files, ...files] }));
    const packed = packPayload(plain);
    expect(packed.length).toBeLessThan(plain.length / 10);
    ok(sb.run(create, packed));
    for (const f of [...bundle().files, ...files]) expect(sb.read(f.path), f.path).toBe(f.content);
    const before = sb.read(CONF);
    const lines = packed.split('\n');
    // A line lost in transit, and one character changed: gzip's length and CRC checks catch both.
    const body = lines.slice(1).join('');
    const truncated = `${lines[0]}\n${body.slice(0, -12)}\n`;
    // (past the 10-byte gzip header, whose mtime and flags gzip does not check)
    const flipped = [lines[0], lines[1]!.slice(0, 40) + (lines[1]![40] === 'A' ? 'B' : 'A') + lines[1]!.slice(41), ...lines.slice(2)].join('\n');
    for (const bad of [truncated, flipped]) {
      const r = sb.run(update, bad);
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.stderr).toContain('payload rejected, nothing changed: cannot unpack it');
      expect(sb.read(CONF)).toBe(before);
    }
  });

  it('is idempotent: a second run with the same payload changes no file (same inodes) and still reloads', () => {
    const payload = encodePayload(bundle());
    ok(sb.run(create, payload));
    const inodes = [CONF, SECRETS, SYSCTL].map((p) => sb.inode(p));
    sb.clearLog();
    const r = ok(sb.run(update, payload));
    expect([CONF, SECRETS, SYSCTL].map((p) => sb.inode(p))).toEqual(inodes);
    expect(r.stdout).toContain('0 file(s) written, 3 unchanged, 0 removed');
    expect(sb.log()).toEqual(['swanctl --load-all --noprompt', `sysctl -p ${sb.path(SYSCTL)}`]);
    expect(sb.read(STATE)).toContain('N 1\n'); // an update does not count a new instance
  });

  it('replaces a changed file atomically (new inode) and fixes a mode changed by hand', () => {
    ok(sb.run(create, encodePayload(bundle())));
    const before = sb.inode(CONF);
    const changed = bundle();
    const files = [file(CONF, 'connections { }\n'), ...changed.files.slice(1)];
    sb.write(SECRETS, sb.read(SECRETS), 0o644);
    const r = ok(sb.run(update, encodePayload({ ...changed, files })));
    expect(sb.read(CONF)).toBe('connections { }\n');
    expect(sb.inode(CONF)).not.toBe(before);
    expect(sb.mode(SECRETS)).toBe(0o600);
    expect(r.stdout).toContain('2 file(s) written, 1 unchanged');
  });

  it('removes owned files the new payload neither carries nor keeps, and closes SAs of connections that went away', () => {
    ok(sb.run(create, encodePayload(bundle({ files: [...bundle().files, file('/etc/swanctl/x509ca/ipsec-mesh_prod_ca_old.pem', 'old CA')] }))));
    sb.setSas(['prod_cp2_v4', 'prod_cp3_v4', 'operator']);
    sb.clearLog();
    const next = bundle({ connections: ['prod_cp2_v4'] });
    const r = ok(sb.run(update, encodePayload(next)));
    expect(sb.exists('/etc/swanctl/x509ca/ipsec-mesh_prod_ca_old.pem')).toBe(false);
    expect(sb.exists(OPERATOR)).toBe(true);
    // Only the connection that left the config is terminated; the operator's SA is not ours.
    expect(sb.sas()).toEqual(['prod_cp2_v4', 'operator']);
    expect(sb.log()).toContain('swanctl --terminate --ike prod_cp3_v4 --force');
    expect(sb.log().filter((l) => l.startsWith('swanctl --terminate'))).toHaveLength(1);
    expect(r.stdout).toContain('1 removed');
    expect(r.stdout).toContain('1 orphaned IKE_SA(s) closed');
    expect(sb.read(STATE)).not.toContain('prod_cp3_v4');
  });

  it('closes the IKE_SAs of exactly the connections whose fingerprint changed, one at a time, after the load', () => {
    const conns = ['prod_cp2_v4', 'prod_cp2_v6', 'prod_cp3_v4', 'prod_cp3_v6'];
    const fp = (c: string, v = 0) => `${c.length.toString(16)}${v}`.padEnd(64, c.endsWith('v4') ? 'a' : 'b');
    const fps = Object.fromEntries(conns.map((c) => [c, fp(c)]));
    ok(sb.run(create, encodePayload(bundle({ connections: conns, fingerprints: fps }))));
    expect(sb.read(STATE)).toContain(conns.map((c) => `D ${c} ${fps[c]}\n`).join(''));
    // Unique ids 1–4 in the order of conns, a second IKE_SA of cp3_v4 (a duplicate), the operator's.
    sb.setSas([...conns, 'prod_cp3_v4 7', 'operator 9']);

    // A no-op re-push closes nothing (no SA listing either).
    sb.clearLog();
    const same = ok(sb.run(update, encodePayload(bundle({ connections: conns, fingerprints: fps }))));
    expect(sb.log()).toEqual(['swanctl --load-all --noprompt', `sysctl -p ${sb.path(SYSCTL)}`]);
    expect(same.stdout).toContain('0 orphaned IKE_SA(s) closed; 0 IKE_SA(s) of 0 changed connection(s) closed');

    // cp3's two connections change (e.g. a new proposal for that pair), a new one (cp4) appears;
    // during the load charon sets up an IKE_SA of cp3_v6 itself (start_action = start): new config, kept.
    sb.clearLog();
    sb.setLoadSas(['prod_cp3_v6 8']);
    const next = { ...fps, prod_cp3_v4: fp('prod_cp3_v4', 1), prod_cp3_v6: fp('prod_cp3_v6', 1), prod_cp4_v4: fp('prod_cp4_v4') };
    const files = [file(CONF, 'connections { changed }\n'), ...bundle().files.slice(1)];
    const r = ok(sb.run(update, encodePayload(bundle({ files, connections: [...conns, 'prod_cp4_v4'], fingerprints: next }))));
    const log = sb.log();
    // Per changed connection (by name), after the load, one swanctl call after the other: a new
    // IKE_SA first (make before break), then the SAs it had before the load, by unique id.
    expect(log.filter((l) => /^swanctl --(terminate|initiate)/.test(l))).toEqual([
      'swanctl --initiate --ike prod_cp3_v4 --child prod_cp3_v4 --timeout 10',
      'swanctl --terminate --ike-id 3 --force',
      'swanctl --terminate --ike-id 7 --force',
      'swanctl --initiate --ike prod_cp3_v6 --child prod_cp3_v6 --timeout 10',
      'swanctl --terminate --ike-id 4 --force',
    ]);
    expect(log.indexOf('swanctl --load-all --noprompt')).toBeLessThan(log.indexOf('swanctl --terminate --ike-id 3 --force'));
    expect(sb.saIds()).toEqual(['prod_cp2_v4 1', 'prod_cp2_v6 2', 'operator 9', 'prod_cp3_v6 8']);
    expect(r.stdout).toContain('0 orphaned IKE_SA(s) closed; 3 IKE_SA(s) of 2 changed connection(s) closed (2 new first)');
    sb.setLoadSas([]);
    expect(sb.read(STATE)).toContain(`D prod_cp3_v4 ${next.prod_cp3_v4}\n`);
    expect(sb.read(STATE)).toContain(`D prod_cp4_v4 ${next.prod_cp4_v4}\n`);

    // A push that rolls back closes nothing and keeps the recorded fingerprints.
    sb.setSas([...conns, 'prod_cp4_v4']);
    const state = sb.read(STATE);
    sb.clearLog();
    const broken = [file(CONF, 'BROKEN\n'), ...bundle().files.slice(1)];
    const failed = sb.run(update, encodePayload(bundle({ files: broken, connections: conns, fingerprints: fps })));
    expect(failed.code).toBe(1);
    // Listed before the load (the snapshot), but nothing closed.
    expect(sb.log().filter((l) => l.startsWith('swanctl --terminate'))).toEqual([]);
    expect(sb.sas()).toEqual([...conns, 'prod_cp4_v4']);
    expect(sb.read(STATE)).toBe(state);
  });

  it('closes nothing for connections without a previous fingerprint (a state from before fingerprints) or without a new one', () => {
    const conns = ['prod_cp2_v4', 'prod_cp3_v4'];
    ok(sb.run(create, encodePayload(bundle({ connections: conns }))));
    sb.setSas(conns);
    sb.clearLog();
    const fps = { prod_cp2_v4: 'a'.repeat(64), prod_cp3_v4: 'b'.repeat(64) };
    ok(sb.run(update, encodePayload(bundle({ connections: conns, fingerprints: fps }))));
    ok(sb.run(update, encodePayload(bundle({ connections: conns, fingerprints: { prod_cp2_v4: 'c'.repeat(64) } }))));
    ok(sb.run(update, encodePayload(bundle({ connections: conns, fingerprints: fps }))));
    expect(sb.log().filter((l) => l.startsWith('swanctl --terminate'))).toEqual(['swanctl --terminate --ike-id 1 --force']);
    // A hand-damaged state line is ignored, not trusted.
    sb.write(STATE, sb.read(STATE).replace(`D prod_cp3_v4 ${'b'.repeat(64)}`, 'D prod_cp3_v4 $(reboot)'), 0o600);
    sb.setSas(conns);
    sb.clearLog();
    ok(sb.run(update, encodePayload(bundle({ connections: conns, fingerprints: { ...fps, prod_cp3_v4: 'd'.repeat(64) } }))));
    expect(sb.log().filter((l) => l.startsWith('swanctl --terminate'))).toEqual([]);
  });

  it('rejects a fingerprint record of an unknown connection or with a bad value before changing anything', () => {
    const head = 'ipsec-mesh-payload 1\nH cp1\nM prod\nC prod_cp2_v4\n';
    expect(sb.run(create, `${head}D prod_cp9_v4 ${'a'.repeat(64)}\nEND 2\n`).stderr).toContain('which is not a connection of the payload');
    expect(sb.run(create, `${head}D prod_cp2_v4 XYZ${'a'.repeat(61)}\nEND 2\n`).stderr).toContain('bad fingerprint');
    expect(sb.run(create, `${head}D prod_cp2_v4 abc\nEND 2\n`).stderr).toContain('bad fingerprint');
    expect(sb.run(create, `${head}D prod_cp2_v4 ${'a'.repeat(64)}\nD prod_cp2_v4 ${'b'.repeat(64)}\nEND 3\n`).stderr).toContain('listed twice');
    expect(sb.files()).toEqual([OPERATOR, '/run/ipsec-mesh.lock']);
  });

  it('keeps `keep` files, refuses to run when one is missing, and drops an old kept key once no longer kept', () => {
    const old = '/etc/swanctl/private/ipsec-mesh_prod_cp1_g0.key';
    const next = '/etc/swanctl/private/ipsec-mesh_prod_cp1_g1.key';
    const missing = sb.run(create, encodePayload(bundle({ keep: [old] })));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`cp1: kept file ${old} is missing`);
    expect(sb.exists(CONF)).toBe(false);

    sb.write(old, 'KEY0', 0o600);
    ok(sb.run(create, encodePayload(bundle({ keep: [old] }))));
    expect(sb.read(old)).toBe('KEY0');
    expect(sb.read(STATE)).toContain(`K ${old}\n`);
    sb.write(next, 'KEY1', 0o600);
    ok(sb.run(update, encodePayload(bundle({ keep: [next] }))));
    expect(sb.exists(old)).toBe(false);
    expect(sb.read(next)).toBe('KEY1');
  });

  it('rolls back when strongSwan refuses the new config: old files back (same inodes), new files gone, reloaded, strongSwan’s message on stderr', () => {
    ok(sb.run(create, encodePayload(bundle({ files: [...bundle().files, file('/etc/swanctl/x509ca/ipsec-mesh_prod_ca_a.pem', 'CA A')] }))));
    const snapshot = sb.files().map((p) => [p, sb.read(p), sb.mode(p)] as const);
    const inodes = [CONF, SECRETS, SYSCTL].map((p) => sb.inode(p));
    sb.clearLog();
    const broken = bundle({
      files: [file(CONF, 'connections { BROKEN }\n'), file(SECRETS, 'secrets { }\n', true), file('/etc/swanctl/x509ca/ipsec-mesh_prod_ca_b.pem', 'CA B')],
      connections: ['prod_cp2_v4'],
    });
    sb.setSas(['prod_cp2_v4', 'prod_cp3_v4']);
    const r = sb.run(update, encodePayload(broken));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cp1: applying the new configuration failed; the previous configuration was restored and reloaded. strongSwan said:');
    expect(r.stderr).toContain("cp1: loading connection 'x' failed: invalid value for: proposals, config discarded");
    expect(r.stdout).toBe('');
    expect(sb.files().map((p) => [p, sb.read(p), sb.mode(p)] as const)).toEqual(snapshot);
    expect([CONF, SECRETS, SYSCTL].map((p) => sb.inode(p))).toEqual(inodes);
    // Loaded the new config, then the restored one, and its sysctl file; nothing terminated.
    // CA a removed and CA b added: credentials are cleared so no retired certificate stays loaded.
    expect(sb.log()).toEqual(['swanctl --load-all --noprompt --clear', 'swanctl --load-all --noprompt --clear', `sysctl -p ${sb.path(SYSCTL)}`]);
    expect(sb.sas()).toEqual(['prod_cp2_v4', 'prod_cp3_v4']);
  });

  it('treats "invalid config file" as a failure although swanctl exits 0 (it would run with an empty config)', () => {
    ok(sb.run(create, encodePayload(bundle())));
    const before = sb.read(CONF);
    const r = sb.run(update, encodePayload(bundle({ files: [file(CONF, 'connections { SYNTAX\n')] })));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cp1: invalid config file '/etc/swanctl/swanctl.conf'");
    expect(sb.read(CONF)).toBe(before);
    expect(sb.exists(SECRETS)).toBe(true);
  });

  it('says so when even the previous configuration does not reload', () => {
    sb.write('/etc/swanctl/conf.d/ipsec-mesh_zz-operator-broke-it.conf', 'BROKEN');
    const r = sb.run(create, encodePayload(bundle()));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the previous configuration was restored, but reloading it failed too');
    expect(sb.exists(CONF)).toBe(false);
    expect(sb.exists(STATE)).toBe(false);
  });

  it('fails and rolls back when charon is not running', () => {
    sb.flag('charon-down', true);
    const r = sb.run(create, encodePayload(bundle()));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cp1: connecting to 'unix:///var/run/charon.vici' failed");
    expect(sb.files()).toEqual([OPERATOR, '/run/ipsec-mesh.lock']);
  });

  it('tolerates sysctl keys this kernel lacks (warning) but rolls back on a value it refuses', () => {
    const unknown = sb.run(create, encodePayload(bundle({ files: [file(SYSCTL, 'UNKNOWN = 1\n')] })));
    expect(unknown.code).toBe(0);
    expect(unknown.stderr).toContain('cp1: warning: sysctl: cannot stat /proc/sys/net/ipv4/unknown_key');
    const invalid = sb.run(update, encodePayload(bundle({ files: [file(SYSCTL, 'INVALID = x\n')] })));
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('Invalid argument');
    expect(sb.read(SYSCTL)).toBe('UNKNOWN = 1\n');
  });

  it('keeps backups and new versions out of every directory strongSwan reads while it loads', () => {
    const cert = '/etc/swanctl/x509/ipsec-mesh_prod_cp1.pem';
    ok(sb.run(create, encodePayload(bundle({ files: [...bundle().files, file(cert, 'CERT 1')] }))));
    // The fake swanctl records every file it could load at that moment.
    sb.tool('swanctl', `#!/bin/sh\necho "swanctl $*" >> "$SB/log"\ncd "$SB/root" && find etc -type f | sort > "$SB/seen"\necho "successfully loaded 2 connections, 0 unloaded"\n`);
    ok(sb.run(update, encodePayload(bundle({ files: [...bundle().files, file(cert, 'CERT 2')] }))));
    const seen = sb.read('/../seen').split('\n').filter(Boolean);
    const staged = seen.filter((p) => p.includes('.ipsec-mesh-stage/'));
    expect(staged).toEqual(['etc/swanctl/.ipsec-mesh-stage/old+etc+swanctl+x509+ipsec-mesh_prod_cp1.pem']);
    expect(seen.filter((p) => p.startsWith('etc/swanctl/x509/'))).toEqual(['etc/swanctl/x509/ipsec-mesh_prod_cp1.pem']);
    expect(sb.read(cert)).toBe('CERT 2');
    expect(sb.exists('/etc/swanctl/.ipsec-mesh-stage')).toBe(false);
  });

  it('clears loaded credentials only when a certificate or key file was replaced or removed', () => {
    const ca = (label: string, pem: string): RenderedFile => file(`/etc/swanctl/x509ca/ipsec-mesh_prod_ca_${label}.pem`, pem);
    ok(sb.run(create, encodePayload(bundle({ files: [...bundle().files, ca('a', 'A')] }))));
    expect(sb.log()[0]).toBe('swanctl --load-all --noprompt'); // added only
    sb.clearLog();
    ok(sb.run(update, encodePayload(bundle({ files: [...bundle().files, ca('a', 'A'), ca('b', 'B')] }))));
    expect(sb.log()[0]).toBe('swanctl --load-all --noprompt'); // rollover step 1: another CA added
    sb.clearLog();
    ok(sb.run(update, encodePayload(bundle({ files: [...bundle().files, ca('b', 'B')] }))));
    expect(sb.log()[0]).toBe('swanctl --load-all --noprompt --clear'); // CA a retired
    sb.clearLog();
    ok(sb.run(update, encodePayload(bundle({ files: [file(CONF, 'connections { }\n'), ...bundle().files.slice(1), ca('b', 'B')] }))));
    expect(sb.log()[0]).toBe('swanctl --load-all --noprompt'); // only the connections changed
  });

  it('reloads strongSwan settings only when a strongswan.d drop-in changed', () => {
    const files = [...bundle().files, file(CHARON, 'charon { }\n')];
    ok(sb.run(create, encodePayload(bundle({ files }))));
    expect(sb.log()[0]).toBe('swanctl --reload-settings');
    sb.clearLog();
    ok(sb.run(update, encodePayload(bundle({ files }))));
    expect(sb.log()).not.toContain('swanctl --reload-settings');
  });

  it('rejects a truncated payload, at any line, before changing anything', () => {
    ok(sb.run(create, encodePayload(bundle())));
    const before = sb.files().map((p) => [p, sb.read(p)] as const);
    const lines = encodePayload(bundle({ files: [file(CONF, 'changed\n'.repeat(40))] })).split('\n').slice(0, -1);
    for (const n of [0, 1, 3, 4, 5, lines.length - 2, lines.length - 1]) {
      const r = sb.run(update, `${lines.slice(0, n).join('\n')}\n`);
      expect(r.code, `cut after ${n} lines`).toBe(1);
      expect(r.stderr).toMatch(/cp1: payload rejected, nothing changed: (payload truncated|payload line)/);
    }
    // Cut inside a base64 line too.
    const text = lines.join('\n');
    expect(sb.run(update, text.slice(0, text.indexOf('\n', 120) - 10)).code).toBe(1);
    expect(sb.files().map((p) => [p, sb.read(p)] as const)).toEqual(before);
  });

  it('rejects a payload meant for another host or mesh, or with unsafe paths, even when not made by encodePayload', () => {
    const good = encodePayload(bundle());
    expect(sb.run(create, good.replace('H cp1', 'H cp2')).stderr).toContain('the payload is for host cp2, not cp1');
    expect(sb.run(create, good.replace('M prod', 'M test')).stderr).toContain('the payload is for mesh test, not prod');
    for (const path of ['/etc/passwd', '/etc/swanctl/../passwd', '/etc/swanctl/conf.d/operator.conf', '/etc/swanctl/conf.d/ipsec-mesh$x']) {
      const evil = `ipsec-mesh-payload 1\nH cp1\nM prod\nF 0644 ${path} 4\neHh4\nEND 1\n`;
      const r = sb.run(create, evil);
      expect(r.code, path).toBe(1);
      expect(r.stderr).toContain('payload rejected');
    }
    expect(sb.run(create, `ipsec-mesh-payload 1\nH cp1\nM prod\nK /etc/shadow\nEND 1\n`).stderr).toContain('refusing path /etc/shadow');
    expect(sb.run(create, `ipsec-mesh-payload 1\nH cp1\nM prod\nC -x\nEND 1\n`).stderr).toContain('bad connection name');
    expect(sb.files()).toEqual([OPERATOR, '/run/ipsec-mesh.lock']);
  });

  it('recovers from a run that died half-way: its backup is restored first', () => {
    ok(sb.run(create, encodePayload(bundle())));
    const good = sb.read(CONF);
    // What a killed run leaves: the original as a backup, a half-applied file in place.
    const stage = '/etc/swanctl/.ipsec-mesh-stage';
    sb.write(`${stage}/old+etc+swanctl+conf.d+ipsec-mesh_prod.conf`, good);
    sb.write(CONF, 'half-applied');
    sb.write(`${stage}/new+etc+swanctl+conf.d+ipsec-mesh_prod.conf`, 'temp');
    const r = sb.run(update, encodePayload(bundle({ files: [file(CONF, 'BROKEN')] })));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cp1: restored ${CONF} left by an interrupted run`);
    expect(sb.read(CONF)).toBe(good);
    expect(sb.exists(stage)).toBe(false);
  });

  it('refuses unexpected arguments (only the --root test hook exists)', () => {
    const r = sb.run(`${create} --bogus`, '', { hook: false });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cp1: unexpected arguments: --bogus');
  });
});

describe('remove', () => {
  it('removes only what the mesh recorded, unloads, closes its SAs and leaves operator files alone', () => {
    sb.write(KEY, 'KEY', 0o600);
    ok(sb.run(create, encodePayload(bundle({ keep: [KEY], files: [...bundle().files, file(CHARON, 'charon { }\n')] }))));
    sb.write('/etc/swanctl/conf.d/ipsec-mesh_unrelated-operator-copy.conf', 'not recorded: not ours');
    sb.setSas(['prod_cp2_v4', 'operator']);
    sb.clearLog();
    const r = ok(sb.run(remove, 'stdin of the resource, ignored'));
    expect(sb.files()).toEqual([OPERATOR, '/etc/swanctl/conf.d/ipsec-mesh_unrelated-operator-copy.conf', '/run/ipsec-mesh.lock'].sort());
    expect(sb.sas()).toEqual(['operator']);
    expect(sb.log()).toContain('swanctl --reload-settings');
    expect(sb.log()).toContain('swanctl --load-all --noprompt --clear'); // a key was removed
    expect(r.stdout).toContain('cp1: mesh prod: 5 file(s) removed; connections unloaded; 1 IKE_SA(s) closed');
  });

  it('is safe to run again, and when nothing was ever pushed', () => {
    ok(sb.run(create, encodePayload(bundle())));
    ok(sb.run(remove));
    const again = ok(sb.run(remove));
    expect(again.stdout).toContain('nothing recorded on this host; nothing to remove');
    expect(sb.files()).toEqual([OPERATOR, '/run/ipsec-mesh.lock']);
  });

  it('never undoes a newer instance: create, create (replacement), delete of the old one keeps everything', () => {
    ok(sb.run(create, encodePayload(bundle())));
    ok(sb.run(create, encodePayload(bundle()))); // the replacement's create
    expect(sb.read(STATE)).toContain('N 2\n');
    const old = ok(sb.run(remove));
    expect(old.stdout).toContain('1 other instance(s) still own the files; nothing removed');
    expect(sb.read(CONF)).toBe(bundle().files[0]!.content);
    expect(sb.read(STATE)).toContain('N 1\n');
    ok(sb.run(update, encodePayload(bundle())));
    expect(sb.read(STATE)).toContain('N 1\n');
    ok(sb.run(remove));
    expect(sb.exists(CONF)).toBe(false);
    expect(sb.exists(STATE)).toBe(false);
    expect(sb.exists(BEFORE)).toBe(false);
  });

  it('keeps a file another mesh on the host also lists (the host-wide charon drop-in)', () => {
    ok(sb.run(create, encodePayload(bundle({ files: [...bundle().files, file(CHARON, 'charon { }\n')] }))));
    const other = pushScript({ host: 'cp1', mesh: 'lab', phase: 'create' });
    ok(sb.run(other, encodePayload({ host: 'cp1', mesh: 'lab', files: [file(CHARON, 'charon { }\n')], connections: [] })));
    const r = ok(sb.run(remove));
    expect(r.stderr).toContain(`cp1: ${CHARON} is also used by another mesh on this host; kept`);
    expect(sb.exists(CHARON)).toBe(true);
    expect(sb.exists(CONF)).toBe(false);
  });

  it('succeeds when charon is not running (nothing is loaded), and fails (keeping its state) when the reload fails', () => {
    ok(sb.run(create, encodePayload(bundle())));
    sb.write('/etc/swanctl/conf.d/zz-operator.conf', 'BROKEN');
    const failed = sb.run(remove);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('reloading strongSwan failed (the state file is kept, a re-run retries)');
    expect(sb.exists(STATE)).toBe(true);
    expect(sb.exists(CONF)).toBe(false);
    sb.flag('charon-down', true);
    const down = ok(sb.run(remove));
    expect(down.stderr).toContain('charon is not running: nothing is loaded, nothing to unload');
    expect(sb.exists(STATE)).toBe(false);
  });
});
