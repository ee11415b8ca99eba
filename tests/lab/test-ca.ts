import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Host, Inventory } from '../../components/inventory/model.js';
import { meshFilePaths, type RenderedFile } from '../../components/render/index.js';
import type { Lab } from '../../lab/netns/index.js';
import { type ExecResult, run } from '../../lab/netns/run-command.js';

// A throwaway CA for the real-strongSwan tests, made with strongSwan's own `pki`:
// ECDSA P-384 everywhere, host certificates carrying the IKE identity and every address as
// subjectAltNames (strongSwan accepts a peer only when its identity is in its certificate).

export interface TestCa {
  readonly dir: string;
  readonly certPem: string;
  readonly keyFile: string;
  readonly certFile: string;
}

export interface TestHostCredentials {
  readonly certPem: string;
  readonly keyPem: string;
}

async function pki(args: readonly string[]): Promise<Buffer> {
  const r = await run(['pki', ...args]);
  if (r.code !== 0) {
    // pki prints plugin-loading noise on stderr; keep only what explains the failure.
    const why = r.stderr.split('\n').filter((l) => l && !/^plugin '.*': failed to load/.test(l)).join('\n');
    throw new Error(`pki ${args[0]} failed (exit ${r.code}): ${why}`);
  }
  return Buffer.from(r.stdout, 'utf8');
}

export async function makeTestCa(dir: string, commonName: string): Promise<TestCa> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, 'ca.key');
  const certFile = join(dir, 'ca.pem');
  const key = await pki(['--gen', '--type', 'ecdsa', '--size', '384', '--outform', 'pem']);
  writeSecret(keyFile, key);
  const cert = await pki([
    '--self', '--ca', '--pathlen', '0', '--in', keyFile, '--type', 'ecdsa', '--digest', 'sha384',
    '--dn', `O=ipsec-mesh lab, CN=${commonName}`, '--lifetime', '30', '--outform', 'pem',
  ]);
  writeSecret(certFile, cert);
  return { dir, certPem: cert.toString('utf8'), keyFile, certFile };
}

export async function issueHostCert(ca: TestCa, name: string, identity: string, addresses: readonly string[]): Promise<TestHostCredentials> {
  const keyFile = join(ca.dir, `${name}.key`);
  const keyPem = await pki(['--gen', '--type', 'ecdsa', '--size', '384', '--outform', 'pem']);
  writeSecret(keyFile, keyPem);
  const cert = await pki([
    '--issue', '--cacert', ca.certFile, '--cakey', ca.keyFile, '--type', 'priv', '--in', keyFile, '--digest', 'sha384',
    '--dn', `O=ipsec-mesh lab, CN=${identity}`,
    '--san', identity, ...addresses.flatMap((a) => ['--san', a]),
    '--lifetime', '7', '--outform', 'pem',
  ]);
  return { certPem: cert.toString('utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

function writeSecret(file: string, content: Buffer): void {
  writeFileSync(file, content, { mode: 0o600 });
}

export interface StrangerAttempt {
  /** The lab host playing the stranger, and the mesh host it calls. */
  readonly from: string;
  readonly to: string;
  /** The identity it claims, certified by `ca` (not the mesh's). */
  readonly identity: string;
  readonly ca: TestCa;
  /** Addresses its certificate also names, and its connection's local_addrs (default: any). */
  readonly addresses?: readonly string[];
  readonly localAddrs?: string;
  /**
   * A post-quantum preshared key it holds too (one leaked from a mesh host: see `leakedPpk`),
   * so that what refuses it is the certificate check, not a missing PPK.
   */
  readonly ppk?: { readonly id: string; readonly secret: string };
}

/** The PPK section `section` of a mesh host's PPK file, as a thief who read the file has it. */
export function leakedPpk(lab: Lab, host: string, mesh: string, section: string): { id: string; secret: string } {
  const text = lab.readHostFile(host, `/etc/swanctl/conf.d/ipsec-mesh_${mesh}_ppk.conf`);
  const m = new RegExp(`\\b${section.replace(/[.]/g, '\\.')} \\{\\s*id = (\\S+)\\s*secret = (0x[0-9a-f]+)`).exec(text);
  if (m === null) throw new Error(`${host}: no PPK section ${section} in its PPK file`);
  return { id: m[1]!, secret: m[2]! };
}

/**
 * A host outside the mesh with a certificate of its own for `identity` initiates to `to` (IPv4,
 * transport, the mesh's default proposals): the connection `stranger`. Returns swanctl's result.
 */
export async function initiateAsStranger(lab: Lab, a: StrangerAttempt): Promise<ExecResult> {
  const creds = await issueHostCert(a.ca, a.from, a.identity, a.addresses ?? []);
  lab.writeHostFile(a.from, '/etc/swanctl/x509/stranger.pem', creds.certPem, 0o644);
  lab.writeHostFile(a.from, '/etc/swanctl/private/stranger.key', creds.keyPem, 0o600);
  lab.writeHostFile(
    a.from,
    '/etc/swanctl/conf.d/stranger.conf',
    [
      'connections {',
      '  stranger {',
      ...(a.localAddrs === undefined ? [] : [`    local_addrs = ${a.localAddrs}`]),
      `    remote_addrs = ${lab.host(a.to).ipv4[0]}`,
      '    proposals = aes256gcm16-prfsha384-ecp384',
      ...(a.ppk === undefined ? [] : [`    ppk_id = ${a.ppk.id}`, '    ppk_required = yes']),
      `    local { auth = pubkey\n      certs = stranger.pem\n      id = "${a.identity}" }`,
      '    remote { auth = pubkey }',
      '    children { stranger { mode = transport\n      esp_proposals = aes256gcm16-ecp384 } }',
      '  }',
      '}',
      ...(a.ppk === undefined ? [] : [`secrets {\n  ppk-stranger {\n    id = ${a.ppk.id}\n    secret = ${a.ppk.secret}\n  }\n}`]),
      '',
    ].join('\n'),
  );
  await lab.swanctl(a.from, ['--load-all', '--noprompt'], { check: true });
  return lab.swanctl(a.from, ['--initiate', '--ike', 'stranger', '--child', 'stranger', '--timeout', '15']);
}

/** A lab host's certificate-mode credentials as the push would install them: the CA, its certificate (for its lab addresses), its key. */
export async function hostCredentialFiles(ca: TestCa, lab: Lab, inventory: Inventory, host: Host): Promise<RenderedFile[]> {
  const paths = meshFilePaths(inventory.mesh, host);
  const creds = await issueHostCert(ca, host.name, host.identity, [...lab.host(host.name).ipv4, ...lab.host(host.name).ipv6]);
  return [
    { path: paths.caCert('ca1'), content: ca.certPem, mode: 0o644, secret: false },
    { path: paths.hostCert, content: creds.certPem, mode: 0o644, secret: false },
    { path: paths.hostKey, content: creds.keyPem, mode: 0o600, secret: true },
  ];
}
