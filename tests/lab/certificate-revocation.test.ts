// Revocation with the real engine, the upstream tls and command providers and charon 5.9.8
// (docs/components.md, *Revocation*): a host marked `revoked: true`, or removed from the
// inventory, has its certificate put on a CRL the mesh CA signs, pushed to every host. A
// revoked host keeps its key and the configuration it had (nothing more is sent to it; a
// removed one's files are put back), tries to reach the others, and gets no IKE_SA — in the
// compact layout, where any certificate of the mesh CA would otherwise do, charon says why.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sendDatagrams } from '../../lab/pair-traffic.js';
import { threeHostSpec } from './lab-test-support.js';
import { e2eMeshForFile, expectedPairKeys, hostCertificate, keysUpOnBothEnds, negotiate, establishedSas, terminateAllSas } from './pulumi-support.js';

const LAB = 'e2e-revoke';
const HOSTS = ['a', 'b', 'c'];
const CRL = `/etc/swanctl/x509crl/ipsec-mesh_${LAB}.crl`;

const mesh = e2eMeshForFile(threeHostSpec(LAB), {});

/** Serials (upper-case hex) the CRL on `host` lists, as openssl reads it; [] when there is none. */
function crlSerials(host: string): string[] {
  let pem: string;
  try {
    pem = mesh().lab.readHostFile(host, CRL);
  } catch {
    return [];
  }
  expect(pem).toContain('-----BEGIN X509 CRL-----');
  const r = spawnSync('openssl', ['crl', '-noout', '-text'], { input: pem, encoding: 'utf8' });
  return [...r.stdout.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!);
}

const serialOf = (host: string): string => new X509Certificate(hostCertificate(mesh().lab, host, LAB).pem).serialNumber.toUpperCase();

/** c sends to a and b for a while: the pairs with c must not come up. Returns the pair keys up. */
async function cTries(): Promise<string[]> {
  await terminateAllSas(mesh().lab, HOSTS);
  const targets = ['a', 'b'].flatMap((h) => [...mesh().lab.host(h).ipv4, ...mesh().lab.host(h).ipv6]);
  for (let i = 0; i < 10; i++) {
    await sendDatagrams(mesh().lab, 'c', targets);
    await new Promise((r) => setTimeout(r, 500));
  }
  return keysUpOnBothEnds(await establishedSas(mesh().lab, HOSTS)).filter((k) => /(^|~)c[~/]/.test(k));
}

describe('certificate revocation (real engine, upstream providers, charon)', () => {
  it('per-peer: revoked: true puts c on the CRL everywhere, leaves c as it was, and c gets no IKE_SA', async () => {
    await mesh().up();
    const { pairs } = await mesh().pairs();
    const all = expectedPairKeys(pairs);
    expect(keysUpOnBothEnds(await negotiate(mesh().lab, HOSTS, all))).toEqual(all);
    expect(crlSerials('a'), 'nothing revoked: no CRL').toEqual([]);
    const cSerial = serialOf('c');
    const cFiles = mesh().lab.readHostFile('c', `/etc/swanctl/conf.d/ipsec-mesh_${LAB}.conf`);

    mesh().writeInventory({ hostFields: { c: { revoked: true } } });
    await mesh().up();
    for (const h of ['a', 'b']) expect(crlSerials(h), `${h}'s CRL`).toEqual([cSerial]);
    expect(mesh().lab.readHostFile('c', `/etc/swanctl/conf.d/ipsec-mesh_${LAB}.conf`), 'c keeps its configuration').toBe(cFiles);
    expect(serialOf('c'), 'and its certificate').toBe(cSerial);
    expect(await cTries()).toEqual([]);
    const ab = all.filter((k) => !/(^|~)c[~/]/.test(k));
    expect(keysUpOnBothEnds(await negotiate(mesh().lab, ['a', 'b'], ab))).toEqual(ab);
    expect((await mesh().up(['--expect-no-changes'])).code, 'signed once: a no-change up sends nothing').toBe(0);
  }, 600_000);

  it('per-peer: a certificateGeneration bump (a leaked key) revokes the certificates of the keys a and b no longer have', async () => {
    const before = { a: serialOf('a'), b: serialOf('b'), c: serialOf('c') };
    await mesh().setConfig('certificateGeneration', '1');
    await mesh().up();
    const after = { a: serialOf('a'), b: serialOf('b') };
    expect(after.a).not.toBe(before.a);
    expect(serialOf('c'), 'the revoked c is not touched: no new key').toBe(before.c);
    for (const h of ['a', 'b']) expect(crlSerials(h).sort(), `${h}'s CRL`).toEqual([before.a, before.b, before.c].sort());
    const { pairs } = await mesh().pairs();
    const ab = expectedPairKeys(pairs).filter((k) => !/(^|~)c[~/]/.test(k));
    expect(keysUpOnBothEnds(await negotiate(mesh().lab, ['a', 'b'], ab, { timeoutMs: 60_000 })), 'a~b on the new keys').toEqual(ab);
  }, 600_000);

  it('compact: the CA signed c\'s certificate, but the CRL refuses it (charon: revoked)', async () => {
    // c back as a member on the compact layout, then revoked again.
    mesh().writeInventory({ mesh: { layout: 'compact' } });
    await mesh().up();
    const cSerial = serialOf('c');
    expect(crlSerials('a'), 'c active again (on a new key: generation 1)').not.toContain(cSerial);
    const { pairs } = await mesh().pairs();
    const all = expectedPairKeys(pairs);
    expect(keysUpOnBothEnds(await negotiate(mesh().lab, HOSTS, all, { timeoutMs: 60_000 }))).toEqual(all);

    mesh().writeInventory({ mesh: { layout: 'compact' }, hostFields: { c: { revoked: true } } });
    await mesh().up();
    expect(crlSerials('a')).toContain(cSerial);
    const logFrom = mesh().lab.charonLog('a').length;
    expect(await cTries()).toEqual([]);
    expect(mesh().lab.charonLog('a').slice(logFrom), "a's charon on c's certificate").toMatch(/revoked/);
  }, 600_000);

  it('compact: removing c from the inventory revokes its certificate too (the CRL command remembers it)', async () => {
    mesh().writeInventory({ mesh: { layout: 'compact' } });
    await mesh().up();
    const cSerial = serialOf('c');
    expect(crlSerials('a')).not.toContain(cSerial);
    // What c has now; the removal deletes it from c (c's own delete), and it is put back after.
    const keep = ['/etc/swanctl/conf.d', '/etc/swanctl/x509', '/etc/swanctl/x509ca', '/etc/swanctl/private'];
    const tar = await mesh().lab.exec('c', ['tar', '-C', '/', '-czf', '/run/c-swanctl.tgz', ...keep.map((d) => d.slice(1))]);
    expect(tar.code, tar.stderr).toBe(0);

    mesh().writeInventory({ mesh: { layout: 'compact' }, hosts: ['a', 'b'] });
    await mesh().up();
    for (const h of ['a', 'b']) expect(crlSerials(h), `${h}'s CRL`).toContain(cSerial);
    const untar = await mesh().lab.exec('c', ['sh', '-c', 'tar -C / -xzf /run/c-swanctl.tgz && swanctl --load-all --noprompt']);
    expect(untar.code, untar.stderr).toBe(0);
    const logFrom = mesh().lab.charonLog('a').length;
    expect(await cTries()).toEqual([]);
    expect(mesh().lab.charonLog('a').slice(logFrom)).toMatch(/revoked/);
  }, 600_000);
});
