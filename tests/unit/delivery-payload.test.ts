import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DeliveryError,
  PACKED_PAYLOAD_HEADER,
  checkDeliveryPath,
  decodePayload,
  encodePayload,
  hostKeyPath,
  packPayload,
  unpackPayload,
  type DeliveryBundle,
} from '../../components/delivery/index.js';
import type { RenderedFile } from '../../components/render/rendered-file.js';

const conf = (path: string, content: string, secret = false): RenderedFile => ({ path, content, mode: secret ? 0o600 : 0o644, secret });

const BUNDLE: DeliveryBundle = {
  host: 'cp1',
  mesh: 'prod',
  files: [
    conf('/etc/swanctl/conf.d/ipsec-mesh_prod.conf', 'connections {\n}\n'),
    conf('/etc/swanctl/conf.d/ipsec-mesh_prod_secrets.conf', 'secrets { ike-x { secret = 0xdeadbeef } }\n', true),
    conf('/etc/sysctl.d/60-ipsec-mesh_prod.conf', 'net.ipv4.xfrm4_gc_thresh = 32768\n'),
  ],
  keep: ['/etc/swanctl/private/ipsec-mesh_prod_cp1_g0.key'],
  connections: ['prod_cp2_v4', 'prod_cp3_v4'],
};

function error(f: () => unknown): DeliveryError {
  try {
    f();
  } catch (e) {
    if (e instanceof DeliveryError) return e;
    throw e;
  }
  throw new Error('expected a DeliveryError');
}

describe('encodePayload', () => {
  it('writes the documented line format, records sorted, END counting F, K and C', () => {
    const text = encodePayload(BUNDLE);
    const lines = text.split('\n');
    expect(lines.slice(0, 3)).toEqual(['ipsec-mesh-payload 1', 'H cp1', 'M prod']);
    expect(lines.filter((l) => /^[FKC] /.test(l))).toEqual([
      `F 0644 /etc/swanctl/conf.d/ipsec-mesh_prod.conf ${Buffer.from('connections {\n}\n').toString('base64').length}`,
      `F 0600 /etc/swanctl/conf.d/ipsec-mesh_prod_secrets.conf ${Buffer.from(BUNDLE.files[1]!.content).toString('base64').length}`,
      `F 0644 /etc/sysctl.d/60-ipsec-mesh_prod.conf ${Buffer.from(BUNDLE.files[2]!.content).toString('base64').length}`,
      'K /etc/swanctl/private/ipsec-mesh_prod_cp1_g0.key',
      'C prod_cp2_v4',
      'C prod_cp3_v4',
    ]);
    expect(text.endsWith('END 6\n')).toBe(true);
    // No content in clear: a secret never appears as text in the payload lines either.
    expect(text).not.toContain('deadbeef');
  });

  it('is deterministic and independent of the order files and names come in', () => {
    const shuffled: DeliveryBundle = {
      ...BUNDLE,
      files: [...BUNDLE.files].reverse(),
      keep: [...(BUNDLE.keep ?? [])].reverse(),
      connections: [...BUNDLE.connections].reverse(),
    };
    expect(encodePayload(shuffled)).toBe(encodePayload(BUNDLE));
  });

  it('wraps base64 at 76 characters', () => {
    const big = encodePayload({ ...BUNDLE, files: [conf('/etc/swanctl/conf.d/ipsec-mesh_prod.conf', 'x'.repeat(1000))] });
    const b64 = big.split('\n').filter((l) => /^[A-Za-z0-9+/=]+$/.test(l));
    expect(b64.length).toBeGreaterThan(10);
    expect(b64.every((l) => l.length <= 76)).toBe(true);
  });

  it('round-trips any content, mode and name set through decodePayload', () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ name, content: fc.string({ unit: 'binary', maxLength: 400 }), secret: fc.boolean() }), {
          selector: (f) => f.name,
          maxLength: 6,
        }),
        fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$/), { maxLength: 5 }),
        (files, connections) => {
          const bundle: DeliveryBundle = {
            host: 'h1',
            mesh: 'm',
            files: files.map((f) => conf(`/etc/swanctl/conf.d/ipsec-mesh_${f.name}`, f.content, f.secret)),
            connections,
          };
          const decoded = decodePayload(encodePayload(bundle));
          expect(decoded.host).toBe('h1');
          expect(decoded.mesh).toBe('m');
          const byPath = new Map(bundle.files.map((f) => [f.path, f]));
          expect(decoded.files.length).toBe(bundle.files.length);
          for (const f of decoded.files) {
            expect(f.content).toBe(byPath.get(f.path)?.content);
            expect(f.mode).toBe(byPath.get(f.path)?.mode);
          }
          expect([...decoded.connections].sort()).toEqual([...connections].sort());
        },
      ),
    );
  });
});

describe('packPayload', () => {
  it('round-trips through unpackPayload and decodePayload, and the host\'s own base64 -d | gzip -dc', () => {
    const text = encodePayload(BUNDLE);
    const packed = packPayload(text);
    expect(packed.split('\n')[0]).toBe(PACKED_PAYLOAD_HEADER);
    expect(packed.split('\n').slice(1, -1).every((l) => l.length <= 76)).toBe(true);
    expect(unpackPayload(packed)).toBe(text);
    expect(unpackPayload(text)).toBe(text); // plain passes through
    expect(decodePayload(packed)).toEqual(decodePayload(text));
    const body = packed.split('\n').slice(1).join('\n');
    const host = execFileSync('/bin/sh', ['-c', 'base64 -d | gzip -dc'], { input: body, encoding: 'utf8' });
    expect(host).toBe(text);
  });

  it('is the same bytes on every machine: fixed gzip header (no name, mtime 0), fflate level 9', () => {
    const packed = packPayload(encodePayload(BUNDLE));
    const gz = Buffer.from(packed.split('\n').slice(1).join(''), 'base64');
    // gzip magic, deflate, no flags, mtime 0, max compression, unknown OS (fflate's constant header).
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
    expect(packPayload(encodePayload(BUNDLE))).toBe(packed);
    // Recorded: a change here (an fflate upgrade) re-runs every host's push once. Bump knowingly.
    expect(createHash('sha256').update(packed).digest('hex')).toMatchInlineSnapshot(`"7bddf3a0ffb158025c6aa20744fd596e2ca41d0bfc5c342a8abdd96114de17cd"`);
  });

  it('refuses a damaged packing with a DeliveryError', () => {
    const packed = packPayload(encodePayload(BUNDLE));
    expect(() => unpackPayload(`${PACKED_PAYLOAD_HEADER}\nnot*base64\n`)).toThrow(DeliveryError);
    const lines = packed.split('\n');
    expect(() => unpackPayload([lines[0], lines[1]!.slice(0, -8), ...lines.slice(2)].join('\n'))).toThrow(/cannot gunzip/);
  });
});

describe('payload checks', () => {
  it.each([
    ['/etc/passwd', 'not below'],
    ['etc/swanctl/conf.d/ipsec-mesh_x.conf', 'not an absolute path'],
    ['/etc/swanctl/conf.d/../../passwd', 'hidden path component'],
    ['/etc/swanctl/./conf.d/ipsec-mesh_x.conf', 'hidden path component'],
    ['/etc/swanctl//conf.d/ipsec-mesh_x.conf', 'empty or hidden'],
    ['/etc/swanctl/.ipsec-mesh-stage/ipsec-mesh_x.conf', 'hidden path component'],
    ['/etc/swanctl/conf.d/operator.conf', 'must start with "ipsec-mesh"'],
    ['/etc/swanctl/conf.d/ipsec-mesh x.conf', 'may only contain'],
    ["/etc/swanctl/conf.d/ipsec-mesh'x.conf", 'may only contain'],
    ['/etc/swanctl/conf.d/ipsec-mesh$(reboot).conf', 'may only contain'],
    ['/etc/swanctlx/ipsec-mesh.conf', 'not below'],
    ['/etc/sysctl.d/99-zz-ipsec-mesh.conf', 'must start with'],
  ])('refuses %s, naming the host and the path', (path, why) => {
    const e = error(() => encodePayload({ ...BUNDLE, files: [conf(path, 'x')] }));
    expect(e.host).toBe('cp1');
    expect(e.path).toBe(path);
    expect(e.message).toContain('cp1:');
    expect(e.message).toContain(why);
  });

  it('accepts an ordering prefix in front of ipsec-mesh (sysctl.d) and any depth below a root', () => {
    expect(() => checkDeliveryPath('h', '/etc/sysctl.d/60-ipsec-mesh_prod.conf')).not.toThrow();
    expect(() => checkDeliveryPath('h', '/etc/strongswan.d/charon/ipsec-mesh.conf')).not.toThrow();
    expect(() => checkDeliveryPath('h', '/etc/swanctl/x509ca/ipsec-mesh_prod_ca_ca1.pem')).not.toThrow();
  });

  it('refuses a secret file readable by group or others, and an impossible mode', () => {
    expect(error(() => encodePayload({ ...BUNDLE, files: [{ ...conf('/etc/swanctl/conf.d/ipsec-mesh_s.conf', 'k'), secret: true, mode: 0o640 }] })).message).toContain(
      'is secret but its mode 0640',
    );
    expect(error(() => encodePayload({ ...BUNDLE, files: [{ ...conf('/etc/swanctl/conf.d/ipsec-mesh_s.conf', 'k'), mode: 0o4755 }] })).message).toContain(
      'not a permission',
    );
  });

  it('refuses duplicate paths (also between files and keep), bad names and bad connection names', () => {
    const f = conf('/etc/swanctl/conf.d/ipsec-mesh_a.conf', 'a');
    expect(error(() => encodePayload({ ...BUNDLE, files: [f, f] })).message).toContain('listed twice');
    expect(error(() => encodePayload({ ...BUNDLE, files: [f], keep: [f.path] })).message).toContain('listed twice');
    expect(error(() => encodePayload({ ...BUNDLE, host: 'cp_1' })).message).toContain('host name "cp_1"');
    expect(error(() => encodePayload({ ...BUNDLE, mesh: 'a b' })).message).toContain('mesh name "a b"');
    expect(error(() => encodePayload({ ...BUNDLE, connections: ['-x'] })).message).toContain('connection name "-x"');
    expect(error(() => encodePayload({ ...BUNDLE, connections: ['a', 'a'] })).message).toContain('listed twice');
  });

  it('carries connection fingerprints as sorted D records after the C records, counted by END, round-tripped', () => {
    const fps = { prod_cp3_v4: 'b'.repeat(64), prod_cp2_v4: 'a'.repeat(32) };
    const text = encodePayload({ ...BUNDLE, fingerprints: fps });
    const lines = text.split('\n');
    expect(lines.slice(-5)).toEqual(['C prod_cp3_v4', `D prod_cp2_v4 ${'a'.repeat(32)}`, `D prod_cp3_v4 ${'b'.repeat(64)}`, 'END 8', '']);
    expect(decodePayload(text).fingerprints).toEqual(fps);
    expect(decodePayload(encodePayload(BUNDLE)).fingerprints).toEqual({});
    for (let n = 0; n < lines.length - 1; n++) expect(() => decodePayload(`${lines.slice(0, n).join('\n')}\n`)).toThrow(DeliveryError);
  });

  it('refuses a fingerprint of an unknown connection, or one that is not 16–128 lower-case hex digits', () => {
    expect(error(() => encodePayload({ ...BUNDLE, fingerprints: { prod_cp9_v4: 'a'.repeat(64) } })).message).toContain('not one of the payload');
    for (const bad of ['abc', 'A'.repeat(64), 'g'.repeat(64), 'a'.repeat(129), `${'a'.repeat(32)} x`]) {
      expect(error(() => encodePayload({ ...BUNDLE, fingerprints: { prod_cp2_v4: bad } })).message, bad).toContain('hex digits');
    }
    const text = encodePayload({ ...BUNDLE, fingerprints: { prod_cp2_v4: 'a'.repeat(64) } });
    expect(() => decodePayload(text.replace('D prod_cp2_v4', 'D prod_cp9_v4'))).toThrow(/not one of the payload/);
    expect(() => decodePayload(text.replace(`D prod_cp2_v4 ${'a'.repeat(64)}`, `D prod_cp2_v4 ${'a'.repeat(64)}\nD prod_cp2_v4 ${'b'.repeat(64)}`).replace('END 7', 'END 8'))).toThrow(/listed twice/);
  });

  it('decodePayload detects truncation at every line and data after END', () => {
    const text = encodePayload(BUNDLE);
    const lines = text.split('\n').slice(0, -1);
    for (let n = 0; n < lines.length; n++) {
      const cut = `${lines.slice(0, n).join('\n')}\n`;
      expect(() => decodePayload(cut), `cut after ${n} lines`).toThrow(DeliveryError);
    }
    expect(() => decodePayload(`${text}C extra\n`)).toThrow(/data after END/);
    expect(() => decodePayload(text.replace('END 6', 'END 5'))).toThrow(/END announces 5/);
  });
});

describe('hostKeyPath', () => {
  it('names the key by mesh, host and generation with the renderer’s separator', () => {
    expect(hostKeyPath('prod', 'cp1', 3)).toBe('/etc/swanctl/private/ipsec-mesh_prod_cp1_g3.key');
    expect(() => hostKeyPath('prod', 'cp1', -1)).toThrow(DeliveryError);
    expect(() => hostKeyPath('pr od', 'cp1', 0)).toThrow(DeliveryError);
  });
});
