// Credential lifecycle with the real engine and the upstream tls provider (docs/components.md,
// "Credentials"). Renewal: an `up` inside a certificate's renew-before window replaces the
// certificate — same host key — pushes it and reloads credentials; that host's SAs renew onto
// it, the others keep theirs; the next `up` has nothing to do. Identities: a DN, an address and an FQDN identity
// each get a certificate that carries them and authenticate; a host claiming another's
// identity with its own certificate does not.
//
// Time cannot pass in a test: the stack's state is edited instead, the one way the engine
// and provider can be shown a certificate near its end. `pulumi stack export`, the
// certificate's `validityEndTime` moved to one hour from now, `pulumi stack import`: the
// provider then plans the renewal from its own rule (validity end − earlyRenewalHours ≤ now).
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectCertificateExpiry } from '../../components/operations/certificate-expiry.js';
import { monitorPaths } from '../../components/operations/monitor-script.js';
import { labPulumi } from '../../lab/lab-pulumi.js';
import { threeHostSpec } from './lab-test-support.js';
import { e2eMeshForFile, expectedPairKeys, hostCertificate, keysUpOnBothEnds, negotiate, saIdentity, establishedSas } from './pulumi-support.js';

const LAB = 'e2e-renew';
const HOSTS = ['a', 'b', 'c'];
const CERT_TYPE = 'tls:index/locallySignedCert:LocallySignedCert';

const mesh = e2eMeshForFile(threeHostSpec(LAB), {}, { certificateValidityHours: '48', certificateRenewBeforeHours: '24' });

interface Deployment {
  deployment: { resources: { urn: string; type: string; outputs?: Record<string, unknown> }[] };
}

/** Moves host `host`'s certificate to expire one hour from now, in the stack's state. */
async function ageCertificate(host: string): Promise<void> {
  const exported = JSON.parse((await labPulumi(mesh().lab, ['stack', 'export'])).stdout) as Deployment;
  const cert = exported.deployment.resources.find((r) => r.type === CERT_TYPE && r.urn.endsWith(`::${LAB}-${host}-cert`));
  if (!cert?.outputs) throw new Error(`no certificate of ${host} in the state`);
  expect(cert.outputs['earlyRenewalHours'], 'the window the stack asked for').toBe(24);
  cert.outputs['validityEndTime'] = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const file = join(mesh().lab.stateRoot, 'aged-state.json');
  writeFileSync(file, JSON.stringify(exported));
  await labPulumi(mesh().lab, ['stack', 'import', '--file', file]);
}

describe('host certificate renewal (real engine, upstream tls provider)', () => {
  it('an up inside the window renews the certificate with the same key and pushes it; that host\'s SAs renew onto it, the rest stay', async () => {
    await mesh().up();
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    expect(keysUpOnBothEnds(await negotiate(mesh().lab, HOSTS, expected))).toEqual(expected);
    const sasBefore = (await establishedSas(mesh().lab, HOSTS)).map(saIdentity).sort();
    const before = new Map(HOSTS.map((h) => [h, hostCertificate(mesh().lab, h, LAB)]));
    // Outside the window: nothing to do.
    expect((await mesh().up(['--expect-no-changes'])).code).toBe(0);

    await ageCertificate('a');
    const r = await mesh().up(['--json']);
    const ops = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { resourcePreEvent?: { metadata?: { op: string; urn: string } } }).resourcePreEvent?.metadata)
      .filter((m): m is { op: string; urn: string } => m !== undefined && m.op !== 'same')
      .map((m) => `${m.op} ${m.urn.slice(m.urn.lastIndexOf('::') + 2)}`);
    // a's certificate is replaced (create the new one, then delete the old) and a's push updated.
    // The CRL command notes a's new serial (nothing revoked: no CRL file on any host); a's
    // review shows the new certificate.
    expect([...new Set(ops)].sort()).toEqual(
      [
        `create-replacement ${LAB}-a-cert`,
        `delete-replaced ${LAB}-a-cert`,
        `replace ${LAB}-a-cert`,
        `update ${LAB}-a-push`,
        `update ${LAB}-a-review`,
        `update ${LAB}-crl`,
      ].sort(),
    );

    const after = hostCertificate(mesh().lab, 'a', LAB);
    expect(after.serial, "a's certificate on a").not.toBe(before.get('a')!.serial);
    const pub = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'pem' });
    expect(pub(after.pem), 'renewed for the same key').toBe(pub(before.get('a')!.pem));
    expect(new Date(new X509Certificate(after.pem).validTo).getTime(), 'a fresh 48 h validity').toBeGreaterThan(Date.now() + 40 * 3_600_000);
    for (const h of ['b', 'c']) expect(hostCertificate(mesh().lab, h, LAB).serial, `${h}'s certificate`).toBe(before.get(h)!.serial);
    // charon holds the new certificate. a's IKE_SAs were renewed onto it (the push closes the SAs
    // of connections whose credentials changed, one at a time); b~c kept theirs.
    const certs = (await mesh().lab.swanctl('a', ['--list-certs', '--type', 'x509', '--flag', 'none'], { check: true })).stdout;
    expect(certs.replace(/:/g, '').toLowerCase()).toContain(after.serial.toLowerCase());
    const kept = (await establishedSas(mesh().lab, HOSTS)).map(saIdentity);
    const withA = (id: string): boolean => /\ba~|~a\//.test(id);
    expect(sasBefore.filter((id) => !withA(id)).every((id) => kept.includes(id)), 'b~c keeps its IKE_SAs').toBe(true);
    expect(sasBefore.filter(withA).some((id) => kept.includes(id)), "a's IKE_SAs from before the renewal").toBe(false);
    expect(keysUpOnBothEnds(await negotiate(mesh().lab, HOSTS, expected)), 'every pair back up on the new certificate').toEqual(expected);
    // `ipsec-mesh status --certificates` reads what charon holds: a's new expiry, every host's CA.
    const expiry = await collectCertificateExpiry(await mesh().inventory(), { identityFile: mesh().lab.sshKeyPath, wrapper: ['ip', 'netns', 'exec', mesh().lab.operator.netns] });
    for (const r of expiry) {
      expect(r.error, r.host).toBeUndefined();
      const own = r.certificates!.filter((c) => c.role === 'host');
      expect(own.map((c) => c.notAfter), `${r.host}: its certificate`).toEqual([new Date(new X509Certificate(hostCertificate(mesh().lab, r.host, LAB).pem).validTo).toISOString()]);
      expect(own[0]!.secondsLeft).toBeGreaterThan(40 * 3_600);
      expect(r.certificates!.filter((c) => c.role === 'ca').map((c) => c.subject), `${r.host}: the CA`).toEqual([`O=ipsec-mesh, CN=${LAB} mesh CA ca1`]);
    }
    // The liveness monitor the stack pushed exports the same expiries, read from charon.
    const certAfter = new X509Certificate(after.pem);
    const run = await mesh().lab.exec('a', ['sh', monitorPaths(LAB).script, '--no-act', '--textfile-dir', '/run']);
    expect(run.code, run.stderr).toBe(0);
    const metrics = mesh().lab.readHostFile('a', `/run/${monitorPaths(LAB).metricsFile}`);
    const sample = (name: string, role: string): number[] =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith(`${name}{mesh="${LAB}",role="${role}",`))
        .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
    expect(sample('ipsec_mesh_certificate_expiry_timestamp_seconds', 'host'), metrics).toEqual([new Date(certAfter.validTo).getTime() / 1000]);
    const caPem = mesh().lab.readHostFile('a', `/etc/swanctl/x509ca/ipsec-mesh_${LAB}_ca_ca1.pem`);
    expect(sample('ipsec_mesh_certificate_expiry_timestamp_seconds', 'ca')).toEqual([new Date(new X509Certificate(caPem).validTo).getTime() / 1000]);
    const left = sample('ipsec_mesh_certificate_expires_in_seconds', 'host')[0]!;
    expect(Math.abs(left - (new Date(certAfter.validTo).getTime() - Date.now()) / 1000)).toBeLessThan(120);
    // Renewed, so out of the window again.
    expect((await mesh().up(['--expect-no-changes'])).code).toBe(0);
  }, 600_000);
});

describe('IKE identities in certificates', () => {
  const DN = 'C=CH, O=Example Mesh, CN=a';
  const meshConf = `/etc/swanctl/conf.d/ipsec-mesh_${LAB}.conf`;

  it('a DN, an address and an FQDN identity each authenticate with the certificate made for them', async () => {
    const bAddress = mesh().lab.host('b').ipv4[0]!;
    mesh().writeInventory({ hostFields: { a: { identity: DN }, b: { identity: bAddress } } });
    await mesh().up();
    const aCert = new X509Certificate(hostCertificate(mesh().lab, 'a', LAB).pem);
    expect(aCert.subject.split('\n')).toEqual(['C=CH', 'O=Example Mesh', 'CN=a']);
    expect(new X509Certificate(hostCertificate(mesh().lab, 'b', LAB).pem).subjectAltName).toContain(`IP Address:${bAddress}`);
    // New names made new CSRs and certificates: the pairs renegotiate on them.
    const { pairs } = await mesh().pairs();
    const expected = expectedPairKeys(pairs);
    expect(keysUpOnBothEnds(await negotiate(mesh().lab, HOSTS, expected, { timeoutMs: 60_000 }))).toEqual(expected);
    const onC = await mesh().lab.listSas('c');
    const ids = new Set(onC.filter((sa) => sa.state === 'ESTABLISHED').map((sa) => sa.remoteId));
    expect(ids.has(DN), `c sees a as ${[...ids].join(' | ')}`).toBe(true);
    expect(ids.has(bAddress)).toBe(true);
  }, 600_000);

  it("a host claiming another host's identity with its own certificate does not get an IKE_SA", async () => {
    // a's charon is told to be c (c's FQDN) towards b; a's certificate does not carry it.
    const original = mesh().lab.readHostFile('a', meshConf);
    const cIdentity = (await mesh().inventory()).hosts.find((h) => h.name === 'c')!.identity;
    const forged = original.replace(`\t\tid = "${DN}"`, `\t\tid = ${cIdentity}`);
    expect(forged).not.toBe(original);
    try {
      mesh().lab.writeHostFile('a', meshConf, forged);
      await mesh().lab.swanctl('a', ['--load-conns'], { check: true });
      const toB = (await mesh().lab.listSas('a')).filter((sa) => sa.remoteHost === mesh().lab.host('b').ipv4[0]);
      for (const sa of toB) await mesh().lab.swanctl('a', ['--terminate', '--ike-id', String(sa.uniqueId), '--force'], { check: true });
      const logB = mesh().lab.charonLog('b').length;
      const logA = mesh().lab.charonLog('a').length;
      const conn = toB[0]?.name ?? `${LAB}_b_v4`;
      await mesh().lab.swanctl('a', ['--initiate', '--ike', conn, '--child', conn, '--timeout', '10']);
      await new Promise((r) => setTimeout(r, 3_000));
      const bSees = (await mesh().lab.listSas('b')).filter((sa) => sa.state === 'ESTABLISHED' && sa.remoteHost === mesh().lab.host('a').ipv4[0]);
      expect(bSees.map((sa) => sa.remoteId), 'IKE_SAs b accepted from a').toEqual([]);
      const sinceA = mesh().lab.charonLog('a').slice(logA);
      const sinceB = mesh().lab.charonLog('b').slice(logB);
      // b: "looking for peer configs matching …[<a's address>]…[c]", "no matching peer config found", AUTH_FAILED.
      // The attempt reached b, and b refused it.
      expect(sinceB, "b's log: a's IKE_SA_INIT").toContain(`${mesh().lab.host('a').ipv4[0]} is initiating an IKE_SA`);
      expect(sinceA + sinceB).toMatch(/constraint check failed|no matching peer config|AUTHENTICATION_FAILED|authentication of .* failed/);
    } finally {
      mesh().lab.writeHostFile('a', meshConf, original);
      await mesh().lab.swanctl('a', ['--load-conns'], { check: true });
    }
  }, 300_000);
});
