import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { type DeliveryBundle, encodePayload, pushScript, removeScript } from '../../components/delivery/index.js';
import { parseInventory } from '../../components/inventory/index.js';
import { describeHostConfig, renderHostConfig, renderPskSecrets } from '../../components/render/index.js';
import { computeHostPairs, pairsForHost } from '../../components/topology/index.js';
import { type Lab, type LabSpec, type ProcessRecord, labInventory, startLab, stopLab } from '../../lab/netns/index.js';
import { hostStat, sshRun } from './delivery-ssh.js';
import { expectNothingLeft, labPpkFiles, requireLabPrerequisites } from './lab-test-support.js';

// A non-root SSH user: with passwordless sudo the delivery works (files still root-owned),
// without it the command fails with the clear message. The users exist only inside the lab
// host's own mount namespace: private copies of /etc/passwd, /etc/group, /etc/shadow and
// /etc/sudoers.d are bind-mounted there (the machine's files are never touched), and the
// host's sshd gets a per-user authorized_keys file for them.

const NAME = 'dlvsudo';
const MESH = 'dlvsudo';
const MASTER = 'ipsec-mesh delivery sudo test master secret (32+ bytes)';
const SPEC: LabSpec = {
  name: NAME,
  sites: [{ name: 'east', ipv4: '198.51.100.0/26' }],
  hosts: [
    { name: 'a', site: 'east' },
    { name: 'b', site: 'east' },
  ],
};
const USERS = [
  { name: 'imdeploy', uid: 4242 }, // NOPASSWD sudo
  { name: 'imnopw', uid: 4243 }, // sudo would need a password
] as const;
const PRIVATE = '/run/ipsec-mesh-users';

function requireSudo(): void {
  if (spawnSync('sh', ['-c', 'command -v sudo'], { encoding: 'utf8' }).status !== 0) {
    throw new Error('the sudo test needs the sudo package (apt-get install sudo; scripts/install-system-deps.sh should install it)');
  }
}

/** Adds the test users inside host `h`'s mount namespace only. */
async function addUsers(lab: Lab, h: string): Promise<void> {
  const at = (p: string): string => lab.hostFile(h, `${PRIVATE}${p}`);
  mkdirSync(at('/sudoers.d'), { recursive: true, mode: 0o755 });
  const passwd = readFileSync('/etc/passwd', 'utf8');
  writeFileSync(at('/passwd'), passwd + USERS.map((u) => `${u.name}:x:${u.uid}:${u.uid}:ipsec-mesh test:/run/${u.name}:/bin/sh\n`).join(''), { mode: 0o644 });
  writeFileSync(at('/group'), readFileSync('/etc/group', 'utf8') + USERS.map((u) => `${u.name}:x:${u.uid}:\n`).join(''), { mode: 0o644 });
  // No password hash is copied: every account is "no password" ('*'), which key login allows.
  const names = [...passwd.split('\n').filter(Boolean).map((l) => l.split(':')[0]!), ...USERS.map((u) => u.name)];
  writeFileSync(at('/shadow'), names.map((n) => `${n}:*:19000:0:99999:7:::\n`).join(''), { mode: 0o640 });
  writeFileSync(at('/sudoers.d/ipsec-mesh-test'), `${USERS[0].name} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
  for (const [src, dst] of [['/passwd', '/etc/passwd'], ['/group', '/etc/group'], ['/shadow', '/etc/shadow'], ['/sudoers.d', '/etc/sudoers.d']] as const) {
    const r = await lab.exec(h, ['mount', '--bind', `${PRIVATE}${src}`, dst]);
    expect(r.code, r.stderr).toBe(0);
  }
  for (const u of USERS) {
    mkdirSync(lab.hostFile(h, `/run/${u.name}`), { mode: 0o755 });
    chownSync(lab.hostFile(h, `/run/${u.name}`), u.uid, u.uid);
    lab.writeHostFile(h, `/etc/ssh/authorized_keys.${u.name}`, `${lab.sshPublicKey}\n`, 0o600);
    chownSync(lab.hostFile(h, `/etc/ssh/authorized_keys.${u.name}`), u.uid, u.uid);
  }
  const cfg = lab.readHostFile(h, '/etc/ssh/sshd_config');
  lab.writeHostFile(h, '/etc/ssh/sshd_config', `${cfg}Match User ${USERS.map((u) => u.name).join(',')}\n    AuthorizedKeysFile /etc/ssh/authorized_keys.%u\n`);
  await lab.stopSshd(h);
  await lab.startSshd(h);
}

describe('delivery as a non-root SSH user', () => {
  let lab: Lab;
  let started: ProcessRecord[] = [];
  let bundle: DeliveryBundle;

  beforeAll(async () => {
    requireLabPrerequisites();
    requireSudo();
    await stopLab(NAME);
    lab = await startLab(SPEC);
    started = [...lab.processes];
    await addUsers(lab, 'a');
    started = [...started, ...lab.processes];
    const inv = parseInventory(labInventory(lab, { mesh: { name: MESH, auth: 'psk' } }), 'lab');
    const host = inv.hosts.find((x) => x.name === 'a')!;
    const pairs = pairsForHost(computeHostPairs(inv), 'a');
    const desc = describeHostConfig({ inventory: inv, host, pairs });
    bundle = {
      host: 'a',
      mesh: MESH,
      // No systemd on namespace hosts: the push would skip the backstop's boot unit.
      files: [...renderHostConfig({ inventory: inv, host, pairs, monitor: false }).filter((f) => !f.path.startsWith('/etc/systemd/')), renderPskSecrets({ inventory: inv, host, pairs, pskFor: (p) => derivePairPsk(MASTER, MESH, p.a, p.b) }), ...labPpkFiles(inv, host, pairs, MASTER)],
      connections: [...desc.connections, desc.bypassConnection],
    };
  });

  afterAll(async () => {
    if (!lab) return;
    started = [...started, ...lab.processes];
    await stopLab(NAME);
    expectNothingLeft(NAME, started);
    // The users never existed outside the lab host.
    for (const u of USERS) expect(readFileSync('/etc/passwd', 'utf8')).not.toContain(`${u.name}:`);
  });

  it('the users exist inside the lab host only', async () => {
    expect((await lab.exec('a', ['id', '-u', USERS[0].name])).stdout.trim()).toBe(String(USERS[0].uid));
    expect(spawnSync('id', [USERS[0].name]).status).not.toBe(0);
  });

  it('with NOPASSWD sudo: push and remove work, and the files are root-owned with their modes', async () => {
    const whoami = await sshRun(lab, 'a', 'id -un', '', USERS[0].name);
    expect(whoami.stdout.trim()).toBe(USERS[0].name);

    const r = await sshRun(lab, 'a', pushScript({ host: 'a', mesh: MESH, phase: 'create' }), encodePayload(bundle), USERS[0].name);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('a: mesh dlvsudo: 7 file(s) written'); // with the PPK file (on by default) and the charon log's rotation
    for (const f of bundle.files) {
      expect(lab.readHostFile('a', f.path)).toBe(f.content);
      expect(hostStat(lab, 'a', f.path)).toMatchObject({ mode: f.secret ? 0o600 : 0o644, uid: 0, gid: 0 });
    }
    const conns = (await lab.listConns('a')).map((c) => c.name).sort();
    expect(conns).toEqual([...bundle.connections].sort());

    const rm = await sshRun(lab, 'a', removeScript({ host: 'a', mesh: MESH }), '', USERS[0].name);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await lab.listConns('a')).map((c) => c.name)).toEqual([]);
  });

  it('without NOPASSWD: fails with the clear message and changes nothing', async () => {
    const r = await sshRun(lab, 'a', pushScript({ host: 'a', mesh: MESH, phase: 'create' }), encodePayload(bundle), USERS[1].name);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^a: user imnopw needs passwordless sudo \(NOPASSWD\) for ipsec-mesh; no PTY is available \(sudo: sudo: a password is required\)\n$/);
    for (const f of bundle.files) expect(() => lab.readHostFile('a', f.path)).toThrow();
  });
});
