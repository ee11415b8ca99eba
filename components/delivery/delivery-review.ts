// What a reviewer sees of one host's delivery in `pulumi preview --diff`: every file the push
// writes, by path, as plain text. The push's own stdin is base64 (certificate mode) or a
// secret (PSK mode), so Pulumi can only show `[secret]` or a changed blob there; these texts
// are what it line-diffs instead. No secret ever reaches them: a secret file must come in
// already redacted (its keys replaced by fingerprints, see `pskReviewFiles`), and PEM
// certificates are summarised (subject, serial, validity, SHA-256) instead of base64.
import { X509Certificate, createHash } from 'node:crypto';
import type { RenderedFile } from '../render/rendered-file.js';
import { DeliveryError } from './delivery-error.js';
import { checkDeliveryPath } from './delivery-path.js';

/**
 * The first line of every review text. Pulumi's diff display tries JSON and YAML on a
 * multi-line string before falling back to a line diff; `@` starts neither (a reserved YAML
 * indicator), so swanctl and sysctl text is always shown line by line.
 */
export const REVIEW_HEADER = '@ ipsec-mesh file';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END \1-----\r?\n?/g;

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A PEM block as a few readable lines: a certificate's names and dates, anything else its hash. */
function pemSummary(kind: string, block: string): string {
  let c: X509Certificate | undefined;
  try {
    c = kind === 'CERTIFICATE' ? new X509Certificate(block) : undefined;
  } catch {
    c = undefined; // not parseable: its hash says as much as base64 would
  }
  if (c !== undefined) {
    return [
      'certificate (PEM, public):',
      `  subject: ${c.subject.replace(/\n/g, ', ')}`,
      `  issuer: ${c.issuer.replace(/\n/g, ', ')}`,
      `  serial: ${c.serialNumber}`,
      `  valid: ${new Date(c.validFrom).toISOString()} to ${new Date(c.validTo).toISOString()}`,
      `  sha256: ${sha256Hex(block.trim() + '\n').slice(0, 32)}`,
      '',
    ].join('\n');
  }
  return `${kind.toLowerCase()} (PEM, public): sha256 ${sha256Hex(block.trim() + '\n').slice(0, 32)}, ${block.length} bytes\n`;
}

/** The review text of one file (header line, then the content with PEM blocks summarised). */
export function reviewText(host: string, file: RenderedFile): string {
  checkDeliveryPath(host, file.path);
  if (file.secret) {
    // A guard, not a redaction: the caller must hand in the redacted rendering.
    throw new DeliveryError(host, `${file.path} is secret: only its redacted rendering may be shown for review`, file.path);
  }
  const body = file.content.replace(PEM_BLOCK, (block: string, kind: string) => pemSummary(kind, block));
  return `${REVIEW_HEADER} ${file.path}, mode ${file.mode.toString(8).padStart(4, '0')}\n${body}`;
}

/** Path → review text of every file of one host's delivery. */
export function reviewEntries(host: string, files: readonly RenderedFile[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (out[f.path] !== undefined) throw new DeliveryError(host, `path ${f.path} is listed twice`, f.path);
    out[f.path] = reviewText(host, f);
  }
  return out;
}
