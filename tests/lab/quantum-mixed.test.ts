// Hybrid ML-KEM where both ends run strongSwan 6, PPK everywhere (docs/quantum-resistance.md),
// with the real engine on namespace hosts: x6 and y6 run upstream strongSwan 6.0.6 (the lab's
// build, scripts/build-strongswan6.sh), z5 Debian's 5.9.8. The inventory says which runs what;
// the push is the same. x6~y6 negotiates ECDH + ML-KEM-768 with a PPK; a pair with z5 uses
// its PPK alone.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { quantumProtection } from '../../components/operations/swanctl-status.js';
import { waitFor, type LabSpec } from '../../lab/netns/index.js';
import { PROJECT_DIR } from '../../lab/lab-pulumi.js';
import { TWO_SITES } from './lab-test-support.js';
import { e2eMeshForFile, expectedPairKeys, keysUpOnBothEnds, negotiate } from './pulumi-support.js';

const run = promisify(execFile);
const LAB = 'e2e-pqmix';
const HOSTS = ['x6', 'y6', 'z5'];

const spec: LabSpec = {
  name: LAB,
  sites: TWO_SITES,
  hosts: [
    { name: 'x6', site: 'east', strongswan: '6' },
    { name: 'y6', site: 'west', strongswan: '6' },
    { name: 'z5', site: 'east' },
  ],
};

const mesh = e2eMeshForFile(spec, {
  mesh: { domain: 'lab.example', quantumResistance: 'required' },
  hostFields: { x6: { strongswan: '6' }, y6: { strongswan: '6' } },
});

describe('strongSwan 6 and 5.9 hosts in one mesh (real engine, PPK required)', () => {
  it('x6~y6 selects ECDH + ML-KEM-768 and exchanges its key share; pairs with z5 (5.9.8) establish with a PPK alone', async () => {
    await mesh().up();
    const lab = mesh().lab;
    expect((await lab.exec('x6', ['swanctl', '--version'], { check: true })).stdout).toContain('6.0.6');
    expect((await lab.exec('z5', ['swanctl', '--version'], { check: true })).stdout).toContain('5.9.8');
    const conf = lab.readHostFile('x6', `/etc/swanctl/conf.d/ipsec-mesh_${LAB}.conf`);
    expect(conf).toMatch(/e2e-pqmix_y6_v4 : [^\n]*\{[^}]*proposals = aes256gcm16-prfsha384-ecp384-ke1_mlkem768\n/);
    expect(conf).toContain('esp_proposals = aes256gcm16-ecp384-ke1_mlkem768');
    const { pairs } = await mesh().pairs();
    // The pairs with z5 establish in full. x6~y6 cannot finish here: its IKE_AUTH carries the
    // first CHILD_SA, this kernel has no ESP, and 6.0.6 then answers IKE_AUTH with NO_PROP alone
    // (5.9.8 keeps the IKE_SA). What it negotiated up to there is in the logs.
    const withZ5 = expectedPairKeys(pairs).filter((k) => k.includes('z5'));
    const sas = await negotiate(lab, HOSTS, withZ5, { timeoutMs: 45_000 });
    expect(keysUpOnBothEnds(sas).filter((k) => k.includes('z5'))).toEqual(withZ5);
    const byAddress = new Map(lab.hosts.flatMap((h) => [...h.ipv4, ...h.ipv6].map((a) => [a, h.name] as const)));
    for (const h of HOSTS) {
      for (const sa of await lab.listSas(h)) {
        const peer = byAddress.get(sa.remoteHost);
        if (sa.state !== 'ESTABLISHED' || peer === undefined || ![h, peer].includes('z5')) continue;
        expect([`${h}~${peer}`, quantumProtection(sa), sa.proposal]).toEqual([`${h}~${peer}`, 'ppk', 'AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/PPK']);
      }
    }
    for (const [h, conn] of [['x6', 'y6'], ['y6', 'x6']] as const) {
      const log = lab.charonLog(h);
      expect(log, `${h}: the hybrid proposal chosen with ${conn}`).toMatch(new RegExp(`<${LAB}_${conn}_v4\\|\\d+> selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/KE1_ML_KEM_768`));
      expect(log, `${h}: the ML-KEM key share in IKE_INTERMEDIATE`).toMatch(new RegExp(`<${LAB}_${conn}_v4\\|\\d+> (generating|parsed) IKE_INTERMEDIATE (request|response) 1 \\[ KE \\]`));
      expect(log, `${h}: its PPK with ${conn}`).toContain(`using PPK for PPK_ID 'x6.y6.${LAB}.ppk'`);
    }
    // Nothing of ML-KEM towards the 5.9 host.
    expect(lab.charonLog('z5')).not.toContain('ML_KEM');

    // Initiated as an IKE_SA alone (RFC 6023 childless: no CHILD_SA to install in this
    // kernel), the product's own x6~y6 connection completes: ECDH + ML-KEM-768 and the PPK,
    // on both ends, and status says so.
    const conn = `${LAB}_y6_v4`;
    await lab.swanctl('x6', ['--initiate', '--ike', conn, '--timeout', '20']);
    const hybrid = await waitFor(async () => (await lab.listSas('x6')).find((s) => s.name === conn && s.state === 'ESTABLISHED'), 20_000, 200);
    expect(hybrid?.proposal, lab.charonLog('x6').split('\n').slice(-30).join('\n')).toBe('AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384/KE1_ML_KEM_768/PPK');
    const onY6 = (await lab.listSas('y6')).find((s) => s.name === `${LAB}_x6_v4` && s.state === 'ESTABLISHED');
    expect(onY6 && quantumProtection(onY6)).toBe('ppk+ml-kem');
    const status = JSON.parse(
      (await run('ip', ['netns', 'exec', lab.operator.netns, 'node', join(PROJECT_DIR, 'dist/components/cli/main.js'), 'status', mesh().inventoryPath, '--ssh-key', lab.sshKeyPath, '--json'], { cwd: PROJECT_DIR })).stdout,
    ).rows as { pair: string; family: string; a: { quantum?: string }; b: { quantum?: string } }[];
    const row = status.find((r) => r.pair === 'x6~y6' && r.family === 'ipv4');
    expect([row?.a.quantum, row?.b.quantum]).toEqual(['ppk+ml-kem', 'ppk+ml-kem']);
  }, 300_000);
});
