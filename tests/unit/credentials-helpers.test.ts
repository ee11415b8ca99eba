import { describe, expect, it } from 'vitest';
import { planCaRollover } from '../../components/credentials/ca-rollover.js';
import {
  CA_ALLOWED_USES,
  ECDSA_CURVE,
  HOST_ALLOWED_USES,
  validateGeneration,
  validateValidityHours,
} from '../../components/credentials/certificate-profile.js';
import { certificateSerialAndKey, hostSerialList, parseCrlOutput } from '../../components/credentials/certificate-revocation.js';
import { CredentialsError } from '../../components/credentials/credentials-error.js';
import { hostCertificateNames } from '../../components/credentials/host-certificate-names.js';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { PSK_MASTER_LENGTH, pskForPairs, pskMasterKeepers } from '../../components/credentials/psk-master.js';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import { computeHostPairs } from '../../components/topology/compute-host-pairs.js';
import { meshInventory } from './mesh-fixtures.js';

describe('planCaRollover', () => {
  it('defaults to one CA labelled ca1', () => {
    expect(planCaRollover(undefined)).toEqual({ issuer: 'ca1', trusted: ['ca1'] });
  });

  it('step 1: the incoming CA is trusted but does not issue', () => {
    expect(planCaRollover({ current: 'a', next: 'b' })).toEqual({ issuer: 'a', trusted: ['a', 'b'] });
  });

  it('step 2: the new CA issues, the retiring one is still trusted', () => {
    expect(planCaRollover({ current: 'b', previous: 'a' })).toEqual({ issuer: 'b', trusted: ['b', 'a'] });
  });

  it('step 3: only the new CA remains', () => {
    expect(planCaRollover({ current: 'b' })).toEqual({ issuer: 'b', trusted: ['b'] });
  });

  it('refuses previous and next together, a CA in two roles, and unsafe labels', () => {
    expect(() => planCaRollover({ current: 'b', previous: 'a', next: 'c' })).toThrow(/either `previous`.*or `next`/);
    expect(() => planCaRollover({ current: 'a', previous: 'a' })).toThrow(CredentialsError);
    for (const bad of ['', 'A', 'a b', 'a/b', '-a', 'a'.repeat(33), "a'"]) {
      expect(() => planCaRollover({ current: bad }), bad).toThrow(/ca\.current: .* is not a valid CA label/);
    }
    expect(() => planCaRollover({ current: 'a', next: 'B' })).toThrow(/ca\.next/);
  });
});

describe('certificate profile', () => {
  it('uses P-384 and the snake_case usages the TLS provider accepts', () => {
    expect(ECDSA_CURVE).toBe('P384');
    expect(CA_ALLOWED_USES).toEqual(['cert_signing', 'crl_signing']);
    expect(HOST_ALLOWED_USES).toContain('digital_signature');
    expect(HOST_ALLOWED_USES).toContain('ipsec_end_system');
    for (const use of [...CA_ALLOWED_USES, ...HOST_ALLOWED_USES]) expect(use).toMatch(/^[a-z_]+$/);
  });

  it('validates generations and validity periods', () => {
    expect(validateGeneration('g', undefined)).toBe(0);
    expect(validateGeneration('g', 7)).toBe(7);
    for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => validateGeneration('certificateGeneration', bad)).toThrow(/certificateGeneration: must be a whole number/);
    }
    expect(validateValidityHours('v', undefined, 24)).toBe(24);
    expect(validateValidityHours('v', 48, 24)).toBe(48);
    expect(() => validateValidityHours('caValidityHours', 0, 24)).toThrow(/caValidityHours/);
    expect(() => validateValidityHours('caValidityHours', 2.5, 24)).toThrow(CredentialsError);
  });
});

describe('hostCertificateNames', () => {
  it('carries the identity, the FQDN and every address as SANs', () => {
    const inv = parseInventory(meshInventory({ dualStack: true }));
    const host = inv.hosts[0]!;
    expect(hostCertificateNames(host)).toEqual({
      commonName: 'ams1.ams.example.net',
      dnsNames: ['ams1.ams.example.net'],
      ipAddresses: ['198.51.100.1', '2001:db8:1::1'],
    });
  });

  it('puts an address identity among the IP SANs and keeps a distinct DNS identity', () => {
    const input = meshInventory();
    const hosts = input.hosts.map((h, i) => (i === 0 ? { ...h, identity: '198.51.100.1' } : i === 1 ? { ...h, identity: 'ike.example.org' } : h));
    const inv = parseInventory({ ...input, hosts });
    expect(hostCertificateNames(inv.hosts[0]!).dnsNames).toEqual(['ams1.ams.example.net']);
    expect(hostCertificateNames(inv.hosts[0]!).ipAddresses).toEqual(['198.51.100.1']);
    expect(hostCertificateNames(inv.hosts[1]!).dnsNames).toEqual(['ike.example.org', 'ams2.ams.example.net']);
  });

  it('makes a DN identity the subject (strongSwan matches a DN identity against it)', () => {
    const input = meshInventory();
    const hosts = input.hosts.map((h, i) => (i === 0 ? { ...h, identity: 'C=CH,O=Example,  CN=ams1' } : h));
    const names = hostCertificateNames(parseInventory({ ...input, hosts }).hosts[0]!);
    expect(names.subjectDn).toBe('C=CH, O=Example, CN=ams1');
    expect(names.dnsNames).toEqual(['ams1.ams.example.net']);
    expect(hostCertificateNames(parseInventory(input).hosts[1]!).subjectDn).toBeUndefined();
  });
});

describe('PSK master', () => {
  it('is long enough for 256-bit pair keys and rotates by generation', () => {
    expect(PSK_MASTER_LENGTH).toBeGreaterThanOrEqual(64);
    expect(pskMasterKeepers(0)).toEqual({ generation: '0' });
    expect(pskMasterKeepers(3)).not.toEqual(pskMasterKeepers(4));
  });

  it('derives each pair key with derivePairPsk, identical from both ends', () => {
    const inv = parseInventory(meshInventory({ auth: 'psk' }));
    const set = computeHostPairs(inv);
    const master = 'm'.repeat(64);
    const pskFor = pskForPairs(master, 'lab');
    const keys = new Set<string>();
    for (const pair of set.pairs) {
      const k = pskFor(pair);
      expect(k).toBe(derivePairPsk(master, 'lab', pair.b, pair.a));
      expect(k).toMatch(/^0x[0-9a-f]{64}$/);
      keys.add(k);
    }
    expect(keys.size).toBe(set.pairs.length);
  });
});

describe('certificate revocation helpers', () => {
  it('reads the CRL command output: what it has seen, what it revoked, the CRL', () => {
    const out = 'SEEN a=0A b=0B c=0C\nREVOKED c=0C\n-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n';
    expect(parseCrlOutput(out)).toEqual({ seen: ['a=0A', 'b=0B', 'c=0C'], revoked: ['c=0C'], crlPem: '-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n' });
    expect(parseCrlOutput('SEEN \nREVOKED \n')).toEqual({ seen: [], revoked: [], crlPem: '' });
  });

  it('lists host=SERIAL:KEYID in upper-case hex; a placeholder that is no certificate gets a stable stand-in', () => {
    expect(hostSerialList([['a', '0a1b'], ['b', 'FF']])).toBe('a=0A1B b=FF');
    const fake = '-----BEGIN CERTIFICATE-----\nHOST:x\n-----END CERTIFICATE-----\n';
    expect(certificateSerialAndKey(fake)).toMatch(/^[0-9A-F]{32}:[0-9A-F]{32}$/);
    expect(certificateSerialAndKey(fake)).toBe(certificateSerialAndKey(fake));
  });
});
