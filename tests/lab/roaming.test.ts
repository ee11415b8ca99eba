// A roaming host (addresses: dynamic) with the real engine on namespace hosts (docs/topology.md,
// "Roaming hosts"). `m` is a laptop: its peers accept it from any address by its certificate
// and never initiate to it. A stranger claiming m's identity with a key of its own gets
// nothing. Moving it to another address is tests/lab/vm-roaming.test.ts: it re-authenticates
// from its new address, which takes a CHILD_SA to recreate, and this kernel has no ESP.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { IkeSaStatus } from '../../components/operations/swanctl-status.js';
import type { LabSpec } from '../../lab/netns/index.js';
import { TWO_SITES } from './lab-test-support.js';
import { e2eMeshForFile, expectedPairKeys, keysUpOnBothEnds, negotiate } from './pulumi-support.js';
import { initiateAsStranger, leakedPpk, makeTestCa } from './test-ca.js';

const LAB = 'e2e-roam';
const MESH_HOSTS = ['a', 'c', 'm'];
const tmp = mkdtempSync(join(tmpdir(), 'ipsec-mesh-roaming-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const spec: LabSpec = {
  name: LAB,
  sites: TWO_SITES,
  hosts: [
    { name: 'a', site: 'east' },
    { name: 'c', site: 'west' },
    { name: 'm', site: 'east' },
    { name: 'x', site: 'west' },
  ],
};

const mesh = e2eMeshForFile(spec, { mesh: { domain: 'lab.example' }, hosts: MESH_HOSTS, roamingHosts: ['m'] });

/** The ESTABLISHED IKE_SA of connection `name` on `host`. */
async function saNamed(host: string, name: string): Promise<IkeSaStatus | undefined> {
  return (await mesh().lab.listSas(host)).find((s) => s.state === 'ESTABLISHED' && s.name === name);
}

describe('a roaming host (real engine, certificates)', () => {
  it('initiates to every peer from where it is; the peers accept it by identity and never initiate to it', async () => {
    await mesh().up();
    const lab = mesh().lab;
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    expect(expected).toEqual(['a~c/ipv4', 'a~c/ipv6', 'a~m/ipv4', 'a~m/ipv6', 'c~m/ipv4', 'c~m/ipv6']);
    // Datagrams every way: m's traps start its SAs; a and c have nothing to start towards m.
    expect(keysUpOnBothEnds(await negotiate(lab, MESH_HOSTS, expected, { timeoutMs: 45_000 }))).toEqual(expected);
    const onA = await saNamed('a', `${LAB}_m_v4`);
    expect(onA?.initiator, 'a never initiates to m').toBe(false);
    expect(onA?.remoteHost).toBe(lab.host('m').ipv4[0]);
    const conf = lab.readHostFile('a', `/etc/swanctl/conf.d/ipsec-mesh_${LAB}.conf`);
    expect(conf).toMatch(/remote_addrs = %any4\n\t\t# an end roams: it re-authenticates from each new address/);
    // No trap towards m on a: the kernel holds no policy for an address m may never have.
    expect((await lab.exec('a', ['ip', 'xfrm', 'policy'], { check: true })).stdout).not.toContain(lab.host('m').ipv4[0]);
  }, 300_000);

  it('a stranger claiming m\'s identity with a certificate of its own gets no IKE_SA', async () => {
    const lab = mesh().lab;
    const inventory = await mesh().inventory();
    const m = inventory.hosts.find((h) => h.name === 'm')!;
    const other = await makeTestCa(join(tmp, 'other-ca'), 'a CA of its own');
    // It even holds the pair's PPK (read off a): the certificate check alone must refuse it.
    const r = await initiateAsStranger(lab, { from: 'x', to: 'a', identity: m.identity, ca: other, ppk: leakedPpk(lab, 'a', LAB, `ppk-${LAB}_m`) });
    expect(r.code, 'the initiation fails').not.toBe(0);
    const fromX = (await lab.listSas('a')).filter((s) => s.remoteHost === lab.host('x').ipv4[0]);
    expect(fromX.filter((s) => s.state === 'ESTABLISHED')).toEqual([]);
    expect(lab.charonLog('a')).toMatch(/no trusted RSA public key found|no trusted ECDSA public key found|constraint check failed|no issuer certificate found/);
  }, 120_000);
});
