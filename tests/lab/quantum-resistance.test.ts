// Post-quantum preshared keys (RFC 8784) with the real engine on namespace hosts running
// Debian's strongSwan 5.9.8 (docs/quantum-resistance.md). Every pair's IKE_SA mixes its PPK
// into its keys; a host holding a wrong PPK is refused; a host holding none is accepted under
// `preferred` (a rollout with no flag day) and refused under `required`.
import { join } from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { quantumProtection } from '../../components/operations/swanctl-status.js';
import { PROJECT_DIR, labPulumi } from '../../lab/lab-pulumi.js';
import { threeHostSpec } from './lab-test-support.js';
import { e2eMeshForFile, expectedPairKeys, hostFiles, keysUpOnBothEnds, negotiate, terminateAllSas } from './pulumi-support.js';

const run = promisify(execFile);
const LAB = 'e2e-ppk';
const HOSTS = ['a', 'b', 'c'];
const PPK_FILE = `/etc/swanctl/conf.d/ipsec-mesh_${LAB}_ppk.conf`;
const AUTH_FAILURE = /AUTHENTICATION_FAILED|PPK required but|verification of AUTH payload with PPK failed/;

// No quantumResistance setting: a new mesh is quantum-resistant by default (required).
const mesh = e2eMeshForFile(threeHostSpec(LAB), { mesh: { domain: 'lab.example' } });

/** IKE_SAs of `host` with each peer key (`x~y/family`) → what protects them. */
async function protectionOf(host: string): Promise<Map<string, string>> {
  const lab = mesh().lab;
  const byAddress = new Map(lab.hosts.flatMap((h) => [...h.ipv4, ...h.ipv6].map((a) => [a, h.name] as const)));
  const out = new Map<string, string>();
  for (const sa of await lab.listSas(host)) {
    if (sa.state !== 'ESTABLISHED') continue;
    const peer = byAddress.get(sa.remoteHost) ?? '?';
    const fam = sa.remoteHost.includes(':') ? 'ipv6' : 'ipv4';
    out.set(`${host < peer ? host : peer}~${host < peer ? peer : host}/${fam}`, quantumProtection(sa));
  }
  return out;
}

async function renegotiate(expected: readonly string[], timeoutMs = 30_000): Promise<string[]> {
  await terminateAllSas(mesh().lab, HOSTS);
  return keysUpOnBothEnds(await negotiate(mesh().lab, HOSTS, expected, { timeoutMs }));
}

/** c loses its PPKs (a host not yet pushed, or one that lost its file): charon forgets them. */
async function dropPpksOn(host: string): Promise<void> {
  const lab = mesh().lab;
  lab.writeHostFile(host, PPK_FILE, '# none\n', 0o600);
  await lab.swanctl(host, ['--load-creds', '--clear', '--noprompt'], { check: true });
}

function failuresSince(host: string, from: number): string[] {
  return mesh().lab.charonLog(host).slice(from).split('\n').filter((l) => AUTH_FAILURE.test(l));
}

describe('post-quantum preshared keys (real engine, Debian strongSwan 5.9.8)', () => {
  it('a new mesh without a quantumResistance setting: every pair\'s IKE_SA uses its PPK, required, on both ends; the keys sit in a 0600 file; status says ppk', async () => {
    expect(mesh().inventoryOpts.mesh).not.toHaveProperty('quantumResistance');
    await mesh().up();
    const lab = mesh().lab;
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    expect(keysUpOnBothEnds(await negotiate(lab, HOSTS, expected))).toEqual(expected);
    for (const h of HOSTS) expect(lab.readHostFile(h, `/etc/swanctl/conf.d/ipsec-mesh_${LAB}.conf`).match(/ppk_required = yes/g), h).toHaveLength(4);
    for (const h of HOSTS) {
      const p = await protectionOf(h);
      expect([...p.values()], h).toEqual(expect.arrayContaining(['ppk']));
      expect([...p.values()].every((v) => v === 'ppk'), `${h}: ${JSON.stringify([...p])}`).toBe(true);
      expect((hostFiles(lab, h).get(PPK_FILE)?.mode ?? 0) & 0o777, `${h}: the PPK file`).toBe(0o600);
    }
    expect(lab.charonLog('a')).toMatch(/using PPK for PPK_ID '[a-c]\.[a-c]\.e2e-ppk\.ppk'/);
    const status = JSON.parse(
      (await run('ip', ['netns', 'exec', lab.operator.netns, 'node', join(PROJECT_DIR, 'dist/components/cli/main.js'), 'status', mesh().inventoryPath, '--ssh-key', lab.sshKeyPath, '--json'], { cwd: PROJECT_DIR })).stdout,
    ).rows as { a: { quantum?: string }; b: { quantum?: string } }[];
    expect(status.map((r) => `${r.a.quantum}/${r.b.quantum}`)).toEqual(status.map(() => 'ppk/ppk'));
  }, 300_000);

  it('a host holding a wrong PPK is refused; the next up puts the right one back', async () => {
    const lab = mesh().lab;
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    const text = lab.readHostFile('c', PPK_FILE);
    const wrong = text.replace(/(ppk-e2e-ppk_a \{[^}]*secret = )0x[0-9a-f]{64}/, `$10x${'ab'.repeat(32)}`);
    expect(wrong).not.toBe(text);
    lab.writeHostFile('c', PPK_FILE, wrong, 0o600);
    await lab.swanctl('c', ['--load-creds', '--clear', '--noprompt'], { check: true });
    const from = lab.charonLog('a').length;
    const up = await renegotiate(expected, 15_000);
    expect(up.filter((k) => k.startsWith('a~c')), 'a~c does not authenticate').toEqual([]);
    expect(up.filter((k) => !k.startsWith('a~c'))).toEqual(expected.filter((k) => !k.startsWith('a~c')));
    expect([...failuresSince('a', from), ...failuresSince('c', 0)].length).toBeGreaterThan(0);
    await mesh().up(); // the drift check finds c's file changed and pushes it again
    expect(lab.readHostFile('c', PPK_FILE)).toBe(text);
    expect(await renegotiate(expected)).toEqual(expected);
  }, 300_000);

  it('preferred: a host without PPKs yet is accepted without one; required: refused', async () => {
    const lab = mesh().lab;
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    mesh().writeInventory({ ...mesh().inventoryOpts, mesh: { domain: 'lab.example', quantumResistance: 'preferred' } });
    await mesh().up();
    expect(lab.readHostFile('a', `/etc/swanctl/conf.d/ipsec-mesh_${LAB}.conf`)).toContain('ppk_required = no');
    await dropPpksOn('c');
    expect(await renegotiate(expected)).toEqual(expected);
    const onA = await protectionOf('a');
    expect([onA.get('a~c/ipv4'), onA.get('a~c/ipv6')], 'a~c established without a PPK').toEqual(['none', 'none']);
    expect([onA.get('a~b/ipv4'), onA.get('a~b/ipv6')], 'a~b still with its PPK').toEqual(['ppk', 'ppk']);

    mesh().writeInventory({ ...mesh().inventoryOpts, mesh: { domain: 'lab.example', quantumResistance: 'required' } });
    await mesh().up();
    expect(lab.readHostFile('c', PPK_FILE)).toContain('ppk-e2e-ppk_a');
    await dropPpksOn('c');
    const from = lab.charonLog('a').length;
    const up = await renegotiate(expected, 15_000);
    expect(up.filter((k) => k.includes('~c/')), 'no pair with c without its PPK').toEqual([]);
    expect(up).toEqual(expected.filter((k) => !k.includes('~c/')));
    expect(failuresSince('a', from).length + failuresSince('c', 0).length).toBeGreaterThan(0);
  }, 300_000);

  it('a rotation (mesh.ppkGeneration: 1): every pair moves to a new PPK under a new PPK_ID; no IKE_SA keeps the old one; the old master is gone', async () => {
    const lab = mesh().lab;
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    // The test before left c without its PPKs, as the one before it did: this up finds the same
    // drift as the last one and must repair it again (a repair whose inputs did not change would
    // not run), so the rotation starts from a whole mesh.
    await mesh().up();
    const drift = (await run('ip', ['netns', 'exec', lab.operator.netns, 'node', join(PROJECT_DIR, 'dist/components/cli/main.js'), 'status', mesh().inventoryPath, '--ssh-key', lab.sshKeyPath, '--drift'], { cwd: PROJECT_DIR }).catch((e: { stdout?: string }) => e)).stdout ?? '';
    expect(drift, 'every host as pushed after a repeated drift').not.toContain('DRIFTED');
    expect(drift.match(/as pushed/g)).toHaveLength(HOSTS.length);
    const oldKeys = new Map(HOSTS.map((h) => [h, [...lab.readHostFile(h, PPK_FILE).matchAll(/secret = (0x[0-9a-f]{64})/g)].map((m) => m[1]!)] as const));
    const oldSas = new Map(await Promise.all(HOSTS.map(async (h) => [h, new Set((await lab.listSas(h)).map((sa) => sa.uniqueId))] as const)));
    const from = new Map(HOSTS.map((h) => [h, lab.charonLog(h).length] as const));
    mesh().writeInventory({ ...mesh().inventoryOpts, mesh: { domain: 'lab.example', ppkGeneration: 1 } });
    await mesh().up();
    for (const h of HOSTS) {
      const text = lab.readHostFile(h, PPK_FILE);
      expect([...text.matchAll(/id = (\S+)/g)].map((m) => m[1]), h).toEqual(HOSTS.filter((p) => p !== h).map((p) => `${[h, p].sort().join('.')}.${LAB}.g1.ppk`));
      for (const k of oldKeys.get(h)!) expect(text, `${h}: an old PPK left`).not.toContain(k);
    }
    expect(keysUpOnBothEnds(await negotiate(lab, HOSTS, expected))).toEqual(expected);
    for (const h of HOSTS) {
      const sas = (await lab.listSas(h)).filter((sa) => sa.state === 'ESTABLISHED');
      expect(sas.filter((sa) => oldSas.get(h)!.has(sa.uniqueId)).map((sa) => sa.name), `${h}: IKE_SAs from before the rotation`).toEqual([]);
      expect(sas.map((sa) => quantumProtection(sa)), h).toEqual(sas.map(() => 'ppk'));
      const used = [...lab.charonLog(h).slice(from.get(h)).matchAll(/using PPK for PPK_ID '([^']+)'/g)].map((m) => m[1]!);
      expect(used.length, h).toBeGreaterThan(0);
      expect(used.filter((id) => !id.endsWith(`.${LAB}.g1.ppk`)), `${h}: an old PPK_ID used after the rotation`).toEqual([]);
    }
    const state = JSON.parse((await labPulumi(lab, ['stack', 'export'])).stdout) as { deployment: { resources: { type: string; urn: string }[] } };
    const masters = state.deployment.resources.filter((r) => r.type === 'random:index/randomPassword:RandomPassword').map((r) => r.urn.slice(r.urn.lastIndexOf('::') + 2));
    expect(masters).toEqual([`${LAB}-ppk-master-g1`]);
    expect((await mesh().up(['--expect-no-changes'])).code).toBe(0);
  }, 300_000);
});
