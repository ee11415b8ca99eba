// Certificate expiry as `ipsec-mesh status --certificates` reports it: PEMs read with
// node:crypto (real certificates made with openssl here), soonest first, marked near expiry.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatCertificateExpiry, parseCertificateExpiry } from '../../components/operations/certificate-expiry.js';

const dir = mkdtempSync(join(tmpdir(), 'expiry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cert(cn: string, days: number, ca: boolean): string {
  const key = join(dir, `${cn}.key`);
  const out = join(dir, `${cn}.pem`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  execFileSync('openssl', ['req', '-new', '-x509', '-key', key, '-days', String(days), '-subj', `/O=ipsec-mesh/CN=${cn}`, '-addext', `basicConstraints=critical,CA:${ca ? 'TRUE' : 'FALSE'}`, '-out', out]);
  return readFileSync(out, 'utf8');
}

describe('certificate expiry', () => {
  const host = cert('alpha', 10, false);
  const ca = cert('mesh CA ca1', 3650, true);
  const now = new Date();

  it('reads every PEM swanctl prints: subject, CA or not, notAfter, seconds left', () => {
    const peer = cert('bravo', 20, false);
    const list = parseCertificateExpiry(`some header\n${host}\n${ca}\n${peer}`, now, 'O=ipsec-mesh, CN=alpha');
    expect(list.map((c) => [c.subject, c.ca, c.role])).toEqual([
      ['O=ipsec-mesh, CN=alpha', false, 'host'],
      ['O=ipsec-mesh, CN=mesh CA ca1', true, 'ca'],
      ['O=ipsec-mesh, CN=bravo', false, 'peer'],
    ]);
    expect(list[0]!.secondsLeft).toBeGreaterThan(9.9 * 86_400);
    expect(list[0]!.secondsLeft).toBeLessThanOrEqual(10 * 86_400);
    expect(Date.parse(list[1]!.notAfter)).toBeGreaterThan(now.getTime() + 3_000 * 86_400 * 1000);
    expect(parseCertificateExpiry('no certificate here', now)).toEqual([]);
  });

  it('lists soonest first, marks those inside the warning window and hosts it could not read', () => {
    const text = formatCertificateExpiry([
      { host: 'b', certificates: parseCertificateExpiry(ca, now) },
      { host: 'a', certificates: parseCertificateExpiry(`${host}${cert('charlie', 5, false)}`, now, 'O=ipsec-mesh, CN=alpha') },
      { host: 'c', error: 'connection refused' },
    ]);
    const lines = text.split('\n');
    expect(lines[0]).toBe('certificates (soonest expiry first):');
    expect(lines[1]).toBe('  c: cannot list certificates: connection refused');
    expect(lines[2]).toMatch(/^ {2}WARN {4}a {12}host \S+ +\d+\.\d days {2}O=ipsec-mesh, CN=alpha$/);
    expect(lines[3]).toMatch(/^ {2}ok {6}b {12}CA {2}/);
    expect(lines).toHaveLength(4); // charlie's certificate, cached on a, is charlie's to report
  });
});
