// Benchmark: the stack's program for N hosts under Pulumi's mocks — what a `pulumi preview`
// costs the program (every host rendered, every resource registered), and what the state of
// a real `up` would hold, for sizes no lab can run (1,000 and 10,000 hosts).
//   npm run bench:mock-preview                                     # the default cases
//   node dist/bench/mock-preview.js --case 1000 compact-site-prefixes
// 10,000 hosts is not a default case: the mocked program holds about 1.7 MB a host (every
// resource's state stays in the mock monitor), more than this 24 GB machine has to spare.
// State estimate: each custom resource as the checkpoint stores it — its inputs and its outputs
// (the command provider returns every input as an output, plus stdout/stderr; tls returns
// inputs plus the certificate) as JSON; components as their inputs and registered outputs.
// Secrets are counted as plaintext (the checkpoint holds ciphertext, about 4/3 of it plus a
// constant) and certificates as a real one's size. docs/benchmarks.md compares it with the
// real engine's checkpoint at 10 and 100 hosts.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as pulumi from '@pulumi/pulumi';
import { parseInventory } from '../components/inventory/index.js';
import { IpsecMesh } from '../components/mesh/index.js';
import { benchInventory, type BenchVariant } from './bench-inventory.js';

const SIG_KEY = '4dabf18193072939515e22adb298388d';
/** A P-384 certificate or CSR of the mesh is about this long as PEM. */
const PEM = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(64).concat('\n').repeat(14)}-----END CERTIFICATE-----\n`;

function plain(v: unknown): unknown {
  if (typeof v === 'object' && v !== null && (v as Record<string, unknown>)[SIG_KEY] !== undefined) return plain((v as { value: unknown }).value);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function outputsOf(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case 'tls:index/privateKey:PrivateKey':
      return { ...inputs, privateKeyPem: PEM, publicKeyPem: PEM };
    case 'tls:index/selfSignedCert:SelfSignedCert':
    case 'tls:index/locallySignedCert:LocallySignedCert':
      return { ...inputs, certPem: PEM };
    case 'random:index/randomPassword:RandomPassword':
      return { ...inputs, result: 'x'.repeat(64), bcryptHash: 'x'.repeat(60) };
    case 'command:remote:Command':
    case 'command:local:Command':
      return { ...inputs, stdout: inputs['create'] !== undefined && String(inputs['create']).includes('ipsec-mesh-host-key') ? PEM : 'ok', stderr: '' };
    default:
      return inputs;
  }
}

interface CaseResult {
  hosts: number;
  variant: BenchVariant;
  resources: number;
  programMs: number;
  peakRssMiB: number;
  stateBytes: number;
  stateBytesPerHost: number;
}

async function runCase(hosts: number, variant: BenchVariant): Promise<CaseResult> {
  let stateBytes = 0;
  let resources = 0;
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, unknown> } {
        resources++;
        const inputs = plain(args.inputs) as Record<string, unknown>;
        const outputs = args.custom ? outputsOf(args.type, inputs) : {};
        stateBytes += JSON.stringify(inputs).length + JSON.stringify(outputs).length + args.type.length + args.name.length * 2 + 200;
        return { id: args.custom ? `${args.name}-id` : undefined, state: outputs };
      },
      call(): Record<string, unknown> {
        return {};
      },
    },
    'ipsec-mesh',
    'bench',
    false,
  );
  const input = benchInventory(hosts, variant, hosts > 1000 ? { sites: 32, sitesPerCluster: 4 } : {});
  // Every host with its SSH host key pinned, as the stack requires.
  const inventory = parseInventory(
    { ...input, hosts: input.hosts.map((h) => ({ ...h, ssh: { hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHfOtuHyB8ZW3dmrYq4ZS7e1zqWa7yQoVO5YKxqHBpgh' } })) },
    `<bench ${hosts}>`,
  );
  const t0 = performance.now();
  new IpsecMesh('bench', { inventory, ssh: { privateKey: 'x' } });
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  const programMs = performance.now() - t0;
  return {
    hosts,
    variant,
    resources,
    programMs,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    stateBytes,
    stateBytesPerHost: Math.round(stateBytes / hosts),
  };
}

const CASES: readonly [number, BenchVariant][] = [
  [10, 'compact-site-prefixes'],
  [100, 'compact-site-prefixes'],
  [1000, 'compact-site-prefixes'],
  [10, 'compact'],
  [100, 'compact'],
  [1000, 'compact'],
  [10, 'per-peer'],
  [100, 'per-peer'],
];

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--case') {
    process.stdout.write(`${JSON.stringify(await runCase(Number(argv[1]), argv[2] as BenchVariant))}\n`);
    return;
  }
  const self = fileURLToPath(import.meta.url);
  console.log('| variant | hosts | resources | program s | peak RSS MiB | state bytes (estimate) | per host |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [hosts, variant] of CASES) {
    const out = execFileSync(process.execPath, ['--max-old-space-size=8192', self, '--case', String(hosts), variant], { encoding: 'utf8', maxBuffer: 1 << 20 });
    const r = JSON.parse(out) as CaseResult;
    console.log(`| ${r.variant} | ${r.hosts} | ${r.resources} | ${(r.programMs / 1000).toFixed(1)} | ${r.peakRssMiB.toFixed(0)} | ${r.stateBytes} | ${r.stateBytesPerHost} |`);
  }
}

await main(process.argv.slice(2));
