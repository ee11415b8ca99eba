// Pinned SSH host keys: an OpenSSH public key line, checked structurally (the base64 blob
// must decode and name the same key type), so a truncated paste fails here, not at deploy.

const KEY_TYPES: ReadonlySet<string> = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/** Returns the canonical `type base64` form (comment dropped), or a message saying what is wrong. */
export function parseSshHostKey(line: string): { ok: true; value: string } | { ok: false; message: string } {
  const fields = line.trim().split(/\s+/);
  const [type, blob] = fields;
  if (type === undefined || blob === undefined || type === '') {
    return { ok: false, message: 'is not an OpenSSH public key line (expected "<type> <base64> [comment]", e.g. "ssh-ed25519 AAAA…")' };
  }
  if (!KEY_TYPES.has(type)) {
    return { ok: false, message: `has unknown key type ${JSON.stringify(type)} (expected one of ${[...KEY_TYPES].join(', ')})` };
  }
  const bytes = Buffer.from(blob, 'base64');
  // Buffer silently skips invalid characters; re-encoding exposes them.
  if (bytes.length < 4 || bytes.toString('base64') !== blob) {
    return { ok: false, message: 'has a key blob that is not valid base64' };
  }
  const n = bytes.readUInt32BE(0);
  const inner = bytes.length >= 4 + n ? bytes.subarray(4, 4 + n).toString('latin1') : undefined;
  if (inner !== type) {
    return { ok: false, message: `has a key blob that does not encode a ${type} key (truncated or mismatched paste?)` };
  }
  return { ok: true, value: `${type} ${blob}` };
}
