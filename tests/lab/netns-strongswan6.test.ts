import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type IkeSaStatus,
  type Lab,
  type LabSpec,
  type ProcessRecord,
  startLab,
  stopLab,
  strongswan6Paths,
  strongswan6Prefix,
  waitFor,
} from '../../lab/netns/index.js';
import { run } from '../../lab/netns/run-command.js';
import { expectNothingLeft, requireLabPrerequisites } from './lab-test-support.js';

// Hosts running upstream strongSwan 6.0.6 (`strongswan: '6'`, built by
// scripts/build-strongswan6.sh) beside a host running Debian's 5.9.8, in one lab: each 6 host
// finds the 6.0.6 swanctl on PATH, its own /etc/swanctl, /etc/strongswan.d and
// /run/charon.vici like a distro-packaged strongSwan 6 host. A hybrid ML-KEM-768 IKE_SA
// between the two 6 hosts, a classic ECP_384 one between a 6 host and the 5.9 host. The
// kernel has no ESP here: CHILD_SAs fail to install, so only IKE_SAs are checked (--ike).
// One lab for the file.

const NAME = 'ss6';
const SPEC: LabSpec = {
  name: NAME,
  sites: [
    { name: 'east', ipv4: '198.51.100.0/26' },
    { name: 'west', ipv4: '203.0.113.0/26' },
  ],
  hosts: [
    { name: 'x6', site: 'east', strongswan: '6' },
    { name: 'y6', site: 'west', strongswan: '6' },
    { name: 'z5', site: 'west', strongswan: '5' },
  ],
};

const HYBRID_NONE_IKE = 'aes256gcm16-prfsha384-ecp384-ke1_mlkem768-ke1_none';
const HYBRID_NONE_ESP = 'aes256gcm16-ecp384-ke1_mlkem768-ke1_none';
const CLASSIC_IKE = 'aes256gcm16-prfsha384-ecp384';
const CLASSIC_ESP = 'aes256gcm16-ecp384';
const BOTH_IKE = 'aes256gcm16-prfsha384-ecp384-ke1_mlkem768,aes256gcm16-prfsha384-ecp384';
const BOTH_ESP = 'aes256gcm16-ecp384-ke1_mlkem768,aes256gcm16-ecp384';
const CONF = '/etc/swanctl/conf.d/ss6-test.conf';
const PSK = 'ss6-lab-preshared-key-0123456789abcdef';

describe("namespace lab: strongswan: '6' hosts (upstream 6.0.6, ML-KEM) beside a 5.9.8 host", () => {
  let lab: Lab;
  let started: ProcessRecord[] = [];
  let prefix: string;
  const ip = (h: string): string => lab.host(h).ipv4[0]!;
  const esc = (v: string): string => v.replace(/\./g, '\\.');

  /** swanctl.conf for `host`: PSK, transport mode, one connection `to-<peer>` per peer. */
  const conf = (host: string, peers: readonly string[], ike: string, esp: string): string =>
    [
      'connections {',
      ...peers.flatMap((p) => [
        `  to-${p} {`,
        '    version = 2',
        `    local_addrs = ${ip(host)}`,
        `    remote_addrs = ${ip(p)}`,
        `    proposals = ${ike}`,
        `    local { auth = psk\n      id = ${host} }`,
        `    remote { auth = psk\n      id = ${p} }`,
        '    children {',
        `      to-${p} {`,
        '        mode = transport',
        `        esp_proposals = ${esp}`,
        '        start_action = none',
        '      }',
        '    }',
        '  }',
      ]),
      '}',
      'secrets {',
      ...peers.map((p) => `  ike-${p} {\n    id-1 = ${host}\n    id-2 = ${p}\n    secret = "${PSK}"\n  }`),
      '}',
      '',
    ].join('\n');
  const load = (host: string) => lab.swanctl(host, ['--load-all', '--noprompt']);
  const ikeSa = async (host: string, conn: string): Promise<IkeSaStatus | undefined> =>
    (await lab.listSas(host)).find((s) => s.name === conn && s.state === 'ESTABLISHED');

  beforeAll(async () => {
    requireLabPrerequisites();
    const p = strongswan6Prefix();
    if (!p) throw new Error('strongSwan 6.0.6 is not built: run scripts/build-strongswan6.sh (scripts/prepare.sh does)');
    prefix = p;
    await stopLab(NAME); // a previous run that crashed; our own name only
    lab = await startLab(SPEC);
    started = [...lab.processes];
  });

  afterAll(async () => {
    if (lab) await stopLab(NAME).catch(() => undefined);
  });

  it('runs 6.0.6 on x6 and y6 and 5.9.8 on z5: swanctl on PATH (locally and over SSH), charon and its log', async () => {
    expect(lab.hosts.map((h) => [h.name, h.strongswan])).toEqual([
      ['x6', '6'],
      ['y6', '6'],
      ['z5', '5'],
    ]);
    const want: Record<string, string> = { x6: '6.0.6', y6: '6.0.6', z5: '5.9.8' };
    for (const [h, v] of Object.entries(want)) {
      expect((await lab.swanctl(h, ['--version'], { check: true })).stdout.trim()).toBe(`strongSwan swanctl ${v}`);
      // The product's push script runs `swanctl` from PATH over SSH.
      expect((await lab.ssh(h, ['swanctl', '--version'], { check: true })).stdout.trim()).toBe(`strongSwan swanctl ${v}`);
      // What the daemon says through vici (/run/charon.vici), and what it logged at start.
      expect((await lab.swanctl(h, ['--version', '--daemon'], { check: true })).stdout).toMatch(new RegExp(`^(strongSwan )?(${esc(v)} charon|charon ${esc(v)}) \\(Linux`));
      expect(lab.charonLog(h, { sinceStart: true })).toContain(`Starting IKE charon daemon (strongSwan ${v},`);
      // 5.9.8 says `Linux strongSwan 5.9.8`, 6.0.6 `strongSwan 6.0.6`.
      expect((await lab.exec(h, ['/usr/lib/ipsec/charon', '--version'], { check: true })).stdout.trim()).toMatch(new RegExp(`^(Linux )?strongSwan ${esc(v)}$`));
    }
    // The 6.0.6 build's plugins, ml among them (its own strongswan.d seeded the host's).
    const plugins = (await lab.swanctl('x6', ['--stats'], { check: true })).stdout;
    expect(plugins).toMatch(/loaded plugins: .*\bml\b/);
    expect((await lab.swanctl('z5', ['--stats'], { check: true })).stdout).not.toMatch(/loaded plugins: .*\bml\b/);
    // The machine itself keeps Debian's strongSwan.
    expect((await run(['/usr/lib/ipsec/charon', '--version'], { check: true })).stdout.trim()).toBe('Linux strongSwan 5.9.8');
    expect(statSync('/usr/sbin/swanctl').ino).not.toBe(statSync(strongswan6Paths(prefix).swanctl).ino);
  });

  it("keeps every 6 host's config, pid file and vici socket private: the build's own folders stay untouched", async () => {
    for (const h of ['x6', 'y6', 'z5']) {
      expect(existsSync(lab.hostFile(h, '/run/charon.vici')), `${h} vici socket`).toBe(true);
      expect(lab.readHostFile(h, '/run/charon.pid').trim()).toBe(String(lab.charonPid(h)));
    }
    const p = strongswan6Paths(prefix);
    expect(existsSync(join(p.runDir, 'charon.vici'))).toBe(false);
    expect(existsSync(join(p.runDir, 'charon.pid'))).toBe(false);
    // A file written to x6's /etc/swanctl is x6's alone, and what x6's swanctl reads.
    lab.writeHostFile('x6', '/etc/swanctl/conf.d/ss6-marker.conf', '# x6 only\n');
    expect((await lab.exec('x6', ['cat', join(p.swanctlDir, 'conf.d', 'ss6-marker.conf')], { check: true })).stdout).toBe('# x6 only\n');
    expect((await lab.exec('y6', ['ls', join(p.swanctlDir, 'conf.d')], { check: true })).stdout.trim()).toBe('');
    expect(existsSync(join(p.swanctlDir, 'conf.d', 'ss6-marker.conf'))).toBe(false);
    // The lab's charon drop-in (file log) is in the 6 hosts' strongswan.d like in the 5.9 host's.
    expect(lab.readHostFile('y6', '/etc/strongswan.d/imlab-lab.conf')).toContain('path = /var/log/charon.log');
    expect(readFileSync(p.strongswanConf, 'utf8')).toMatch(/^include strongswan\.d\/\*\.conf$/m);
  });

  let z5RejectsKe = false;
  it('loads the -ke1_none proposals on the 6 hosts; what 5.9.8 makes of ke1_ keywords', async () => {
    lab.writeHostFile('x6', CONF, conf('x6', ['y6', 'z5'], HYBRID_NONE_IKE, HYBRID_NONE_ESP));
    lab.writeHostFile('y6', CONF, conf('y6', ['x6'], HYBRID_NONE_IKE, HYBRID_NONE_ESP));
    lab.writeHostFile('z5', CONF, conf('z5', ['x6'], HYBRID_NONE_IKE, HYBRID_NONE_ESP));
    for (const h of ['x6', 'y6']) {
      const r = await load(h);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    const z = await load('z5');
    console.log(`5.9.8 swanctl --load-all with ${HYBRID_NONE_IKE} (exit ${z.code}):\n${z.stdout}${z.stderr}`);
    z5RejectsKe = z.code !== 0;
    expect(z.code).not.toBe(0);
    expect(z.stdout + z.stderr).toMatch(/invalid value for: proposals|loading connection 'to-x6' failed/);
    expect((await lab.listConns('z5')).map((c) => c.name)).toEqual([]);
    // Between the two 6 hosts the optional ML-KEM is used.
    await lab.swanctl('x6', ['--initiate', '--ike', 'to-y6', '--timeout', '20']);
    const sa = await waitFor(() => ikeSa('x6', 'to-y6'), 10_000, 200);
    console.log(`x6~y6 with ${HYBRID_NONE_IKE}: ${sa?.proposal}`);
    expect(sa?.proposal).toBe('AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/KE1_ML_KEM_768');
    await lab.swanctl('x6', ['--terminate', '--ike', 'to-y6', '--timeout', '10'], { check: true });
    expect(await waitFor(async () => ((await lab.listSas('y6')).length === 0 ? true : undefined), 10_000, 200)).toBe(true);
  });

  it('x6~y6: a hybrid IKE_SA, ECP_384 plus ML-KEM-768 (KE1_ML_KEM_768)', async () => {
    // Per the brief: 5.9.8 rejects ke1_, so z5 gets the classic proposal and the 6 hosts both.
    const [ike6, esp6] = z5RejectsKe ? [BOTH_IKE, BOTH_ESP] : [HYBRID_NONE_IKE, HYBRID_NONE_ESP];
    lab.writeHostFile('x6', CONF, conf('x6', ['y6', 'z5'], ike6, esp6));
    lab.writeHostFile('y6', CONF, conf('y6', ['x6'], ike6, esp6));
    lab.writeHostFile('z5', CONF, conf('z5', ['x6'], CLASSIC_IKE, CLASSIC_ESP));
    for (const h of ['x6', 'y6', 'z5']) {
      const r = await load(h);
      expect(r.code, `${h}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    await lab.swanctl('x6', ['--initiate', '--ike', 'to-y6', '--timeout', '20']);
    const sa = await waitFor(() => ikeSa('x6', 'to-y6'), 10_000, 200);
    expect(sa, lab.charonLog('x6', { sinceStart: true }).split('\n').slice(-30).join('\n')).toBeDefined();
    const peer = await ikeSa('y6', 'to-x6');
    console.log(`x6~y6 IKE_SA proposal: x6 ${sa!.proposal}, y6 ${peer?.proposal}`);
    expect(sa!.proposal).toBe('AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/KE1_ML_KEM_768');
    expect(peer?.proposal).toBe(sa!.proposal);
    const pretty = (await lab.swanctl('x6', ['--list-sas', '--pretty'], { check: true })).stdout;
    expect(pretty).toMatch(/\bake1 = ML_KEM_768\b/);
    const plain = (await lab.swanctl('x6', ['--list-sas', '--ike', 'to-y6'], { check: true })).stdout;
    console.log(`x6 swanctl --list-sas --ike to-y6:\n${plain}`);
    expect(plain).toMatch(/^ {2}AES_GCM_16-256\/PRF_HMAC_SHA2_384\/ECP_384\/KE1_ML_KEM_768$/m);
    expect(lab.charonLog('y6')).toMatch(/ML_KEM_768/);
  });

  it('x6~z5: a classic ECP_384 IKE_SA with the 5.9.8 host, no ML-KEM', async () => {
    await lab.swanctl('x6', ['--initiate', '--ike', 'to-z5', '--timeout', '20']);
    const sa = await waitFor(() => ikeSa('x6', 'to-z5'), 10_000, 200);
    expect(sa, lab.charonLog('x6', { sinceStart: true }).split('\n').slice(-30).join('\n')).toBeDefined();
    const peer = await ikeSa('z5', 'to-x6');
    console.log(`x6~z5 IKE_SA proposal: x6 ${sa!.proposal}, z5 ${peer?.proposal}`);
    expect(sa!.proposal).toBe('AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384');
    expect(peer?.proposal).toBe(sa!.proposal);
    expect(sa!.raw['ake1']).toBeUndefined();
    for (const h of ['x6', 'z5']) {
      const plain = (await lab.swanctl(h, ['--list-sas', '--ike', h === 'x6' ? 'to-z5' : 'to-x6'], { check: true })).stdout;
      console.log(`${h} swanctl --list-sas:\n${plain}`);
      expect(plain).toMatch(/^ {2}AES_GCM_16-256\/PRF_HMAC_SHA2_384\/ECP_384$/m);
    }
    // x6 still holds its hybrid IKE_SA with y6 beside it.
    expect((await ikeSa('x6', 'to-y6'))?.proposal).toBe('AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/KE1_ML_KEM_768');
  });

  it('comes down completely', async () => {
    const report = await lab.down();
    expect(report.stateRemoved).toBe(true);
    expectNothingLeft(NAME, started);
    const p = strongswan6Paths(prefix);
    expect(existsSync(join(p.swanctlDir, 'conf.d', 'ss6-test.conf'))).toBe(false);
    expect(existsSync(join(p.runDir, 'charon.vici'))).toBe(false);
  });
});
