// The 100-host lab's scenario (bench/scale-lab.ts, `npm run bench:lab`) at 10 hosts, with the
// real engine: a compact, certificate, `require`, dual-stack mesh in four sites. After the
// first `up` and traffic every pair's IKE_SA is up on both ends; a no-change `up` runs no
// remote command; with site-prefix selectors, adding one host runs remote commands on that
// host only. No times are asserted: the benchmark records them.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ScaleLab } from '../../bench/scale-lab.js';
import { requireE2ePrerequisites } from './pulumi-support.js';
import { expectNothingLeft } from './lab-test-support.js';
import type { ProcessRecord } from '../../lab/netns/index.js';

const NAME = 'e2e-scale';
const HOSTS = 10;
/** Site prefixes: a host joining a site changes no other host's files, so nothing else is pushed. */
const SELECTORS = 'site-prefixes';

let scale: ScaleLab | undefined;
let processes: readonly ProcessRecord[] = [];
let setupError: unknown;

beforeAll(async () => {
  try {
    requireE2ePrerequisites();
    scale = await ScaleLab.start({ name: NAME, hosts: HOSTS, selectors: SELECTORS, establishTimeoutMs: 120_000 });
    processes = scale.lab.processes;
  } catch (e) {
    setupError = e;
  }
}, 300_000);
beforeEach(() => {
  if (setupError !== undefined) throw setupError;
});
afterAll(async () => {
  if (scale) {
    const { leftovers } = await scale.destroyAndStop();
    expect(leftovers, 'left behind').toEqual([]);
  }
  expectNothingLeft(NAME, processes);
}, 300_000);

const lab = (): ScaleLab => {
  if (scale === undefined) throw new Error(`lab ${NAME} is not up`);
  return scale;
};

describe(`the scale scenario at ${HOSTS} hosts (compact, ${SELECTORS} selectors)`, () => {
  it('first up: two remote commands per host (host key, push); then traffic brings every pair\'s IKE_SA up on both ends, both families', async () => {
    const up = await lab().up();
    expect(Object.keys(up.remoteByHost).sort()).toEqual([...lab().meshHosts].sort());
    for (const h of lab().meshHosts) expect(up.remoteByHost[h]!.map((s) => `${s.op} ${s.name}`).sort(), h).toEqual([`create ${NAME}-${h}-host-key`, `create ${NAME}-${h}-push`]);
    const sas = await lab().establishAll();
    expect(sas.expected, 'pair/family keys: 45 pairs × 2 families').toBe(90);
    expect(sas.missing).toEqual([]);
    expect(sas.established).toBe(90);
  }, 300_000);

  it('a no-change up runs 0 remote commands (drift check on: one read-only SSH session per host; off: none)', async () => {
    const withDrift = await lab().up(['--expect-no-changes']);
    expect(withDrift.remoteByHost).toEqual({});
    expect(withDrift.remoteTotal).toBe(0);
    expect(withDrift.steps, 'the engine reported its steps').toBeGreaterThan(HOSTS * 3);
    expect(withDrift.sshSessions).toBe(HOSTS);
    await lab().setDriftCheck(false);
    try {
      const noDrift = await lab().up(['--expect-no-changes']);
      expect(noDrift.remoteTotal).toBe(0);
      expect(noDrift.sshSessions).toBe(0);
    } finally {
      await lab().setDriftCheck(true);
    }
  }, 300_000);

  it('adding one host to a site runs its own two commands (host key, push) and none on any other host', async () => {
    const added = await lab().addHost();
    expect(Object.keys(added.remoteByHost), 'hosts where remote commands ran').toEqual([added.addedHost]);
    expect(added.remoteByHost[added.addedHost]!.map((s) => `${s.op} ${s.name}`).sort()).toEqual([`create ${NAME}-${added.addedHost}-host-key`, `create ${NAME}-${added.addedHost}-push`]);
    // The new host is in the mesh: its pairs come up like the others'.
    const sas = await lab().establishAll();
    expect(sas.expected, 'pair/family keys: 55 pairs × 2 families').toBe(110);
    expect(sas.missing).toEqual([]);
  }, 300_000);
});
