// Pinned SSH host keys: an OpenSSH public key line, checked structurally (the base64 blob
// must decode and name the same key type), so a truncated paste fails here, not at deploy.

/** Key type → number of length-prefixed fields in its blob (RFC 4253 §6.6, RFC 5656, RFC 8709, OpenSSH PROTOCOL.u2f). */
const KEY_FIELDS: ReadonlyMap<string, number> = new Map([
  ['ssh-ed25519', 2], // type, key
  ['ssh-rsa', 3], // type, e, n
  ['ecdsa-sha2-nistp256', 3], // type, curve, point
  ['ecdsa-sha2-nistp384', 3],
  ['ecdsa-sha2-nistp521', 3],
  ['sk-ssh-ed25519@openssh.com', 3], // type, key, application
  ['sk-ecdsa-sha2-nistp256@openssh.com', 4], // type, curve, point, application
]);

/** Returns the canonical `type base64` form (comment dropped), or a message saying what is wrong. */
export function parseSshHostKey(line: string): { ok: true; value: string } | { ok: false; message: string } {
  const words = line.trim().split(/\s+/);
  const [type, blob] = words;
  if (type === undefined || blob === undefined || type === '') {
    return { ok: false, message: 'is not an OpenSSH public key line (expected "<type> <base64> [comment]", e.g. "ssh-ed25519 AAAA…")' };
  }
  const expectedFields = KEY_FIELDS.get(type);
  if (expectedFields === undefined) {
    return { ok: false, message: `has unknown key type ${JSON.stringify(type)} (expected one of ${[...KEY_FIELDS.keys()].join(', ')})` };
  }
  const bytes = Buffer.from(blob, 'base64');
  // Buffer silently skips invalid characters; re-encoding exposes them.
  if (bytes.length < 4 || bytes.toString('base64') !== blob) {
    return { ok: false, message: 'has a key blob that is not valid base64' };
  }
  const fields = sshStrings(bytes);
  const ed25519Short = type.includes('ed25519') && fields?.[1]?.length !== 32;
  if (fields === undefined || fields.length !== expectedFields || fields[0]!.toString('latin1') !== type || ed25519Short) {
    return { ok: false, message: `has a key blob that does not encode a ${type} key (truncated or mismatched paste?)` };
  }
  return { ok: true, value: `${type} ${blob}` };
}

/** Splits an SSH wire blob into its length-prefixed strings; undefined unless it ends exactly. */
function sshStrings(blob: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  let at = 0;
  while (at < blob.length) {
    if (at + 4 > blob.length) return undefined;
    const n = blob.readUInt32BE(at);
    if (at + 4 + n > blob.length) return undefined;
    out.push(blob.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}
