import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DeliveryError,
  encodePayload,
  hostCsrPath,
  hostKeyPath,
  prepareHostKeyScript,
  pushScript,
  removeHostKeyScript,
} from '../../components/delivery/index.js';
import { Sandbox } from './delivery-sandbox.js';

// The host key stays on the host: made there (strongswan-pki, or openssl as a fallback),
// only a CSR comes back. Real pki/openssl run here; the key lands in the sandbox root.

const NAMES = { commonName: 'cp1.ams.example.net', dnsNames: ['cp1.ams.example.net'], ipAddresses: ['198.51.100.10', '2001:db8:e::10'] };
const OPTS = { host: 'cp1', mesh: 'prod', generation: 2, ...NAMES };
const KEY = hostKeyPath('prod', 'cp1', 2);

let sb: Sandbox;
beforeEach(() => (sb = new Sandbox()));
afterEach(() => sb.cleanup());

function openssl(args: string[], input: string): string {
  const r = spawnSync('openssl', args, { input, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function checkCsr(csr: string, keyPem: string): void {
  expect(csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+-----END CERTIFICATE REQUEST-----\n$/);
  const text = openssl(['req', '-noout', '-text', '-verify'], csr);
  expect(text).toContain('CN = cp1.ams.example.net');
  expect(text).toMatch(/DNS:cp1\.ams\.example\.net/);
  expect(text).toContain('IP Address:198.51.100.10');
  expect(text).toMatch(/IP Address:2001:DB8:E:0:0:0:0:10/i);
  expect(text).toMatch(/secp384r1|P-384/);
  // The CSR is for the key on the host.
  expect(openssl(['req', '-noout', '-pubkey'], csr)).toBe(openssl(['pkey', '-pubout'], keyPem));
}

describe('prepareHostKeyScript', () => {
  it('makes an ECDSA P-384 key (0600, root) once per generation and prints only a CSR for the host names', () => {
    const cmd = prepareHostKeyScript(OPTS);
    const first = sb.run(cmd);
    expect(first.code, first.stderr).toBe(0);
    expect(sb.mode(KEY)).toBe(0o600);
    const key = sb.read(KEY);
    expect(openssl(['pkey', '-noout', '-text'], key)).toMatch(/384 bit|P-384/);
    checkCsr(first.stdout, key);
    expect(first.stdout).not.toContain('PRIVATE KEY');
    expect(first.stderr).toContain(`cp1: made a new ECDSA P-384 key ${KEY}`);

    const again = sb.run(cmd);
    expect(again.code).toBe(0);
    expect(sb.read(KEY)).toBe(key);
    expect(again.stderr).not.toContain('made a new');
    checkCsr(again.stdout, key);
    expect(sb.files()).toEqual([hostCsrPath('prod', 'cp1'), KEY, '/run/ipsec-mesh.lock']);
  });

  it('prints the same CSR again while key and names are unchanged (nothing gets re-signed); new names or a new key make a new one', () => {
    const csrFile = hostCsrPath('prod', 'cp1');
    const first = sb.run(prepareHostKeyScript(OPTS));
    expect(first.code, first.stderr).toBe(0);
    expect(sb.mode(csrFile)).toBe(0o600);
    // Any change to the command (here another generation's command string would differ; a
    // changed SSH key re-runs the same one) prints the stored request, byte for byte.
    const again = sb.run(prepareHostKeyScript(OPTS));
    expect(again.stdout).toBe(first.stdout);
    const key = sb.read(KEY);
    // New names: a new CSR for the same key.
    const renamed = sb.run(prepareHostKeyScript({ ...OPTS, dnsNames: [...NAMES.dnsNames, 'cp1.example.org'] }));
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(renamed.stdout).not.toBe(first.stdout);
    expect(sb.read(KEY)).toBe(key);
    expect(openssl(['req', '-noout', '-text'], renamed.stdout)).toContain('DNS:cp1.example.org');
    expect(openssl(['req', '-noout', '-pubkey'], renamed.stdout)).toBe(openssl(['pkey', '-pubout'], key));
    expect(sb.run(prepareHostKeyScript(OPTS)).stdout).not.toBe(renamed.stdout); // back to the old names: made anew, not the first one cached
    // The key made anew (lost, or removed by hand): a new CSR for the new key.
    const settled = sb.run(prepareHostKeyScript(OPTS)).stdout;
    spawnSync('rm', ['-f', sb.path(KEY)]);
    const remade = sb.run(prepareHostKeyScript(OPTS));
    expect(remade.stdout).not.toBe(settled);
    checkCsr(remade.stdout, sb.read(KEY));
    // The key's delete takes the stored CSR with it.
    expect(sb.run(removeHostKeyScript({ host: 'cp1', mesh: 'prod', generation: 2 })).code).toBe(0);
    expect(sb.exists(csrFile)).toBe(false);
  });

  it('falls back to openssl when strongswan-pki is not installed', () => {
    // A PATH with the tools the script uses (base64 and gzip unpack it), but no pki
    // (strongSwan's tools live in /usr/bin and /usr/sbin; the script only appends the sbin directories).
    const bin = join(sb.dir, 'nopki');
    mkdirSync(bin);
    for (const t of ['sh', 'base64', 'gzip', 'cat', 'mktemp', 'mkdir', 'rmdir', 'rm', 'flock', 'chmod', 'chown', 'id', 'sync', 'mv', 'grep', 'openssl', 'tr', 'sed']) {
      const which = spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim();
      expect(which, t).not.toBe('');
      symlinkSync(which, join(bin, t));
    }
    const r = sb.run(prepareHostKeyScript(OPTS), '', { path: bin });
    expect(r.code, r.stderr).toBe(0);
    const key = sb.read(KEY);
    expect(key).toContain('-----BEGIN EC PRIVATE KEY-----');
    checkCsr(r.stdout, key);
  });

  it('a DN identity becomes the subject, with pki and with the openssl fallback (SANs unchanged)', () => {
    const dn = { ...OPTS, subjectDn: 'C=CH, O=Example Mesh, CN=cp1' };
    const viaPki = sb.run(prepareHostKeyScript(dn));
    expect(viaPki.code, viaPki.stderr).toBe(0);
    const text = openssl(['req', '-noout', '-text', '-verify'], viaPki.stdout);
    expect(text).toMatch(/Subject: C\s?=\s?CH, O\s?=\s?Example Mesh, CN\s?=\s?cp1/);
    expect(text).toMatch(/DNS:cp1\.ams\.example\.net/);
    const bin = join(sb.dir, 'nopki-dn');
    mkdirSync(bin);
    for (const t of ['sh', 'base64', 'gzip', 'cat', 'mktemp', 'mkdir', 'rmdir', 'rm', 'flock', 'chmod', 'chown', 'id', 'sync', 'mv', 'grep', 'openssl', 'tr', 'sed']) {
      symlinkSync(spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim(), join(bin, t));
    }
    const other = new Sandbox();
    try {
      const viaOpenssl = other.run(prepareHostKeyScript(dn), '', { path: bin });
      expect(viaOpenssl.code, viaOpenssl.stderr).toBe(0);
      expect(openssl(['req', '-noout', '-subject', '-nameopt', 'RFC2253'], viaOpenssl.stdout).trim()).toBe('subject=CN=cp1,O=Example Mesh,C=CH');
    } finally {
      other.cleanup();
    }
    // Anything a shell or openssl would read specially is refused before anything runs.
    for (const bad of ['CN=a"; reboot; "', 'CN=$(id)', 'CN=a/b', 'CN=a+OU=b', 'CN=`id`', 'C=CH,O=x']) {
      expect(() => prepareHostKeyScript({ ...OPTS, subjectDn: bad }), bad).toThrow(/is not a DN/);
    }
  });

  it('refuses names that are not DNS names or addresses before anything runs', () => {
    expect(() => prepareHostKeyScript({ ...OPTS, dnsNames: ['a b'] })).toThrow(DeliveryError);
    expect(() => prepareHostKeyScript({ ...OPTS, ipAddresses: ['10'] })).toThrow(/not an IP address/);
    expect(() => prepareHostKeyScript({ ...OPTS, commonName: 'x"; reboot; "' })).toThrow(/neither a DNS name nor an address/);
    expect(() => prepareHostKeyScript({ ...OPTS, dnsNames: [], ipAddresses: [] })).toThrow(/at least one/);
  });

  it('is deterministic and differs per generation', () => {
    expect(prepareHostKeyScript(OPTS)).toBe(prepareHostKeyScript(OPTS));
    expect(prepareHostKeyScript({ ...OPTS, generation: 3 })).not.toBe(prepareHostKeyScript(OPTS));
  });
});

describe('removeHostKeyScript', () => {
  it('keeps the key while the mesh’s current push keeps it, removes it otherwise, and is safe when gone', () => {
    expect(sb.run(prepareHostKeyScript(OPTS)).code).toBe(0);
    const push = pushScript({ host: 'cp1', mesh: 'prod', phase: 'create' });
    const payload = (keep: string[]): string => encodePayload({ host: 'cp1', mesh: 'prod', files: [], keep, connections: [] });
    expect(sb.run(push, payload([KEY])).code).toBe(0);

    const remove = removeHostKeyScript({ host: 'cp1', mesh: 'prod', generation: 2 });
    const kept = sb.run(remove);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain(`cp1: ${KEY} is still used by the current configuration of mesh prod; kept`);
    expect(sb.exists(KEY)).toBe(true);

    // Another generation took over: the push no longer keeps this key (and removed it itself).
    writeFileSync(sb.path(hostKeyPath('prod', 'cp1', 3)), 'k3', { mode: 0o600 });
    expect(sb.run(push, payload([hostKeyPath('prod', 'cp1', 3)])).code).toBe(0);
    expect(sb.exists(KEY)).toBe(false);
    const gone = sb.run(remove);
    expect(gone.code).toBe(0);
    expect(gone.stdout).toContain('is already gone');

    // Without any push state (mesh removed first), the key goes.
    sb.write(KEY, 'k2', 0o600);
    const three = removeHostKeyScript({ host: 'cp1', mesh: 'prod', generation: 3 });
    expect(sb.run(three).stdout).toContain('still used');
    expect(sb.run(remove).stdout).toContain(`cp1: removed ${KEY}`);
    expect(sb.exists(KEY)).toBe(false);
  });
});
