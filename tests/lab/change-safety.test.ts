// Change safety with the real engine on four namespace hosts (a, b east; c, d west):
// - `pulumi preview --diff` shows each host's changed swanctl lines in plain text and no
//   secret, in certificate and PSK mode, without touching a host;
// - `ipsec-mesh render --config-file` (the stack's own config) writes byte for byte what `up`
//   pushed;
// - a staged rollout whose canary breaks negotiation stops after the canary, naming the pairs;
//   the other hosts keep their files and their SAs; the fixed inventory completes the rollout;
// - a hand-edited file and kernel setting are found by `status --drift`, put back by `up`.
// Kernel without ESP: the gate waits for IKE_SAs (docs/lab.md).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { PROJECT_DIR, labConfigFile, labPulumi } from '../../lab/lab-pulumi.js';
import type { LabSpec } from '../../lab/netns/index.js';
import { TWO_SITES } from './lab-test-support.js';
import { contentOf, e2eMeshForFile, expectedPairKeys, hostFiles, isMeshPath, keysUpOnBothEnds, negotiate, sshSessions } from './pulumi-support.js';

const LAB = 'e2e-change';
const HOSTS = ['a', 'b', 'c', 'd'];
const SPEC: LabSpec = {
  name: LAB,
  sites: TWO_SITES,
  hosts: [
    { name: 'a', site: 'east' },
    { name: 'b', site: 'east' },
    { name: 'c', site: 'west' },
    { name: 'd', site: 'west' },
  ],
};
const CONF = `/etc/swanctl/conf.d/ipsec-mesh_${LAB}.conf`;
const DEFAULT_PROPOSAL = 'aes256gcm16-prfsha384-ecp384';
const OTHER_PROPOSAL = 'aes128gcm16-prfsha256-ecp256';
const run = promisify(execFile);

const mesh = e2eMeshForFile(SPEC, { mesh: { auth: 'certificate' } }, { sshDialErrorLimit: '2', sshPerDialTimeout: '5' });

/** The preview's per-resource blocks, by resource name (the last `::` part of the URN). */
function blocksByResource(output: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\[urn=urn:pulumi:[^\]]*::([^\]:]+)\]/g;
  const hits = [...output.matchAll(re)];
  hits.forEach((m, i) => out.set(m[1]!, output.slice(m.index, hits[i + 1]?.index ?? output.length)));
  return out;
}

/** Every `- …` / `+ …` line of a block whose text (after the sign) matches `re`. */
function changed(block: string, sign: '-' | '+', re: RegExp): string[] {
  return block.split('\n').filter((l) => new RegExp(`^\\s*\\${sign}\\s`).test(l) && re.test(l));
}

/** Runs the built CLI in the operator namespace, where the hosts are reachable (render needs none of that). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('ip', ['netns', 'exec', mesh().lab.operator.netns, 'node', join(PROJECT_DIR, 'dist/components/cli/main.js'), ...args], { cwd: PROJECT_DIR });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

describe('change safety (real engine, four namespace hosts)', () => {
  it('certificate mode: preview --diff shows every host its changed rekey_time lines, summarised certificates and no secret; no SSH', async () => {
    await mesh().up();
    const sessions = HOSTS.map((h) => sshSessions(mesh().lab, h));
    mesh().writeInventory({ mesh: { auth: 'certificate', lifetimes: { childRekeySeconds: 1800 } } });
    const r = await mesh().preview(['--diff']);
    const blocks = blocksByResource(r.stdout);
    for (const h of HOSTS) {
      const review = blocks.get(`${LAB}-${h}-review`);
      expect(review, `${h}: a review block in the preview`).toBeDefined();
      expect(changed(review!, '-', /^\s*-\s+rekey_time = 3600s$/), h).toHaveLength(1);
      expect(changed(review!, '+', /^\s*\+\s+rekey_time = 1800s$/), h).toHaveLength(1);
    }
    expect(r.stdout).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    expect(r.stdout).not.toContain(readFileSync(mesh().lab.sshKeyPath, 'utf8').split('\n')[1]!);
    // A preview connects to no host.
    expect(HOSTS.map((h) => sshSessions(mesh().lab, h))).toEqual(sessions);
    await mesh().up();
  }, 300_000);

  it('render --config-file writes byte for byte what up pushed (enforcement overrides from the stack config included)', async () => {
    await mesh().setConfig('pairEnforcement', JSON.stringify([{ hosts: ['a', 'd'], enforcement: 'off' }]));
    await mesh().up();
    const out = mkdtempSync(join(tmpdir(), 'ipsec-mesh-render-'));
    try {
      const r = await cli('render', '--config-file', labConfigFile(mesh().lab), '--project', PROJECT_DIR, '--out', out);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      for (const h of HOSTS) {
        // systemd units: the lab hosts run no systemd, so the push skips them (docs/lab.md).
        const rendered = walk(join(out, h))
          .map((f) => `/${relative(join(out, h), f)}`)
          .filter((p) => !p.startsWith('/etc/systemd/'));
        expect(rendered).toContain(CONF);
        for (const p of rendered) {
          expect(readFileSync(join(out, h, p), 'utf8'), `${h}:${p}`).toBe(mesh().lab.readHostFile(h, p));
          expect(statSync(join(out, h, p)).mode & 0o777, `${h}:${p} mode`).toBe(statSync(mesh().lab.hostFile(h, p)).mode & 0o777);
        }
        // What render cannot know is only what up makes: certificates, the CRL, the host key,
        // and the post-quantum preshared keys (derived from a master only the stack holds).
        const onHost = [...hostFiles(mesh().lab, h).keys()].filter((p) => !p.endsWith('/') && isMeshPath(p) && !p.includes('/.ipsec-mesh'));
        const notRendered = onHost.filter((p) => !rendered.includes(p));
        for (const p of notRendered) expect(p, h).toMatch(new RegExp(`^/etc/swanctl/(x509|x509ca|x509crl|private|ecdsa|pkcs8)/|\\.csr$|^/etc/swanctl/conf\\.d/ipsec-mesh_${LAB}_ppk\\.conf$`));
        expect(notRendered, h).toContain(`/etc/swanctl/conf.d/ipsec-mesh_${LAB}_ppk.conf`);
      }
      expect(readFileSync(join(out, 'a', CONF), 'utf8')).not.toContain(`${LAB}_d_v4`);
    } finally {
      rmSync(out, { recursive: true, force: true });
      await mesh().removeConfig('pairEnforcement');
      await mesh().up();
    }
  }, 300_000);

  it('staged rollout: a proposal the old config rejects stops after the canary, naming its pairs; the rest keep working; the fixed inventory completes it', async () => {
    const lab = mesh().lab;
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    await mesh().setConfig('rollout', JSON.stringify({ canaryHosts: ['a'], waves: [['b', 'c']], gate: 'ike', gateTimeoutSeconds: 20 }));
    // The gates are new: they run once, on a mesh whose pairs are up, and pass.
    const first = await mesh().up();
    expect(first.stdout).toMatch(/rollout gate passed/);

    const before = new Map(['b', 'c', 'd'].map((h) => [h, contentOf(hostFiles(lab, h))]));
    mesh().writeInventory({ mesh: { auth: 'certificate', proposals: [OTHER_PROPOSAL] } });
    const broken = await mesh().up([], { allowFailure: true });
    const said = `${broken.stdout}\n${broken.stderr}`;
    expect(broken.code, said).not.toBe(0);
    expect(said).toContain(`${LAB}-a-gate`);
    expect(said).toMatch(/rollout gate FAILED: after 20s still without an ESTABLISHED IKE_SA: /);
    for (const p of ['a~b (ipv4)', 'a~c (ipv4)', 'a~d (ipv4)', 'a~b (ipv6)']) expect(said).toContain(p);
    // The command Pulumi prints is the short one that runs the installed script, not the script.
    expect(said).not.toContain('#!/bin/sh');
    expect(lab.readHostFile('a', CONF)).toContain(OTHER_PROPOSAL);
    // Later waves untouched: same files, old proposal, and their pairs still negotiate.
    for (const h of ['b', 'c', 'd']) {
      expect(contentOf(hostFiles(lab, h)), h).toEqual(before.get(h));
      expect(lab.readHostFile(h, CONF), h).not.toContain(OTHER_PROPOSAL);
    }
    const others = expected.filter((k) => !/(^|~)a[~/]/.test(k));
    expect(keysUpOnBothEnds(await negotiate(lab, ['b', 'c', 'd'], others))).toEqual(others);

    // The fix: the new proposal first, the old one still accepted. Every wave goes through.
    mesh().writeInventory({ mesh: { auth: 'certificate', proposals: [OTHER_PROPOSAL, DEFAULT_PROPOSAL] } });
    const fixed = await mesh().up();
    const passed = new Set([...fixed.stdout.matchAll(/ (\w+): rollout gate passed: \d+ pair/g)].map((m) => m[1]));
    expect([...passed].sort(), fixed.stdout).toEqual(HOSTS);
    for (const h of HOSTS) expect(lab.readHostFile(h, CONF), h).toContain(`${OTHER_PROPOSAL},${DEFAULT_PROPOSAL}`);
    expect(keysUpOnBothEnds(await negotiate(lab, HOSTS, expected))).toEqual(expected);
    await mesh().removeConfig('rollout');
    mesh().writeInventory({ mesh: { auth: 'certificate' } });
    await mesh().up();
  }, 600_000);

  it('drift: a hand-edited file and a changed kernel setting are found by status --drift and put back by the next up', async () => {
    const lab = mesh().lab;
    const status = () => cli('status', mesh().inventoryPath, '--ssh-key', lab.sshKeyPath, '--drift');
    const clean = await status();
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    for (const h of HOSTS) expect(clean.stdout).toMatch(new RegExp(`  ${h}: as pushed \\(\\d+ files, [1-9]\\d* kernel settings\\)`));

    // By hand: a line in b's swanctl file; one of c's mesh kernel settings.
    const pushed = lab.readHostFile('b', CONF);
    lab.writeHostFile('b', CONF, `${pushed}# hand edit during an incident\n`);
    const sysctlFile = `/etc/sysctl.d/60-ipsec-mesh_${LAB}.conf`;
    const [key, value] = /^(net\.\S+) = (\d+)$/m.exec(lab.readHostFile('c', sysctlFile))!.slice(1) as [string, string];
    const wrong = String(Number(value) + 1);
    await lab.exec('c', ['sysctl', '-w', `${key}=${wrong}`], { check: true });
    const drifted = await status();
    expect(drifted.code).toBe(1);
    expect(drifted.stdout).toContain(`  b: DRIFTED\n    file ${CONF} changed\n`);
    expect(drifted.stdout).toContain(`  c: DRIFTED\n    sysctl ${key} ${wrong} => ${value}\n`);
    expect(drifted.stdout).toContain('  a: as pushed');

    // The next up finds it before it plans, and pushes b and c again (a and d are not touched).
    const aFiles = contentOf(hostFiles(lab, 'a'));
    const repaired = await mesh().up();
    const said = `${repaired.stdout}\n${repaired.stderr}`;
    expect(said).toMatch(/b drifted from its last push, pushed again by this up: file \/etc\/swanctl\/conf\.d\/ipsec-mesh_e2e-change\.conf changed/);
    expect(said).toContain(`c drifted from its last push, pushed again by this up: sysctl ${key} ${wrong} => ${value}`);
    expect(said).toContain(`${LAB}-b-repair`);
    expect(said).not.toContain(`${LAB}-a-repair`);
    expect(lab.readHostFile('b', CONF)).toBe(pushed);
    expect((await lab.exec('c', ['sysctl', '-n', key], { check: true })).stdout.trim()).toBe(value);
    expect(contentOf(hostFiles(lab, 'a'))).toEqual(aFiles);
    expect((await status()).code).toBe(0);

    // The repair commands were for that up only: the next one drops them, running nothing.
    await mesh().up();
    expect(await mesh().lastChanges()).toMatchObject({ delete: 2 });
    expect((await mesh().up(['--expect-no-changes'])).code).toBe(0);
  }, 300_000);

  it('PSK mode: preview --diff shows the changed lines and each key only as its fingerprint', async () => {
    await mesh().destroy();
    mesh().writeInventory({ mesh: { auth: 'psk' } });
    await mesh().up();
    const exported = JSON.parse((await labPulumi(mesh().lab, ['stack', 'export', '--show-secrets'])).stdout) as {
      deployment: { resources: { type: string; outputs?: { result?: { plaintext: string } } }[] };
    };
    // --show-secrets keeps the secret envelope and adds the plaintext (JSON-encoded).
    const master = JSON.parse(exported.deployment.resources.find((r) => r.type === 'random:index/randomPassword:RandomPassword')!.outputs!.result!.plaintext) as string;
    const keys = HOSTS.flatMap((x) => HOSTS.filter((y) => x < y).map((y) => derivePairPsk(master, LAB, x, y)));
    mesh().writeInventory({ mesh: { auth: 'psk', lifetimes: { childRekeySeconds: 1800 } } });
    const r = await mesh().preview(['--diff']);
    const blocks = blocksByResource(r.stdout);
    for (const h of HOSTS) {
      const review = blocks.get(`${LAB}-${h}-review`)!;
      expect(changed(review, '+', /^\s*\+\s+rekey_time = 1800s$/), h).toHaveLength(1);
    }
    expect(r.stdout).toContain('[secret]'); // the push's stdin, as before
    for (const k of [master, ...keys, ...keys.map((k) => k.replace(/^0[xs]/, '').slice(0, 24))]) expect(r.stdout).not.toContain(k);
    // A key change shows as a changed fingerprint line, still no key. (A new generation's
    // master is unknown until `up` makes it: the rotation's switch step is the reviewable one.)
    mesh().writeInventory({ mesh: { auth: 'psk' } });
    await mesh().setConfig('pskAcceptGeneration', '1');
    await mesh().up();
    await mesh().setConfig('pskGeneration', '1');
    await mesh().setConfig('pskAcceptGeneration', '0');
    const rotated = await mesh().preview(['--diff']);
    const a = blocksByResource(rotated.stdout).get(`${LAB}-a-review`)!;
    const fingerprint = /secret = "<key fingerprint hmac-sha256:[0-9a-f]{16}>"/;
    expect(changed(a, '-', fingerprint).length, a).toBeGreaterThanOrEqual(3);
    expect(changed(a, '+', fingerprint).length, a).toBeGreaterThanOrEqual(3);
    for (const k of [master, ...keys]) expect(rotated.stdout).not.toContain(k);
  }, 600_000);
});
