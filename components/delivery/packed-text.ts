// Text packed for state and transport: gzip (level 9, no name, mtime 0) as base64. fflate, not
// node:zlib: its output is the same bytes on every machine and Node.js build, and a byte of
// difference would show every host's push as changed in every preview.
import { gunzipSync, gzipSync } from 'fflate';

export function packText(text: string): string {
  return Buffer.from(gzipSync(Buffer.from(text, 'utf8'), { level: 9, mtime: 0 })).toString('base64');
}

/** The text of packText's output; throws on corrupt input (gzip's CRC and length checks). */
export function unpackText(base64: string): string {
  return Buffer.from(gunzipSync(Buffer.from(base64, 'base64'))).toString('utf8');
}
