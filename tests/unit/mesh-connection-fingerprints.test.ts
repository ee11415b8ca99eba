// The credentials folded into each connection's fingerprint (certificate mode): any new
// certificate — renewed (same key) or for a new key — and any other CA set renew the SAs;
// the same certificate and CAs keep them. (The formula is the one every deployed host holds:
// changing it would re-push every host on upgrade.)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certificateFingerprint } from '../../components/mesh/connection-fingerprints.js';

const dir = mkdtempSync(join(tmpdir(), 'fp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function key(name: string): string {
  const file = join(dir, `${name}.key`);
  execFileSync('openssl', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', file]);
  return file;
}
/** A self-signed certificate for `keyFile`, valid `days` (different days → a different certificate). */
function cert(keyFile: string, days: number, cn = 'alpha.example.net'): string {
  const out = join(dir, `${cn}-${days}-${keyFile.split('/').pop()}.pem`);
  execFileSync('openssl', ['req', '-new', '-x509', '-key', keyFile, '-days', String(days), '-subj', `/CN=${cn}`, '-out', out]);
  return readFileSync(out, 'utf8');
}

describe('certificateFingerprint', () => {
  const cas = new Map([['ca1', 'CA ONE PEM']]);
  const k1 = key('k1');
  const k2 = key('k2');

  it('changes with a renewed certificate (same key, new validity) and not without a change', () => {
    const first = cert(k1, 30);
    const renewed = cert(k1, 60);
    expect(certificateFingerprint(first, cas)).toBe(certificateFingerprint(first, new Map(cas)));
    expect(certificateFingerprint(renewed, cas)).not.toBe(certificateFingerprint(first, cas));
  });

  it('is the formula deployed hosts hold (sha256 over "host", the PEM, then each CA by label)', () => {
    const pem = cert(k1, 30);
    expect(certificateFingerprint(pem, cas)).toBe(createHash('sha256').update(`host\n${pem}\n`).update('ca ca1\nCA ONE PEM\n').digest('hex'));
  });

  it('changes with a new key (generation bump) and with the trusted CA set', () => {
    const a = cert(k1, 30);
    expect(certificateFingerprint(cert(k2, 30), cas)).not.toBe(certificateFingerprint(a, cas));
    expect(certificateFingerprint(a, new Map([...cas, ['ca2', 'CA TWO PEM']]))).not.toBe(certificateFingerprint(a, cas));
    expect(certificateFingerprint(a, new Map([['ca1', 'ANOTHER PEM']]))).not.toBe(certificateFingerprint(a, cas));
  });
});
