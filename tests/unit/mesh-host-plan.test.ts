import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { decodePayload } from '../../components/delivery/delivery-payload.js';
import { hostKeyPath } from '../../components/delivery/delivery-path.js';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import { certificatePayload, planHostDelivery, pskPayload } from '../../components/mesh/host-delivery-plan.js';
import { certificateFacts } from '../../components/mesh/host-summary.js';
import { computeHostPairs } from '../../components/topology/compute-host-pairs.js';
import { pairsForHost } from '../../components/topology/host-pair-set.js';
import { meshInventory } from './mesh-fixtures.js';

describe('planHostDelivery', () => {
  const inventory = parseInventory(meshInventory({ dualStack: true }));
  const set = computeHostPairs(inventory);
  const pairs = [...pairsForHost(set, 'fra1')];

  it('renders the host config and places the certificates, keeping the host key of the generation', () => {
    const plan = planHostDelivery({ inventory, hostName: 'fra1', pairs, enabled: true, certificate: { trustedCaLabels: ['b', 'a'], generation: 4 } });
    expect(plan.files.map((f) => f.path)).toContain('/etc/swanctl/conf.d/ipsec-mesh_lab.conf');
    expect(plan.files.every((f) => !f.secret)).toBe(true);
    expect([...plan.caCertPaths]).toEqual([
      ['b', '/etc/swanctl/x509ca/ipsec-mesh_lab_ca_b.pem'],
      ['a', '/etc/swanctl/x509ca/ipsec-mesh_lab_ca_a.pem'],
    ]);
    expect(plan.hostCertPath).toBe('/etc/swanctl/x509/ipsec-mesh_lab_fra1.pem');
    expect(plan.keep).toEqual([hostKeyPath('lab', 'fra1', 4)]);
    expect(plan.description.connections).toHaveLength(6);

    const payload = decodePayload(certificatePayload(plan, new Map([['a', 'PEM-A'], ['b', 'PEM-B']]), 'PEM-HOST'));
    expect(payload.files.find((f) => f.path.endsWith('_ca_a.pem'))!.content).toBe('PEM-A');
    expect(payload.files.find((f) => f.path.endsWith('_fra1.pem'))!.content).toBe('PEM-HOST');
    expect(payload.keep).toEqual(plan.keep);
    expect(payload.connections).toEqual([...plan.description.connections].sort());
    expect(() => certificatePayload(plan, new Map([['a', 'PEM-A']]), 'PEM-HOST')).toThrow(/no certificate for CA "b"/);
  });

  it('switched off: no connections, the same files otherwise', () => {
    const off = planHostDelivery({ inventory, hostName: 'fra1', pairs, enabled: false });
    expect(off.description.connections).toEqual([]);
    expect(off.description.bypass.length).toBeGreaterThan(0);
    expect(off.keep).toEqual([]);
  });

  it('names an unknown host', () => {
    expect(() => planHostDelivery({ inventory, hostName: 'nyc1', pairs: [], enabled: true })).toThrow(/no host "nyc1"/);
  });

  it('PSK: the payload carries the derived pair keys in a 0600 file', () => {
    const psk = parseInventory(meshInventory({ auth: 'psk' }));
    const pskPairs = [...pairsForHost(computeHostPairs(psk), 'ams2')];
    const plan = planHostDelivery({ inventory: psk, hostName: 'ams2', pairs: pskPairs, enabled: true });
    const master = 'x'.repeat(40);
    const payload = decodePayload(pskPayload(plan, psk, pskPairs, master));
    const secrets = payload.files.find((f) => f.mode === 0o600)!;
    expect(secrets.path).toBe('/etc/swanctl/conf.d/ipsec-mesh_lab_secrets.conf');
    for (const p of pskPairs) expect(secrets.content).toContain(derivePairPsk(master, 'lab', p.a, p.b));
  });
});

describe('certificateFacts', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ipsec-mesh-cert-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the SHA-256 fingerprint and expiry of a real certificate as openssl reports them', () => {
    const key = join(dir, 'k.pem');
    const crt = join(dir, 'c.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=ams1.ams.example.net'], { stdio: 'ignore' });
    const pem = readFileSync(crt, 'utf8');
    const facts = certificateFacts(pem);
    const fp = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
    expect(fp.trim()).toBe(`sha256 Fingerprint=${facts.fingerprint}`);
    const end = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-enddate'], { encoding: 'utf8' }).trim().replace('notAfter=', '');
    expect(new Date(facts.notAfter).getTime()).toBe(new Date(end).getTime());
    expect(() => certificateFacts('not a certificate')).toThrow();
  });
});
