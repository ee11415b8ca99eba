import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lab/netns/run-command.js';

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
