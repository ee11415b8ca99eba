// The review texts `pulumi preview --diff` line-diffs: plain files as they are, PEM
// certificates as readable facts, secrets refused, and never a form Pulumi's display would
// decode as JSON or YAML (which would turn the line diff into one long string diff).
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../components/delivery/delivery-error.js';
import { REVIEW_HEADER, reviewEntries, reviewText } from '../../components/delivery/delivery-review.js';
import { reviewedPsk } from '../../components/mesh/host-delivery-plan.js';

const CERT = readFileSync(new URL('./fixtures/review-certificate.pem', import.meta.url), 'utf8');
const SWANCTL = 'connections {\n\tlab_h2_v4 {\n\t\trekey_time = 3600s\n\t}\n}\n';

describe('reviewText', () => {
  it('shows a plain file after a header naming its path and mode', () => {
    const text = reviewText('h1', { path: '/etc/swanctl/conf.d/ipsec-mesh_lab.conf', content: SWANCTL, mode: 0o644, secret: false });
    expect(text).toBe(`${REVIEW_HEADER} /etc/swanctl/conf.d/ipsec-mesh_lab.conf, mode 0644\n${SWANCTL}`);
  });

  it('summarises a certificate: subject, serial, validity, hash — no base64', () => {
    const text = reviewText('h1', { path: '/etc/swanctl/x509/ipsec-mesh_lab_h1.pem', content: CERT, mode: 0o644, secret: false });
    expect(text).not.toContain('BEGIN CERTIFICATE');
    expect(text).toContain('  subject: O=ipsec-mesh review test, CN=h1.example.net\n');
    expect(text).toContain('  serial: 4BCBB5A724793399B5DA9BBC52820697C052ACB5\n');
    expect(text).toMatch(/ {2}valid: 2026-\S+ to 2036-12-03T07:53:10\.000Z\n/);
    expect(text).toMatch(/ {2}sha256: [0-9a-f]{32}\n/);
  });

  it('refuses a secret file (only a redacted rendering may be shown), naming the host and path', () => {
    const f = { path: '/etc/swanctl/conf.d/ipsec-mesh_lab_secrets.conf', content: 'secrets {}', mode: 0o600, secret: true };
    expect(() => reviewText('h1', f)).toThrow(DeliveryError);
    expect(() => reviewText('h1', f)).toThrow('h1: /etc/swanctl/conf.d/ipsec-mesh_lab_secrets.conf is secret');
  });

  it('is never JSON or YAML, so Pulumi shows it line by line', () => {
    for (const content of [SWANCTL, 'net.ipv4.xfrm4_gc_thresh = 32768\n', 'a: 1\nb: 2\n', '{"a": 1}\n', CERT]) {
      const text = reviewText('h1', { path: '/etc/sysctl.d/90-ipsec-mesh.conf', content, mode: 0o644, secret: false });
      expect(() => JSON.parse(text)).toThrow();
      expect(() => load(text)).toThrow();
    }
  });

  it('keys entries by path, once each', () => {
    const a = { path: '/etc/sysctl.d/ipsec-mesh_b.conf', content: 'a\n', mode: 0o644, secret: false };
    const b = { ...a, path: '/etc/sysctl.d/ipsec-mesh_a.conf' };
    expect(Object.keys(reviewEntries('h1', [a, b]))).toEqual([b.path, a.path]);
    expect(() => reviewEntries('h1', [a, a])).toThrow('listed twice');
  });
});

describe('reviewedPsk', () => {
  it('is a labelled fingerprint that changes with the key and contains none of it', () => {
    const k1 = `0x${'ab'.repeat(32)}`;
    const k2 = `0x${'cd'.repeat(32)}`;
    expect(reviewedPsk(k1)).toMatch(/^<key fingerprint hmac-sha256:[0-9a-f]{16}>$/);
    expect(reviewedPsk(k1)).toBe(reviewedPsk(k1));
    expect(reviewedPsk(k1)).not.toBe(reviewedPsk(k2));
    expect(reviewedPsk(k1)).not.toContain('abab');
  });
});
