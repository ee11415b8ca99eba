// PSK rotation without a flag day (docs/components.md, *PSK rotation*), with the real engine
// and the upstream random provider on three namespace hosts. Each of the three steps is pushed
// while c's sshd is down — c's push fails and c keeps the previous step — and in that mixed
// state every pair's IKE_SAs are closed and negotiated again: both ends sign and verify in
// every IKE_AUTH, so each pair proves it authenticates across the two steps. charon's log must
// show no failed authentication at any point. Then the control: a flag-day bump (new
// generation, no transition) with c behind does fail — the check above can see a failure.
import { afterEach, describe, expect, it } from 'vitest';
import { labPulumi } from '../../lab/lab-pulumi.js';
import { parseConf } from '../unit/render-conf-parser.js';
import { threeHostSpec } from './lab-test-support.js';
import { e2eMeshForFile, expectedPairKeys, keysUpOnBothEnds, negotiate, terminateAllSas } from './pulumi-support.js';

const LAB = 'e2e-pskrot';
const HOSTS = ['a', 'b', 'c'];
const SECRETS = `/etc/swanctl/conf.d/ipsec-mesh_${LAB}_secrets.conf`;
const AUTH_FAILURE = /MAC mismatched|no shared key found|AUTHENTICATION_FAILED/;

// Few, short SSH dials: c's push fails in seconds while its sshd is down.
const mesh = e2eMeshForFile(threeHostSpec(LAB), { mesh: { auth: 'psk' } }, { sshDialErrorLimit: '2', sshPerDialTimeout: '5' });

/** Section name → secret of a host's PSK secrets file (test-only: the lab's own files). */
function secretsOf(host: string): Map<string, string> {
  const secrets = parseConf(mesh().lab.readHostFile(host, SECRETS)).sections.get('secrets')!;
  return new Map(secrets.order.map((name) => [name, secrets.sections.get(name)!.values.get('secret')!]));
}

const logOffsets = new Map<string, number>();
/** What charon logged about failed authentication on any host since the last call. */
function authFailuresSinceLastLook(): string[] {
  const found: string[] = [];
  for (const h of HOSTS) {
    const log = mesh().lab.charonLog(h);
    const from = logOffsets.get(h) ?? 0;
    logOffsets.set(h, log.length);
    for (const line of log.slice(from).split('\n')) if (AUTH_FAILURE.test(line)) found.push(`${h}: ${line}`);
  }
  return found;
}

/** Every pair's IKE_SAs closed, then negotiated again; the keys up on both ends. */
async function renegotiateAll(expected: readonly string[], timeoutMs = 45_000): Promise<string[]> {
  await terminateAllSas(mesh().lab, HOSTS);
  return keysUpOnBothEnds(await negotiate(mesh().lab, HOSTS, expected, { timeoutMs }));
}

/** One step of a rotation pushed while c is unreachable: a and b take it, c's push fails. */
async function upWithoutC(): Promise<void> {
  await mesh().lab.stopSshd('c');
  const r = await mesh().up(['--continue-on-error'], { allowFailure: true });
  expect(r.code, 'c is unreachable: the up fails for c').not.toBe(0);
  expect(`${r.stdout}\n${r.stderr}`).toContain(`${LAB}-c-push`);
}

afterEach(async () => {
  if (mesh().lab.sshdPid('c') === undefined) await mesh().lab.startSshd('c');
});

describe('PSK rotation, one host behind at every step (real engine, upstream random provider)', () => {
  it('introduce, switch, retire: every pair authenticates in every mixed state; the keys end on the new generation', async () => {
    await mesh().up();
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    expect(await renegotiateAll(expected)).toEqual(expected);
    authFailuresSinceLastLook();
    const g0 = new Map(HOSTS.map((h) => [h, secretsOf(h)]));
    expect([...g0.get('a')!.keys()].sort()).toEqual([`ike-${LAB}_b`, `ike-${LAB}_c`]);

    // 1. Introduce generation 1: accepted, never signed with.
    await mesh().setConfig('pskAcceptGeneration', '1');
    await upWithoutC();
    const step1 = secretsOf('a');
    expect(step1.get(`ike-${LAB}_b`), 'a still signs with generation 0').toBe(g0.get('a')!.get(`ike-${LAB}_b`));
    expect(step1.get(`ike-${LAB}_b_accept`), 'and accepts generation 1').toMatch(/\S/);
    expect(step1.get(`ike-${LAB}_b_accept`)).not.toBe(step1.get(`ike-${LAB}_b`));
    expect(secretsOf('c'), 'c is behind').toEqual(g0.get('c'));
    expect(await renegotiateAll(expected), 'a, b at step 1, c at step 0').toEqual(expected);
    expect(authFailuresSinceLastLook()).toEqual([]);
    await mesh().lab.startSshd('c');
    await mesh().up();
    expect(secretsOf('c').get(`ike-${LAB}_a_accept`), 'c caught up').toBe(step1.get(`ike-${LAB}_c_accept`));

    // 2. Switch: sign with generation 1, still accept generation 0.
    const step1c = secretsOf('c');
    await mesh().setConfig('pskGeneration', '1');
    await mesh().setConfig('pskAcceptGeneration', '0');
    await upWithoutC();
    const step2 = secretsOf('a');
    expect(step2.get(`ike-${LAB}_b`), 'a signs with generation 1').toBe(step1.get(`ike-${LAB}_b_accept`));
    expect(step2.get(`ike-${LAB}_b_accept`), 'and accepts generation 0').toBe(step1.get(`ike-${LAB}_b`));
    expect(secretsOf('c'), 'c is behind').toEqual(step1c);
    expect(await renegotiateAll(expected), 'a, b at step 2, c at step 1').toEqual(expected);
    expect(authFailuresSinceLastLook()).toEqual([]);
    await mesh().lab.startSshd('c');
    await mesh().up();

    // 3. Retire generation 0.
    const step2c = secretsOf('c');
    await mesh().removeConfig('pskAcceptGeneration');
    await upWithoutC();
    expect(secretsOf('a'), 'a signs with and accepts generation 1 only').toEqual(new Map([...step2].filter(([k]) => !k.endsWith('_accept'))));
    expect(secretsOf('c'), 'c is behind').toEqual(step2c);
    expect(await renegotiateAll(expected), 'a, b at step 3, c at step 2').toEqual(expected);
    expect(authFailuresSinceLastLook()).toEqual([]);
    await mesh().lab.startSshd('c');
    await mesh().up();

    // Every pair key is new; one master is left in the stack, generation 1's.
    for (const h of HOSTS) {
      const now = secretsOf(h);
      expect([...now.keys()].some((k) => k.endsWith('_accept')), h).toBe(false);
      for (const [section, secret] of now) expect(secret, `${h} ${section}`).not.toBe(g0.get(h)!.get(section));
    }
    expect(await renegotiateAll(expected)).toEqual(expected);
    expect(authFailuresSinceLastLook()).toEqual([]);
    const state = JSON.parse((await labPulumi(mesh().lab, ['stack', 'export'])).stdout) as { deployment: { resources: { type: string; urn: string }[] } };
    const masters = state.deployment.resources.filter((r) => r.type === 'random:index/randomPassword:RandomPassword').map((r) => r.urn.slice(r.urn.lastIndexOf('::') + 2));
    // The PSK master of the new generation alone, and the PPK master (untouched by a PSK rotation).
    expect(masters.sort()).toEqual([`${LAB}-ppk-master`, `${LAB}-psk-master-g1`]);
    expect((await mesh().up(['--expect-no-changes'])).code).toBe(0);
  }, 900_000);

  it('control: a flag-day bump (no transition) with c behind breaks the pairs with c', async () => {
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    authFailuresSinceLastLook();
    await mesh().setConfig('pskGeneration', '2');
    await upWithoutC();
    // The pairs with c never come up: 15 s of datagrams and retransmits is plenty to see it.
    const up = await renegotiateAll(expected, 15_000);
    const withC = (k: string): boolean => /(^|~)c[~/]/.test(k);
    expect(up.filter((k) => !withC(k)), 'a~b is fine').toEqual(expected.filter((k) => !withC(k)));
    expect(up.filter(withC), 'no pair with c authenticates').toEqual([]);
    expect(authFailuresSinceLastLook().length).toBeGreaterThan(0);
    await mesh().lab.startSshd('c');
    await mesh().up();
    expect(await renegotiateAll(expected)).toEqual(expected);
  }, 600_000);
});
