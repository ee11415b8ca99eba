import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostCertificateNames } from '../../components/credentials/host-certificate-names.js';
import {
  type DeliveryBundle,
  encodePayload,
  hostKeyPath,
  prepareHostKeyScript,
  pushScript,
  removeHostKeyScript,
  removeScript,
} from '../../components/delivery/index.js';
import { type Inventory, parseInventory } from '../../components/inventory/index.js';
import { describeHostConfig, meshFilePaths, renderHostConfig } from '../../components/render/index.js';
import { computeHostPairs, pairsForHost } from '../../components/topology/index.js';
import { type Lab, type LabSpec, type ProcessRecord, labInventory, startLab, stopLab } from '../../lab/netns/index.js';
import { run } from '../../lab/netns/run-command.js';
import { hostStat, sshRun } from './delivery-ssh.js';
import { expectNothingLeft, labPpkFiles, requireLabPrerequisites } from './lab-test-support.js';
import { type TestCa, makeTestCa } from './test-ca.js';

// Certificate mode with the key made on the host: prepareHostKeyScript over SSH returns only
// a CSR, a CA signs it copying the CSR's names (as @pulumi/tls LocallySignedCert does), the
// push installs CA and host certificate and keeps the key. Then a key rotation, and deletes.

const NAME = 'dlvkey';
const MESH = 'dlvkey';
/** The mesh's PPK master: its pairs' post-quantum preshared keys (on by default) come from it. */
const PPK_MASTER = 'ipsec-mesh lab host-key PPK master secret, 32+ bytes';
const SPEC: LabSpec = {
  name: NAME,
  sites: [{ name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' }],
  hosts: [
    { name: 'a', site: 'east' },
    { name: 'b', site: 'east' },
  ],
};
const HOSTS = ['a', 'b'] as const;

/** Signs a CSR like LocallySignedCert: subject and subjectAltNames copied from the request. */
async function sign(ca: TestCa, csr: string, serial: number): Promise<string> {
  const dir = mkdtempSync(join(ca.dir, 'csr-'));
  try {
    writeFileSync(join(dir, 'req.pem'), csr);
    const r = await run([
      'openssl', 'x509', '-req', '-in', join(dir, 'req.pem'), '-CA', ca.certFile, '-CAkey', ca.keyFile,
      '-copy_extensions', 'copyall', '-days', '2', '-sha384', '-set_serial', String(serial),
    ]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('host keys made on the host (certificate mode)', () => {
  let lab: Lab;
  let started: ProcessRecord[] = [];
  let inv: Inventory;
  let ca: TestCa;
  const keyScript = (h: string, generation: number): string => {
    const host = inv.hosts.find((x) => x.name === h)!;
    const names = hostCertificateNames(host);
    return prepareHostKeyScript({ host: h, mesh: MESH, generation, ...names });
  };
  async function bundleFor(h: string, generation: number, serial: number): Promise<{ bundle: DeliveryBundle; keyOut: string }> {
    const host = inv.hosts.find((x) => x.name === h)!;
    const r = await sshRun(lab, h, keyScript(h, generation));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+\n-----END CERTIFICATE REQUEST-----\n$/);
    const cert = await sign(ca, r.stdout, serial);
    const pairs = pairsForHost(computeHostPairs(inv), h);
    const paths = meshFilePaths(inv.mesh, host);
    const desc = describeHostConfig({ inventory: inv, host, pairs });
    return {
      keyOut: r.stdout + r.stderr,
      bundle: {
        host: h,
        mesh: MESH,
        files: [
          ...renderHostConfig({ inventory: inv, host, pairs, monitor: false }), // the monitor: tests/lab/operations-*
          ...labPpkFiles(inv, host, pairs, PPK_MASTER),
          { path: paths.caCert('ca1'), content: ca.certPem, mode: 0o644, secret: false },
          { path: paths.hostCert, content: cert, mode: 0o644, secret: false },
        ],
        keep: [hostKeyPath(MESH, h, generation)],
        connections: [...desc.connections, desc.bypassConnection],
      },
    };
  }

  beforeAll(async () => {
    requireLabPrerequisites();
    await stopLab(NAME);
    lab = await startLab(SPEC);
    started = [...lab.processes];
    inv = parseInventory(labInventory(lab, { mesh: { name: MESH, domain: 'lab.example', auth: 'certificate' } }), 'lab');
    ca = await makeTestCa(join(lab.stateRoot, 'test-ca'), `${MESH} mesh CA ca1`);
  });

  afterAll(async () => {
    if (!lab) return;
    started = [...started, ...lab.processes];
    await stopLab(NAME);
    expectNothingLeft(NAME, started);
  });

  it('makes each key on its host (0600, never printed), the pushed certificates authenticate every pair', async () => {
    for (const h of HOSTS) {
      const { bundle, keyOut } = await bundleFor(h, 1, 100);
      const key = lab.readHostFile(h, hostKeyPath(MESH, h, 1));
      expect(hostStat(lab, h, hostKeyPath(MESH, h, 1))).toMatchObject({ mode: 0o600, uid: 0 });
      expect(keyOut).not.toContain('PRIVATE KEY');
      expect(keyOut).not.toContain(key.split('\n')[1]!);
      const r = await sshRun(lab, h, pushScript({ host: h, mesh: MESH, phase: 'create' }), encodePayload(bundle));
      expect(r.code, r.stderr).toBe(0);
    }
    const conn = describeHostConfig({ inventory: inv, host: inv.hosts[0]!, pairs: pairsForHost(computeHostPairs(inv), 'a') }).connections;
    for (const c of conn) {
      const r = await lab.swanctl('a', ['--initiate', '--ike', c]);
      expect(r.stdout, c).toMatch(/IKE_SA \S+ established between/);
      expect(r.stdout).toMatch(/authentication of '[^']+' with ECDSA_WITH_SHA384_DER successful/);
    }
    expect((await lab.listSas('b')).map((s) => s.state)).toEqual(conn.map(() => 'ESTABLISHED'));
  });

  it('rotation: a new generation makes a new key; the push that installs its certificate drops the old key', async () => {
    const { bundle } = await bundleFor('a', 2, 101);
    expect(lab.readHostFile('a', hostKeyPath(MESH, 'a', 1))).not.toBe(lab.readHostFile('a', hostKeyPath(MESH, 'a', 2)));
    // The old generation's delete (a replaced key command) keeps the key while it is in use…
    const early = await sshRun(lab, 'a', removeHostKeyScript({ host: 'a', mesh: MESH, generation: 1 }));
    expect(early.stdout).toContain(`a: ${hostKeyPath(MESH, 'a', 1)} is still used by the current configuration of mesh ${MESH}; kept`);
    const r = await sshRun(lab, 'a', pushScript({ host: 'a', mesh: MESH, phase: 'update' }), encodePayload(bundle));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('1 removed');
    expect(() => lab.readHostFile('a', hostKeyPath(MESH, 'a', 1))).toThrow();
    const late = await sshRun(lab, 'a', removeHostKeyScript({ host: 'a', mesh: MESH, generation: 1 }));
    expect(late.stdout).toContain('is already gone');
    // The new certificate and key authenticate: re-key the IKE_SA from scratch.
    const c = bundle.connections[0]!;
    expect((await lab.swanctl('a', ['--terminate', '--ike', c, '--force'])).code).toBe(0);
    const again = await lab.swanctl('a', ['--initiate', '--ike', c]);
    expect(again.stdout).toMatch(/IKE_SA \S+ established between/);
    // The replaced certificate was flushed from charon's memory: only generation 2's is loaded.
    const own = (await lab.swanctl('a', ['--list-certs'])).stdout.split('\n\n').filter((b) => b.includes('subject:  "CN=a.east.lab.example"'));
    expect(own).toHaveLength(1);
    expect(own[0]).toContain('serial:    65');
  });

  it('deletes: the push delete removes certificates and the kept key; the key delete is then a no-op', async () => {
    for (const h of HOSTS) {
      const r = await sshRun(lab, h, removeScript({ host: h, mesh: MESH }));
      expect(r.code, r.stderr).toBe(0);
      const gen = h === 'a' ? 2 : 1;
      expect(() => lab.readHostFile(h, hostKeyPath(MESH, h, gen))).toThrow();
      expect((await sshRun(lab, h, removeHostKeyScript({ host: h, mesh: MESH, generation: gen }))).stdout).toContain('is already gone');
      expect((await lab.listConns(h)).map((x) => x.name)).toEqual([]);
      // The certificates were cleared from charon's memory too, not only their files removed.
      const certs = await lab.swanctl(h, ['--list-certs']);
      expect(certs.code).toBe(0);
      expect(certs.stdout).not.toContain('subject:');
    }
  });
});
