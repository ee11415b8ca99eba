// Mock tests of the components: what resources exist, under which parent, with which
// inputs; that every secret stays secret; and how generations, CA rollover, the off switch
// and installPackages change the resources.
import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';
import { derivePairPpk } from '../../components/credentials/ppk-derivation.js';
import { PACKED_PAYLOAD_HEADER, decodePayload, encodePayload, unpackPayload } from '../../components/delivery/delivery-payload.js';
import { hostKeyPath } from '../../components/delivery/delivery-path.js';
import { scriptOfCommand } from '../../components/delivery/remote-shell.js';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import { CertificateAuthority } from '../../components/mesh/certificate-authority.js';
import { pairPskFingerprint } from '../../components/mesh/connection-fingerprints.js';
import { IpsecMesh } from '../../components/mesh/ipsec-mesh.js';
import { MeshArgsError } from '../../components/mesh/mesh-error.js';
import type { IpsecMeshArgs } from '../../components/mesh/mesh-args.js';
import { MeshHost } from '../../components/mesh/mesh-host.js';
import { computeHostPairs } from '../../components/topology/compute-host-pairs.js';
import { FIXTURE_JUMP_HOST_KEY, fixtureHostKey, meshInventory, type MeshFixtureOptions } from './mesh-fixtures.js';
import {
  CA_KEY_MARKER,
  PSK_MASTER_MARKER,
  SSH_KEY_MARKER,
  containsSecret,
  findMarkers,
  isSecretWrapper,
  startMocks,
  unwrap,
  type MockRun,
  type Registration,
} from './mesh-mocks.js';

const T = {
  mesh: 'ipsec-mesh:index:IpsecMesh',
  host: 'ipsec-mesh:index:MeshHost',
  ca: 'ipsec-mesh:index:CertificateAuthority',
  command: 'command:remote:Command',
  localCommand: 'command:local:Command',
  key: 'tls:index/privateKey:PrivateKey',
  selfSigned: 'tls:index/selfSignedCert:SelfSignedCert',
  signed: 'tls:index/locallySignedCert:LocallySignedCert',
  password: 'random:index/randomPassword:RandomPassword',
  site: 'ipsec-mesh:index:Site',
  hostPair: 'ipsec-mesh:index:HostPair',
  sitePair: 'ipsec-mesh:index:SitePair',
} as const;

interface Scenario {
  readonly run: MockRun;
  readonly mesh: IpsecMesh;
}

async function build(fixture: MeshFixtureOptions, extra: Partial<IpsecMeshArgs> = {}, name = 'm'): Promise<Scenario> {
  const run = await startMocks();
  const mesh = new IpsecMesh(
    name,
    { inventory: meshInventory(fixture), ssh: { privateKey: SSH_KEY_MARKER }, ...extra },
    { transformations: [run.transformation] },
  );
  await run.settle();
  return { run, mesh };
}

function value<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

const commands = (run: MockRun, suffix: string): Registration[] => run.custom(T.command).filter((r) => r.name.endsWith(suffix));
const reviews = (run: MockRun): Registration[] => run.custom(T.localCommand).filter((r) => r.name.endsWith('-review'));
/** A review command's environment: path → review text; fails on a secret wrapper. */
function reviewOf(r: Registration): Record<string, string> {
  expect(isSecretWrapper(r.inputs.environment), r.name).toBe(false);
  return unwrap(r.inputs.environment) as Record<string, string>;
}
/** A command string and, below it, the script it carries packed (scriptOfCommand). */
const str = (r: Registration, key: string): string => {
  const v = unwrap(r.inputs[key]);
  if (typeof v !== 'string') throw new Error(`${r.name}.${key} is not a string`);
  return / ipsec-mesh-[a-z-]+ '/.test(v) ? `${v}\n${scriptOfCommand(v)}` : v;
};

describe('certificate mode', () => {
  it('creates one CA (key + self-signed cert) and per host a host-key command, a certificate, a push and a review', async () => {
    const { run } = await build({ sshExtras: true, dualStack: true });
    expect(run.components(T.mesh).map((r) => r.name)).toEqual(['m']);
    expect(run.components(T.ca).map((r) => r.name)).toEqual(['m-ca-ca1']);
    expect(run.components(T.host).map((r) => r.name).sort()).toEqual(['m-ams1', 'm-ams2', 'm-fra1', 'm-fra2']);
    expect(run.custom(T.key).map((r) => r.name)).toEqual(['m-ca-ca1-key']);
    expect(run.custom(T.selfSigned).map((r) => r.name)).toEqual(['m-ca-ca1-cert']);
    expect(run.custom(T.signed)).toHaveLength(4);
    expect(commands(run, '-host-key')).toHaveLength(4);
    expect(commands(run, '-push')).toHaveLength(4);
    expect(reviews(run)).toHaveLength(4);
    expect(run.custom(T.password).map((r) => r.name)).toEqual(['m-ppk-master']); // quantum-resistant by default
    expect(run.custom()).toHaveLength(4 + 4 * 4); // CA key + cert, the CRL command, the PPK master, 4 per host
  });
});

/** Constructions by resource name (type + parent + dependsOn, from the transformation). */
function constructionOf(run: MockRun, name: string) {
  const c = run.constructions.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no construction named ${name}`);
  return c;
}

describe('parents', () => {
  it('puts every resource under its component: CA parts under the CA, hosts under their site, host parts under the host, the rest under the mesh', async () => {
    const { run, mesh } = await build({ dualStack: true }, { installPackages: true });
    const root = constructionOf(run, 'm');
    expect(root.parent).toBeUndefined();
    for (const c of run.constructions) {
      if (c.name === 'm') continue;
      const parent = c.parent;
      if (c.type === T.ca || c.type === T.site || c.type === T.hostPair || c.type === T.sitePair || c.name === 'm-crl' || c.name === 'm-ppk-master') {
        expect(parent, c.name).toBe(mesh);
      } else if (c.type === T.host) {
        // m-ams1 → the site resource of ams.
        expect(parent, c.name).toBe(mesh.site(c.name.slice(2, 5)));
      } else if (c.type === T.key || c.type === T.selfSigned) {
        expect(parent, c.name).toBeInstanceOf(CertificateAuthority);
        expect(c.name.startsWith(`${constructionOf(run, 'm-ca-ca1').name}-`)).toBe(true);
      } else {
        expect(parent, c.name).toBeInstanceOf(MeshHost);
        // The host component's own name prefixes the child's name.
        const hostName = run.constructions.find((x) => x.resource === parent)!.name;
        expect(c.name.startsWith(`${hostName}-`), c.name).toBe(true);
      }
    }
    // Every registration was constructed through the transformation (nothing escaped the tree).
    expect(run.constructions).toHaveLength(run.registrations.length);
  });

  it('registers outputs for every component', async () => {
    const { run } = await build({});
    for (const c of run.components()) {
      expect(run.componentOutputs(c.type, c.name), `${c.type} ${c.name}`).toBeDefined();
    }
    const meshOut = unwrap(run.componentOutputs(T.mesh, 'm')) as Record<string, unknown>;
    expect(Object.keys(meshOut).sort()).toEqual(['caCertificatePem', 'caCertificates', 'hosts', 'meshName']);
  });
});

describe('credentials (certificate mode)', () => {
  it('makes the CA an ECDSA P-384 key and a CA certificate for signing only', async () => {
    const { run } = await build({}, { caValidityHours: 50_000, certificateValidityHours: 2_000 });
    for (const key of run.custom(T.key)) {
      expect(unwrap(key.inputs)).toMatchObject({ algorithm: 'ECDSA', ecdsaCurve: 'P384' });
    }
    const ca = unwrap(run.one(T.selfSigned, 'm-ca-ca1-cert').inputs) as Record<string, unknown>;
    expect(ca).toMatchObject({ isCaCertificate: true, allowedUses: ['cert_signing', 'crl_signing'], maxPathLength: 0, validityPeriodHours: 50_000 });
    expect(ca.privateKeyPem).toBe(`${CA_KEY_MARKER}:m-ca-ca1-key`);
    expect((ca.subject as Record<string, unknown>).commonName).toBe('lab mesh CA ca1');
  });

  it('signs the CSR printed by the host-key command with the current CA, for the IPsec end-entity usage', async () => {
    const { run } = await build({}, { certificateValidityHours: 2_000 });
    const cert = unwrap(run.one(T.signed, 'm-fra2-cert').inputs) as Record<string, unknown>;
    expect(cert.certRequestPem).toContain('CSR:m-fra2-host-key');
    expect(cert.caCertPem).toContain('CA:m-ca-ca1-cert');
    expect(cert.caPrivateKeyPem).toBe(`${CA_KEY_MARKER}:m-ca-ca1-key`);
    expect(cert.allowedUses).toEqual(['digital_signature', 'ipsec_end_system']);
    expect(cert.validityPeriodHours).toBe(2_000);
    // Renewal: inside the last quarter (at most 720 h) the provider replaces the certificate.
    expect(cert.earlyRenewalHours).toBe(500);
  });

  it('makes the host key on the host: the host-key command asks for the host names and prints a CSR, no key leaves', async () => {
    const { run } = await build({ dualStack: true });
    const hk = run.one(T.command, 'm-ams1-host-key');
    const create = str(hk, 'create');
    expect(create).toContain('ams1.ams.example.net');
    expect(create).toContain('2001:db8:1::1');
    expect(create).toContain(hostKeyPath('lab', 'ams1', 0));
    // The on-host key is P-384 too, whichever tool makes it.
    expect(create).toContain('pki --gen --type ecdsa --size 384');
    expect(create).toContain('secp384r1');
    expect(str(hk, 'delete')).toContain(hostKeyPath('lab', 'ams1', 0));
    expect(hk.inputs.stdin).toBeUndefined();
    expect(unwrap(hk.inputs.triggers)).toEqual([0]);
    // No private key material anywhere in the registrations but the CA key.
    for (const r of run.registrations) {
      expect(JSON.stringify(unwrap(r.inputs)), r.name).not.toMatch(/BEGIN (EC |)PRIVATE KEY/);
    }
  });

  it('replaces the host-key command on a generation bump (new key path, new trigger) and leaves the push command strings alone', async () => {
    const g0 = await build({});
    const before = {
      hk: g0.run.one(T.command, 'm-ams1-host-key').inputs,
      push: g0.run.one(T.command, 'm-ams1-push').inputs,
    };
    const g1 = await build({}, { certificateGeneration: 1 });
    const after = {
      hk: g1.run.one(T.command, 'm-ams1-host-key').inputs,
      push: g1.run.one(T.command, 'm-ams1-push').inputs,
    };
    // `triggers` is the replace-on-change input of remote.Command: a different value means replacement.
    expect(unwrap(before.hk.triggers)).toEqual([0]);
    expect(unwrap(after.hk.triggers)).toEqual([1]);
    expect(scriptOfCommand(unwrap(after.hk.create) as string)).toContain(hostKeyPath('lab', 'ams1', 1));
    expect(scriptOfCommand(unwrap(after.hk.delete) as string)).toContain(hostKeyPath('lab', 'ams1', 1));
    for (const k of ['create', 'update', 'delete'] as const) expect(unwrap(after.push[k])).toBe(unwrap(before.push[k]));
    // The push keeps the new key and (through the replaced certificate) carries the new certificate.
    expect(decodePayload(unwrap(before.push.stdin) as string).keep).toEqual([hostKeyPath('lab', 'ams1', 0)]);
    expect(decodePayload(unwrap(after.push.stdin) as string).keep).toEqual([hostKeyPath('lab', 'ams1', 1)]);
  });
});

describe('delivery (push commands)', () => {
  it('pushes the rendered files, the CA and host certificates on stdin; create/update/delete are the delivery scripts', async () => {
    const { run } = await build({ dualStack: true });
    const push = run.one(T.command, 'm-ams1-push');
    const payload = decodePayload(unwrap(push.inputs.stdin) as string);
    expect(payload.host).toBe('ams1');
    expect(payload.mesh).toBe('lab');
    const paths = payload.files.map((f) => f.path);
    expect(paths).toContain('/etc/swanctl/conf.d/ipsec-mesh_lab.conf');
    expect(paths).toContain('/etc/swanctl/x509ca/ipsec-mesh_lab_ca_ca1.pem');
    expect(paths).toContain('/etc/swanctl/x509/ipsec-mesh_lab_ams1.pem');
    expect(payload.files.find((f) => f.path.endsWith('_ca_ca1.pem'))!.content).toContain('CA:m-ca-ca1-cert');
    expect(payload.files.find((f) => f.path.endsWith('lab_ams1.pem'))!.content).toContain('HOST:m-ams1-cert');
    // Certificate mode carries one secret: the post-quantum preshared keys (on by default).
    expect(payload.files.filter((f) => f.mode !== 0o644).map((f) => [f.path, f.mode])).toEqual([['/etc/swanctl/conf.d/ipsec-mesh_lab_ppk.conf', 0o600]]);
    expect(payload.connections).toEqual(['lab_ams2_v4', 'lab_ams2_v6', 'lab_fra1_v4', 'lab_fra1_v6', 'lab_fra2_v4', 'lab_fra2_v6']);
    // One fingerprint per connection (config + certificates folded): the push renews what changed.
    expect(Object.keys(payload.fingerprints)).toEqual(payload.connections);
    for (const v of Object.values(payload.fingerprints)) expect(v).toMatch(/^[0-9a-f]{64}$/);
    expect(str(push, 'create')).toContain('push (create)');
    expect(str(push, 'update')).toContain('push (update)');
    expect(str(push, 'delete')).toContain('ipsec-mesh-remove');
    expect(push.inputs.addPreviousOutputInEnv).toBe(false);
  });

  it('never sets triggers on a push (a change is an update, so no delete script runs on replacement)', async () => {
    for (const auth of ['certificate', 'psk'] as const) {
      const { run } = await build({ auth });
      const pushes = commands(run, '-push');
      expect(pushes).toHaveLength(4);
      for (const p of pushes) expect(p.inputs.triggers, p.name).toBeUndefined();
    }
  });

  it('connects with the inventory SSH settings: pinned host key, jump host, user and port; the key is secret', async () => {
    const { run } = await build({ sshExtras: true });
    const conn = run.one(T.command, 'm-ams1-push').inputs.connection;
    expect(containsSecret(conn)).toBe(true);
    expect(unwrap(conn)).toMatchObject({
      host: '198.51.100.1',
      port: 2222,
      user: 'deploy',
      hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH',
      privateKey: SSH_KEY_MARKER,
      proxy: { host: '198.51.100.250', port: 22, user: 'jump', privateKey: SSH_KEY_MARKER, hostKey: FIXTURE_JUMP_HOST_KEY },
    });
    const other = unwrap(run.one(T.command, 'm-fra1-push').inputs.connection) as Record<string, unknown>;
    expect(other).toMatchObject({ host: '203.0.113.1', port: 22, user: 'root', hostKey: fixtureHostKey(101) });
    expect(other.proxy).toBeUndefined();
  });

  it('adds an install-packages command before the host key and the push when asked', async () => {
    const off = await build({});
    expect(commands(off.run, '-install-packages')).toHaveLength(0);
    const { run } = await build({}, { installPackages: true });
    const installs = commands(run, '-install-packages');
    expect(installs).toHaveLength(4);
    for (const i of installs) {
      expect(str(i, 'create')).toContain('ipsec-mesh-install-packages');
      expect(i.inputs.delete).toBeUndefined(); // destroying the mesh leaves strongSwan installed
    }
    const install = constructionOf(run, 'm-ams1-install-packages').resource;
    expect(constructionOf(run, 'm-ams1-host-key').dependsOn).toContain(install);
    expect(constructionOf(run, 'm-ams1-push').dependsOn).toContain(install);
    expect(run.custom()).toHaveLength(4 + 5 * 4); // CA key + cert, CRL, PPK master, 5 per host
  });
});

describe('the off switch and enforcement', () => {
  it('enabled: false pushes a configuration without mesh connections, bypass kept', async () => {
    const { run, mesh } = await build({ dualStack: true }, { enabled: false });
    for (const push of commands(run, '-push')) {
      const payload = decodePayload(unwrap(push.inputs.stdin) as string);
      expect(payload.connections, push.name).toEqual([]);
      const conf = payload.files.find((f) => f.path === '/etc/swanctl/conf.d/ipsec-mesh_lab.conf')!.content;
      expect(conf).toMatch(/pass_ssh/);
      expect(conf).not.toMatch(/lab_(ams|fra)\d_v[46]\s*\{/);
    }
    const hosts = await value(mesh.hosts);
    expect(hosts.every((h) => !h.enabled && h.connections.length === 0 && h.bypass.length > 0)).toBe(true);
    // Credentials stay, so switching back on needs no new keys or certificates.
    expect(run.custom(T.signed)).toHaveLength(4);
  });

  it('stack enforcement overrides reach the rendered pairs', async () => {
    const { mesh } = await build({}, { enforcement: 'use', siteEnforcement: { ams: 'require' } });
    const hosts = await value(mesh.hosts);
    const ams1 = hosts.find((h) => h.name === 'ams1')!;
    expect(ams1.enforcement).toEqual({ off: 0, use: 2, require: 1 });
  });
});

describe('CA rollover', () => {
  const caLabelsIn = (run: MockRun, host: string) =>
    decodePayload(unwrap(run.one(T.command, `m-${host}-push`).inputs.stdin) as string)
      .files.map((f) => /_ca_([a-z0-9-]+)\.pem$/.exec(f.path)?.[1])
      .filter((l): l is string => l !== undefined);

  it('step 1 (next): both CAs exist and are trusted; certificates still from the current CA', async () => {
    const { run, mesh } = await build({}, { ca: { current: 'ca1', next: 'ca2' } });
    expect(run.components(T.ca).map((c) => c.name).sort()).toEqual(['m-ca-ca1', 'm-ca-ca2']);
    expect(caLabelsIn(run, 'ams1').sort()).toEqual(['ca1', 'ca2']);
    const conf = decodePayload(unwrap(run.one(T.command, 'm-ams1-push').inputs.stdin) as string).files.find((f) => f.path.endsWith('ipsec-mesh_lab.conf'))!.content;
    expect(conf).toContain('ipsec-mesh_lab_ca_ca1.pem');
    expect(conf).toContain('ipsec-mesh_lab_ca_ca2.pem');
    expect(unwrap(run.one(T.signed, 'm-ams1-cert').inputs.caCertPem)).toContain('CA:m-ca-ca1-cert');
    expect(Object.keys(await value(mesh.caCertificates)).sort()).toEqual(['ca1', 'ca2']);
    expect(await value(mesh.caCertificatePem)).toContain('CA:m-ca-ca1-cert');
  });

  it('step 2 (previous): the new CA issues, both still trusted; step 3: the old CA is gone', async () => {
    const step2 = await build({}, { ca: { current: 'ca2', previous: 'ca1' } });
    expect(step2.run.components(T.ca).map((c) => c.name).sort()).toEqual(['m-ca-ca1', 'm-ca-ca2']);
    expect(unwrap(step2.run.one(T.signed, 'm-ams1-cert').inputs.caCertPem)).toContain('CA:m-ca-ca2-cert');
    expect(caLabelsIn(step2.run, 'fra2').sort()).toEqual(['ca1', 'ca2']);
    const step3 = await build({}, { ca: { current: 'ca2' } });
    expect(step3.run.components(T.ca).map((c) => c.name)).toEqual(['m-ca-ca2']);
    expect(caLabelsIn(step3.run, 'fra2')).toEqual(['ca2']);
    // The same resource names in every step: the CA keeps its key while its role changes.
    expect(step3.run.custom(T.key).map((k) => k.name)).toEqual(['m-ca-ca2-key']);
  });
});

describe('post-quantum preshared keys (quantumResistance)', () => {
  it('certificate mode: one PPK master; each push carries its pair PPKs as a secret, review shows fingerprints only', async () => {
    const run = await startMocks();
    const inventory = meshInventory({});
    new IpsecMesh('m', { inventory: { ...inventory, mesh: { ...inventory.mesh, quantumResistance: 'required' } }, ssh: { privateKey: SSH_KEY_MARKER } }, { transformations: [run.transformation] });
    await run.settle();
    expect(run.custom(T.password).map((r) => r.name)).toEqual(['m-ppk-master']);
    const push = run.one(T.command, 'm-ams1-push');
    expect(isSecretWrapper(push.inputs.stdin), 'the payload holds PPKs: secret').toBe(true);
    expect(push.inputs.logging).toBe('none');
    // The mocks answer every RandomPassword with the same marker (mesh-mocks.ts).
    const master = PSK_MASTER_MARKER;
    const payload = decodePayload(unwrap(push.inputs.stdin) as string);
    const ppk = payload.files.find((f) => f.path.endsWith('_ppk.conf'))!;
    expect(ppk.mode).toBe(0o600);
    for (const peer of ['ams2', 'fra1', 'fra2']) expect(ppk.content).toContain(derivePairPpk(master, 'lab', 'ams1', peer));
    const review = reviewOf(run.one(T.localCommand, 'm-ams1-review'));
    const shown = review['/etc/swanctl/conf.d/ipsec-mesh_lab_ppk.conf']!;
    expect(shown).toMatch(/secret = "?<key fingerprint hmac-sha256:[0-9a-f]{16}>/);
    expect(shown).not.toContain(derivePairPpk(master, 'lab', 'ams1', 'fra1'));
  });

  it('required by default: a PPK master, and certificate pushes are secret', async () => {
    const { run } = await build({});
    expect(run.custom(T.password).map((r) => r.name)).toEqual(['m-ppk-master']);
    expect(isSecretWrapper(run.one(T.command, 'm-ams1-push').inputs.stdin)).toBe(true);
    const payload = decodePayload(unwrap(run.one(T.command, 'm-ams1-push').inputs.stdin) as string);
    expect(payload.files.find((f) => f.path.endsWith('ipsec-mesh_lab.conf'))!.content).toContain('ppk_required = yes');
  });

  it('a rotation (mesh.ppkGeneration) makes the master of that generation, and only it', async () => {
    const run = await startMocks();
    const inventory = meshInventory({});
    new IpsecMesh('m', { inventory: { ...inventory, mesh: { ...inventory.mesh, ppkGeneration: 1 } }, ssh: { privateKey: SSH_KEY_MARKER } }, { transformations: [run.transformation] });
    await run.settle();
    expect(run.custom(T.password).map((r) => r.name)).toEqual(['m-ppk-master-g1']);
    const payload = decodePayload(unwrap(run.one(T.command, 'm-ams1-push').inputs.stdin) as string);
    expect(payload.files.find((f) => f.path.endsWith('_ppk.conf'))!.content).toContain('id = ams1.fra1.lab.g1.ppk');
  });

  it('off: no PPK master, certificate pushes stay public', async () => {
    const run = await startMocks();
    const inventory = meshInventory({});
    new IpsecMesh('m', { inventory: { ...inventory, mesh: { ...inventory.mesh, quantumResistance: 'off' } }, ssh: { privateKey: SSH_KEY_MARKER } }, { transformations: [run.transformation] });
    await run.settle();
    expect(run.custom(T.password)).toEqual([]);
    expect(isSecretWrapper(run.one(T.command, 'm-ams1-push').inputs.stdin)).toBe(false);
  });
});

describe('an unmanaged host (managed: false)', () => {
  it('gets no resources of its own; its peers are pushed, its sheet is plain and its keys are a secret output', async () => {
    const run = await startMocks();
    const inventory = meshInventory({ auth: 'psk' });
    const hosts = inventory.hosts.map((h) => (h.name === 'fra2' ? { name: 'fra2', site: 'fra', managed: false, addresses: h.addresses } : h));
    const mesh = new IpsecMesh('m', { inventory: { ...inventory, hosts }, ssh: { privateKey: SSH_KEY_MARKER } }, { transformations: [run.transformation] });
    await run.settle();
    expect(run.components(T.host).map((c) => c.name).sort()).toEqual(['m-ams1', 'm-ams2', 'm-fra1']);
    expect(run.custom()).toHaveLength(2 + 2 * 3); // PSK and PPK masters, 2 per managed host
    expect(run.custom(T.command).some((r) => r.name.includes('fra2'))).toBe(false);
    // ams1's push still carries its connection to fra2, and the pair key for it.
    const payload = decodePayload(unwrap(run.one(T.command, 'm-ams1-push').inputs.stdin) as string);
    expect(payload.files.find((f) => f.path.endsWith('_secrets.conf'))!.content).toContain(derivePairPsk(PSK_MASTER_MARKER, 'lab', 'ams1', 'fra2'));
    const sheets = await value(mesh.peerSheets);
    expect(Object.keys(sheets)).toEqual(['fra2']);
    expect(sheets.fra2!.connections.map((c) => [c.peer, c.localAddress, c.remoteAddress, c.peerConnection])).toEqual([
      ['ams1', '203.0.113.2', '198.51.100.1', 'lab_fra2_v4'],
      ['ams2', '203.0.113.2', '198.51.100.2', 'lab_fra2_v4'],
      ['fra1', '203.0.113.2', '203.0.113.1', 'lab_fra2_v4'],
    ]);
    expect(JSON.stringify(sheets)).not.toMatch(/0x[0-9a-f]{64}/);
    const secrets = mesh.unmanagedPeerSecrets as unknown as { isSecret: Promise<boolean> };
    expect(await secrets.isSecret).toBe(true);
    expect(await value(mesh.unmanagedPeerSecrets)).toEqual({
      fra2: Object.fromEntries(['ams1', 'ams2', 'fra1'].map((p) => [p, derivePairPsk(PSK_MASTER_MARKER, 'lab', p, 'fra2')])),
    });
    // Quantum-resistant by default: the sheet names each pair's PPK id and command, the keys
    // are a secret output of their own, and they are the keys the managed peers hold.
    expect(sheets.fra2!.connections.map((c) => c.ppk)).toEqual(
      ['ams1', 'ams2', 'fra1'].map((p) => ({ id: `${p}.fra2.lab.ppk`, required: true, command: expect.stringContaining(`unmanagedPeerPpks | jq -r '.["fra2"]["${p}"]'`) })),
    );
    const ppks = mesh.unmanagedPeerPpks as unknown as { isSecret: Promise<boolean> };
    expect(await ppks.isSecret).toBe(true);
    expect(await value(mesh.unmanagedPeerPpks)).toEqual({
      fra2: Object.fromEntries(['ams1', 'ams2', 'fra1'].map((p) => [p, derivePairPpk(PSK_MASTER_MARKER, 'lab', p, 'fra2')])),
    });
    expect(payload.files.find((f) => f.path.endsWith('_ppk.conf'))!.content).toContain(derivePairPpk(PSK_MASTER_MARKER, 'lab', 'ams1', 'fra2'));
  });
});

describe('PSK mode', () => {
  it('has one master secret for the whole mesh and one push and one review per host', async () => {
    const { run } = await build({ auth: 'psk' });
    expect(run.custom(T.password).map((r) => r.name).sort()).toEqual(['m-ppk-master', 'm-psk-master-g0']);
    expect(run.custom(T.key)).toHaveLength(0);
    expect(run.custom(T.signed)).toHaveLength(0);
    expect(run.components(T.ca)).toHaveLength(0);
    expect(run.custom()).toHaveLength(2 + 2 * 4); // PSK and PPK masters, push + review per host
    const master = unwrap(run.one(T.password, 'm-psk-master-g0').inputs) as Record<string, unknown>;
    expect(master.length).toBeGreaterThanOrEqual(64);
    expect(master.keepers).toEqual({ generation: '0' });
  });

  it('derives each pair key from the master (HKDF) into a secret stdin', async () => {
    const { run } = await build({ auth: 'psk' });
    const push = run.one(T.command, 'm-ams1-push');
    expect(isSecretWrapper(push.inputs.stdin)).toBe(true);
    const payload = decodePayload(unwrap(push.inputs.stdin) as string);
    const secrets = payload.files.find((f) => f.path.endsWith('_secrets.conf'))!;
    expect(secrets.mode).toBe(0o600);
    for (const peer of ['ams2', 'fra1', 'fra2']) {
      expect(secrets.content).toContain(derivePairPsk(PSK_MASTER_MARKER, 'lab', 'ams1', peer));
    }
    expect(secrets.content).not.toContain(PSK_MASTER_MARKER);
  });

  it('carries a fingerprint per connection in the payload, none of which is or contains a key, and no secret in the command', async () => {
    const fixture: MeshFixtureOptions = { auth: 'psk', dualStack: true };
    const { run } = await build(fixture);
    const keys = [PSK_MASTER_MARKER, ...computeHostPairs(parseInventory(meshInventory(fixture))).pairs.map((p) => derivePairPsk(PSK_MASTER_MARKER, 'lab', p.a, p.b))];
    for (const push of commands(run, '-push')) {
      const stdin = unwrap(push.inputs.stdin) as string;
      expect(stdin.startsWith(`${PACKED_PAYLOAD_HEADER}\n`), 'packed').toBe(true);
      const text = unpackPayload(stdin);
      const payload = decodePayload(text);
      expect(Object.keys(payload.fingerprints).sort(), push.name).toEqual([...payload.connections].filter((c) => c !== 'lab_bypass').sort());
      expect(Object.keys(payload.fingerprints)).toHaveLength(6);
      const lines = text.split('\n').filter((l) => l.startsWith('D '));
      expect(lines).toHaveLength(6);
      for (const k of keys) {
        for (const l of lines) expect(l.includes(k) || l.includes(k.replace(/^0x/, '').slice(0, 16)), `${push.name}: ${l}`).toBe(false);
        for (const cmd of ['create', 'update', 'delete']) expect(String(push.inputs[cmd])).not.toContain(k);
      }
    }
  });

  it('rotates every pair key by bumping the generation (keepers)', async () => {
    const { run } = await build({ auth: 'psk' }, { pskGeneration: 3 });
    expect((unwrap(run.one(T.password, 'm-psk-master-g3').inputs) as Record<string, unknown>).keepers).toEqual({ generation: '3' });
  });

  it('rotation: one master per generation in use, the oldest aliased to the single master of older stacks', async () => {
    for (const [generation, accept] of [[3, 4], [4, 3]] as const) {
      const { run } = await build({ auth: 'psk' }, { pskGeneration: generation, pskAcceptGeneration: accept });
      expect(run.custom(T.password).map((r) => r.name).sort()).toEqual(['m-ppk-master', 'm-psk-master-g3', 'm-psk-master-g4']);
      expect((unwrap(run.one(T.password, 'm-psk-master-g4').inputs) as Record<string, unknown>).keepers).toEqual({ generation: '4' });
      expect(constructionOf(run, 'm-psk-master-g3').aliases).toEqual([{ name: 'm-psk-master' }]);
      expect(constructionOf(run, 'm-psk-master-g4').aliases).toEqual([]);
    }
  });

  it('prints nothing of a PSK push and keeps its outputs secret', async () => {
    const { run } = await build({ auth: 'psk' });
    const push = run.one(T.command, 'm-ams1-push');
    expect(push.inputs.logging).toBe('none');
    expect(constructionOf(run, 'm-ams1-push').additionalSecretOutputs).toEqual(expect.arrayContaining(['stdout', 'stderr', 'stdin']));
  });
});

describe('secrets', () => {
  /** Every derived pair key of the fixture: they must be as secret as the master. */
  function pairKeys(fixture: MeshFixtureOptions): string[] {
    const inv = parseInventory(meshInventory(fixture));
    return computeHostPairs(inv).pairs.map((p) => derivePairPsk(PSK_MASTER_MARKER, inv.mesh.name, p.a, p.b));
  }

  function pairPpks(fixture: MeshFixtureOptions): string[] {
    const inv = parseInventory(meshInventory(fixture));
    return computeHostPairs(inv).pairs.map((p) => derivePairPpk(PSK_MASTER_MARKER, inv.mesh.name, p.a, p.b));
  }

  /** The payload is base64 inside: decode it, keeping its secret wrapper, so markers in files are found. */
  function withDecodedStdin(inputs: Record<string, unknown>): Record<string, unknown> {
    const stdin = inputs.stdin;
    const text = unwrap(stdin);
    if (typeof text !== 'string' || !text.startsWith('ipsec-mesh-payload')) return inputs;
    const decoded = decodePayload(text);
    return { ...inputs, stdin: isSecretWrapper(stdin) ? { ...stdin, value: decoded } : decoded };
  }

  it('finds a secret that sits in the clear inside a payload file (the check itself works)', () => {
    const payload = encodePayload({
      host: 'h',
      mesh: 'm',
      files: [{ path: '/etc/swanctl/conf.d/ipsec-mesh_m_secrets.conf', content: 's3cret!!', mode: 0o600, secret: true }],
      connections: [],
    });
    expect(payload).not.toContain('s3cret');
    const hits = findMarkers(withDecodedStdin({ stdin: payload }), ['s3cret']);
    expect(hits).toEqual([{ path: 'stdin.files[0].content', marker: 's3cret', inSecret: false }]);
  });

  for (const auth of ['certificate', 'psk'] as const) {
    it(`${auth} mode: secrets appear only inside secrets, never in commands, environment, triggers, component inputs or outputs`, async () => {
      const fixture: MeshFixtureOptions = { auth, sshExtras: true, dualStack: true };
      const { run } = await build(fixture, { installPackages: true });
      const markers = [SSH_KEY_MARKER, CA_KEY_MARKER, PSK_MASTER_MARKER, ...pairPpks(fixture), ...(auth === 'psk' ? pairKeys(fixture) : [])];
      let seen = 0;
      for (const r of run.registrations) {
        const hits = findMarkers(withDecodedStdin(r.inputs), markers);
        seen += hits.length;
        for (const h of hits) expect(h.inSecret, `${r.name}.${h.path} holds a secret in the clear`).toBe(true);
        for (const k of ['create', 'update', 'delete', 'environment', 'triggers']) {
          expect(findMarkers(r.inputs[k], markers), `${r.name}.${k}`).toEqual([]);
        }
        if (!r.custom) {
          // super() args are stored as the component's inputs: nothing secret at all.
          expect(containsSecret(r.inputs), `${r.name} component inputs`).toBe(false);
          expect(findMarkers(r.inputs, markers), `${r.name} component inputs`).toEqual([]);
          const outputs = run.componentOutputs(r.type, r.name);
          for (const h of findMarkers(outputs, markers)) expect(h.inSecret, `${r.name} output ${h.path}`).toBe(true);
        }
      }
      // The check saw the secrets where they belong (SSH key in every connection; CA key or PSKs).
      expect(seen).toBeGreaterThan(run.custom(T.command).length);
      // The post-quantum preshared keys (on by default) make every push's stdin a secret, in
      // certificate mode too; the check above found them only inside it.
      for (const p of commands(run, '-push')) expect(isSecretWrapper(p.inputs.stdin), p.name).toBe(true);
    });
  }
});

describe('review (what pulumi preview --diff shows of each push)', () => {
  it('certificate mode: every file of the push in plain text, certificates summarised, nothing to run', async () => {
    const { run } = await build({ dualStack: true });
    for (const r of reviews(run)) {
      const host = r.name.replace(/^m-/, '').replace(/-review$/, '');
      const push = decodePayload(str(run.one(T.command, `m-${host}-push`), 'stdin'));
      const review = reviewOf(r);
      expect(Object.keys(review).sort()).toEqual(push.files.map((f) => f.path).sort());
      for (const f of push.files) {
        const text = review[f.path]!;
        expect(text.startsWith(`@ ipsec-mesh file ${f.path}, mode `), f.path).toBe(true);
        if (f.path.endsWith('_ppk.conf')) {
          // The post-quantum preshared keys show as fingerprints only.
          expect(text).toMatch(/secret = "?<key fingerprint hmac-sha256:[0-9a-f]{16}>/);
          expect(text).not.toMatch(/0x[0-9a-f]{64}/);
          continue;
        }
        // The mocks' certificates are not real PEM, so they show as they are here
        // (delivery-review.test.ts summarises real ones).
        expect(text.slice(text.indexOf('\n') + 1)).toBe(f.content);
      }
      expect(r.inputs.create).toBeUndefined();
      expect(r.inputs.update).toBeUndefined();
      expect(r.inputs.delete).toBeUndefined();
    }
  });

  it('PSK mode: not secret, every key shown as its public fingerprint, no key or master anywhere', async () => {
    const fixture: MeshFixtureOptions = { auth: 'psk', dualStack: true };
    const { run } = await build(fixture);
    const pairs = computeHostPairs(parseInventory(meshInventory(fixture))).pairs;
    expect(reviews(run)).toHaveLength(4);
    for (const r of reviews(run)) {
      const review = reviewOf(r);
      const secrets = Object.entries(review).find(([p]) => p.endsWith('_secrets.conf'))?.[1] ?? '';
      const host = r.name.replace(/^m-/, '').replace(/-review$/, '');
      for (const p of pairs.filter((x) => x.a === host || x.b === host)) {
        const key = derivePairPsk(PSK_MASTER_MARKER, 'lab', p.a, p.b);
        expect(secrets).toContain(`secret = "<key fingerprint hmac-sha256:${pairPskFingerprint(key)}>"`);
      }
      expect(findMarkers(review, [PSK_MASTER_MARKER, SSH_KEY_MARKER])).toEqual([]);
      for (const p of pairs) expect(JSON.stringify(review)).not.toContain(derivePairPsk(PSK_MASTER_MARKER, 'lab', p.a, p.b).slice(2, 18));
    }
  });
});

describe('custom resources grow with hosts, never with pairs; model components with pairs only in per-peer', () => {
  // Counting (N hosts, S sites, P pairs, Q site pairs):
  //   certificate: CA key + CA cert + CRL command + PPK master (4) + per host host-key command,
  //                certificate, push, review (4N)
  //   psk:         PSK and PPK master RandomPasswords (2) + per host push, review (2N)
  //   components:  IpsecMesh (1) + MeshHost (N) + CertificateAuthority (1 per CA label) + Site (S)
  //                + HostPair (P, per-peer) or SitePair (Q, compact)
  const N = 100;
  const S = 2;
  const P = 4950;
  const full = { perSite: N / 2 }; // one rule: full mesh across both sites → N(N-1)/2 = 4950 pairs

  it('certificate mode, 100-host full mesh, per-peer: 4N + 4 custom resources, N + 2 + S + P components', async () => {
    const { run } = await build(full);
    expect(run.custom()).toHaveLength(4 * N + 4);
    expect(run.components()).toHaveLength(N + 2 + S + P);
    expect(run.components(T.hostPair)).toHaveLength(P);
  }, 120_000);

  it('PSK mode, 100-host full mesh, per-peer: 2N + 2 custom resources, N + 1 + S + P components', async () => {
    const { run } = await build({ ...full, auth: 'psk' });
    expect(run.custom()).toHaveLength(2 * N + 2);
    expect(run.components()).toHaveLength(N + 1 + S + P);
  }, 120_000);

  it('compact layout, 100-host full mesh: 4N + 4 custom resources, N + 2 + S + 3 components (site pairs, not host pairs)', async () => {
    const { run } = await build({ ...full, layout: 'compact' });
    expect(run.custom()).toHaveLength(4 * N + 4);
    expect(run.components()).toHaveLength(N + 2 + S + 3);
    expect(run.components(T.hostPair)).toHaveLength(0);
  }, 120_000);

  it('the same hosts with a fraction of the pairs give the same count', async () => {
    const run = await startMocks();
    const input = meshInventory(full);
    // Only the hosts of one site pair up with each other, and only with a chain of explicit pairs.
    const sparse = { ...input, rules: [{ pairs: input.hosts.slice(1).map((h, i) => [input.hosts[i]!.name, h.name] as [string, string]) }] };
    new IpsecMesh('m', { inventory: sparse, ssh: { privateKey: SSH_KEY_MARKER } });
    await run.settle();
    expect(computeHostPairs(parseInventory(sparse)).pairs.length).toBe(N - 1);
    expect(run.custom()).toHaveLength(4 * N + 4);
  }, 120_000);
});

describe('the model as resources', () => {
  it('a Site per site (prefixes, MTU, hosts) and a HostPair per pair (hosts, sites, families, level, settings); no inputs stored', async () => {
    const { run, mesh } = await build({ dualStack: true });
    expect(run.components(T.site).map((r) => r.name)).toEqual(['m-site-ams', 'm-site-fra']);
    expect(unwrap(run.componentOutputs(T.site, 'm-site-ams'))).toEqual({ siteName: 'ams', mtu: 1500, prefixes: { ipv4: [], ipv6: [] }, hosts: ['ams1', 'ams2'] });
    expect(run.components(T.hostPair).map((r) => r.name)).toEqual(['m-pair-ams1~ams2', 'm-pair-ams1~fra1', 'm-pair-ams1~fra2', 'm-pair-ams2~fra1', 'm-pair-ams2~fra2', 'm-pair-fra1~fra2']);
    expect(unwrap(run.componentOutputs(T.hostPair, 'm-pair-ams1~fra2'))).toEqual({
      hostA: 'ams1',
      hostB: 'fra2',
      siteA: 'ams',
      siteB: 'fra',
      families: [
        { family: 'ipv4', a: '198.51.100.1', b: '203.0.113.2' },
        { family: 'ipv6', a: '2001:db8:1::1', b: '2001:db8:2::2' },
      ],
      enforcement: 'require',
      layout: 'per-peer',
      auth: 'certificate',
      proposals: ['aes256gcm16-prfsha384-ecp384'],
      espProposals: ['aes256gcm16-ecp384'],
    });
    for (const r of [...run.components(T.site), ...run.components(T.hostPair)]) expect(r.inputs, r.name).toEqual({});
    // Lookups, either order.
    expect(mesh.pair('fra2', 'ams1')).toBe(mesh.pair('ams1', 'fra2'));
    expect(await value(mesh.pair('fra2', 'ams1')!.hostA)).toBe('ams1');
    expect(mesh.pair('ams1', 'nope')).toBeUndefined();
    expect(await value(mesh.site('fra')!.hosts)).toEqual(['fra1', 'fra2']);
    expect(mesh.site('nope')).toBeUndefined();
    expect(mesh.allPairs()).toHaveLength(6);
    expect(mesh.allSitePairs()).toEqual([]);
  });

  it('PSK mode: each HostPair shows a fingerprint of its key, in the clear, that is not the key and differs per pair', async () => {
    const { run, mesh } = await build({ auth: 'psk' });
    const pairs = run.components(T.hostPair);
    const prints = new Set<string>();
    for (const r of pairs) {
      const out = run.componentOutputs(T.hostPair, r.name)!;
      expect(containsSecret(out), r.name).toBe(false);
      const [a, b] = r.name.slice('m-pair-'.length).split('~') as [string, string];
      const psk = derivePairPsk(PSK_MASTER_MARKER, 'lab', a, b);
      expect(out['pskFingerprint']).toBe(pairPskFingerprint(psk));
      expect(out['pskFingerprint']).toMatch(/^[0-9a-f]{16}$/);
      expect(psk).not.toContain(out['pskFingerprint'] as string);
      expect(findMarkers(out, [PSK_MASTER_MARKER, psk.slice(2, 18)])).toEqual([]);
      prints.add(out['pskFingerprint'] as string);
    }
    expect(prints.size).toBe(pairs.length);
    expect(await value(mesh.pair('ams1', 'ams2')!.pskFingerprint)).toBe(pairPskFingerprint(derivePairPsk(PSK_MASTER_MARKER, 'lab', 'ams1', 'ams2')));
    // Certificate mode has no key to show.
    const cert = await build({});
    expect(cert.run.componentOutputs(T.hostPair, 'm-pair-ams1~ams2')!['pskFingerprint']).toBeUndefined();
  });

  it('compact layout: SitePairs summarize the pairs per pair of sites; no HostPair, and pair() says why', async () => {
    const { run, mesh } = await build({ perSite: 3, layout: 'compact' });
    expect(run.components(T.hostPair)).toEqual([]);
    expect(run.components(T.sitePair).map((r) => r.name)).toEqual(['m-sites-ams~ams', 'm-sites-ams~fra', 'm-sites-fra~fra']);
    expect(unwrap(run.componentOutputs(T.sitePair, 'm-sites-ams~fra'))).toEqual({
      siteA: 'ams',
      siteB: 'fra',
      pairs: 9,
      families: ['ipv4'],
      enforcement: { off: 0, use: 0, require: 9 },
      layout: 'compact',
      auth: 'certificate',
      proposals: ['aes256gcm16-prfsha384-ecp384'],
      espProposals: ['aes256gcm16-ecp384'],
    });
    expect(mesh.sitePair('fra', 'ams')).toBe(mesh.sitePair('ams', 'fra'));
    expect(() => mesh.pair('ams1', 'fra1')).toThrow(/compact layout keeps no per-pair resources/);
    expect(() => mesh.pair('ams1', 'fra1')).toThrow(MeshArgsError);
  });

  it('hosts keep an alias to their old parent (the mesh), so an upgraded stack replaces nothing', async () => {
    const run = await startMocks();
    const aliases: Record<string, unknown[]> = {};
    const mesh = new IpsecMesh('m', { inventory: meshInventory({}), ssh: { privateKey: SSH_KEY_MARKER } }, {
      transformations: [
        (a) => {
          if (a.type === T.host) aliases[a.name] = (a.opts.aliases ?? []) as unknown[];
          return undefined;
        },
      ],
    });
    await run.settle();
    expect(Object.keys(aliases).sort()).toEqual(['m-ams1', 'm-ams2', 'm-fra1', 'm-fra2']);
    for (const list of Object.values(aliases)) expect(list).toEqual([{ parent: mesh }]);
  });
});
