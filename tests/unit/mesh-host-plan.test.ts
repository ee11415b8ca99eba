import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { decodePayload } from '../../components/delivery/delivery-payload.js';
import { hostKeyPath } from '../../components/delivery/delivery-path.js';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import { foldFingerprints, pskFingerprint, PSK_FINGERPRINT_LABEL } from '../../components/mesh/connection-fingerprints.js';
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

describe('connection fingerprints in the payload', () => {
  const CAS = new Map([['a', 'PEM-A'], ['b', 'PEM-B']]);
  const certFps = (input: ReturnType<typeof meshInventory>, host = 'fra1', cas = CAS, hostPem = 'PEM-HOST') => {
    const inventory = parseInventory(input);
    const pairs = [...pairsForHost(computeHostPairs(inventory), host)];
    const plan = planHostDelivery({ inventory, hostName: host, pairs, enabled: true, certificate: { trustedCaLabels: ['a', 'b'], generation: 0 } });
    return decodePayload(certificatePayload(plan, cas, hostPem)).fingerprints;
  };
  const pskFps = (master: string, input = meshInventory({ auth: 'psk', dualStack: true })) => {
    const inventory = parseInventory(input);
    const pairs = [...pairsForHost(computeHostPairs(inventory), 'ams2')];
    const plan = planHostDelivery({ inventory, hostName: 'ams2', pairs, enabled: true });
    return { payload: pskPayload(plan, inventory, pairs, master), pairs, fps: decodePayload(pskPayload(plan, inventory, pairs, master)).fingerprints };
  };
  const base = meshInventory({ dualStack: true });
  const allDiffer = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) => {
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const k of Object.keys(a)) expect(b[k], k).not.toBe(a[k]);
  };

  it('certificate mode: one per connection, stable for the same input', () => {
    const fps = certFps(base);
    expect(Object.keys(fps).sort()).toEqual(['lab_ams1_v4', 'lab_ams1_v6', 'lab_ams2_v4', 'lab_ams2_v6', 'lab_fra2_v4', 'lab_fra2_v6']);
    for (const v of Object.values(fps)) expect(v).toMatch(/^[0-9a-f]{64}$/);
    expect(certFps(meshInventory({ dualStack: true }))).toEqual(fps);
  });

  it('certificate mode: every connection changes with a new IKE or ESP proposal, host certificate or CA certificate', () => {
    const fps = certFps(base);
    allDiffer(fps, certFps({ ...base, mesh: { ...base.mesh, proposals: ['aes128gcm16-prfsha256-ecp256'] } }));
    allDiffer(fps, certFps({ ...base, mesh: { ...base.mesh, espProposals: ['aes128gcm16-ecp256'] } }));
    allDiffer(fps, certFps(base, 'fra1', CAS, 'PEM-HOST-2'));
    allDiffer(fps, certFps(base, 'fra1', new Map([['a', 'PEM-A'], ['b', 'PEM-B2']])));
  });

  it('PSK mode: stable for the same master, all new when the master (so every pair key) rotates; never the key itself', () => {
    const master = 'm'.repeat(40);
    const one = pskFps(master);
    expect(pskFps(master).fps).toEqual(one.fps);
    expect(Object.keys(one.fps)).toHaveLength(6);
    allDiffer(one.fps, pskFps('n'.repeat(40)).fps);
    const keys = one.pairs.map((p) => derivePairPsk(master, 'lab', p.a, p.b));
    const fpLines = one.payload.split('\n').filter((l) => l.startsWith('D '));
    expect(fpLines).toHaveLength(6);
    for (const k of keys) {
      const hex = k.slice(2);
      for (const line of fpLines) {
        expect(line).not.toContain(hex);
        expect(line).not.toContain(hex.slice(0, 16)); // no fragment of it either
      }
      expect(Object.values(one.fps)).not.toContain(k);
    }
  });

  it('pskFingerprint is an HMAC of a fixed label keyed with the PSK: different per key, not the key', () => {
    const a = '0x' + 'ab'.repeat(32);
    const b = '0x' + 'ab'.repeat(31) + 'ac';
    expect(pskFingerprint(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(pskFingerprint(a)).toBe(pskFingerprint(a));
    expect(pskFingerprint(a)).not.toBe(pskFingerprint(b));
    expect(pskFingerprint(a)).not.toContain('abab');
    expect(PSK_FINGERPRINT_LABEL).not.toContain(a);
  });

  it('folds credentials per connection: one pair key changing moves only that pair’s connections', () => {
    const config = { lab_x_v4: '1'.repeat(64), lab_x_v6: '2'.repeat(64), lab_y_v4: '3'.repeat(64) };
    const tokens = (x: string) => new Map([['lab_x_v4', x], ['lab_x_v6', x], ['lab_y_v4', 'Y']]);
    const before = foldFingerprints('h', config, (c) => tokens('X').get(c));
    const after = foldFingerprints('h', config, (c) => tokens('X2').get(c));
    expect(Object.keys(before).filter((c) => before[c] !== after[c])).toEqual(['lab_x_v4', 'lab_x_v6']);
    expect(() => foldFingerprints('h', config, () => undefined)).toThrow(/host h: no credentials for connection lab_x_v4/);
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
