// npm run bench:dataplane -- --inventory FILE --ssh-key FILE --hosts A,B [--seconds N]
// What ESP costs on the wire between two of your own inventory hosts, against cleartext and
// WireGuard: see docs/benchmarks.md ("Data plane on real hosts"). The markdown table goes to
// stdout, progress to stderr. An interrupt (Ctrl-C) tears the run down before exiting.
import { parseArgs } from 'node:util';
import { InventoryError, insecureHostKeyWarnings, loadInventoryFile } from '../components/inventory/index.js';
import { DataplaneBenchError } from './dataplane-results.js';
import { DEFAULT_IPERF3_PORT, DEFAULT_WIREGUARD_PORT, runDataplaneBench } from './dataplane-run.js';

const USAGE = `usage: npm run bench:dataplane -- --inventory FILE --ssh-key FILE --hosts SENDER,RECEIVER
       [--seconds N (10)] [--port N (${DEFAULT_IPERF3_PORT})] [--wireguard-port N (${DEFAULT_WIREGUARD_PORT})]
Needs iperf3, wireguard-tools and iproute2 on both hosts, and root there (or sudo without a password).`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Set while the bench runs: an interrupt aborts it (the run tears down, then exits 130). */
let abort: AbortController | undefined;

function whole(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a whole number ≥ 1, got ${value}`);
  return n;
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      inventory: { type: 'string' },
      'ssh-key': { type: 'string' },
      hosts: { type: 'string' },
      seconds: { type: 'string' },
      port: { type: 'string' },
      'wireguard-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.inventory === undefined) throw new UsageError('--inventory FILE is required');
  if (values['ssh-key'] === undefined) throw new UsageError('--ssh-key FILE is required (the key `ipsec-mesh status` logs in with)');
  const hosts = (values.hosts ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  if (hosts.length !== 2) throw new UsageError('--hosts needs exactly two inventory hosts: SENDER,RECEIVER');
  const inventory = await loadInventoryFile(values.inventory);
  for (const w of insecureHostKeyWarnings(inventory)) process.stderr.write(`bench:dataplane: warning: ${w}\n`);

  // Ctrl-C reaches the ssh children too; the bench sees their failure or the abort and tears down.
  abort = new AbortController();
  const onSignal = (): void => abort?.abort(new DataplaneBenchError('interrupted: what the run added was torn down'));
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await runDataplaneBench({
      inventory,
      hosts: [hosts[0]!, hosts[1]!],
      ssh: { identityFile: values['ssh-key'] },
      seconds: whole(values.seconds, 'seconds', 10),
      port: whole(values.port, 'port', DEFAULT_IPERF3_PORT),
      wireguardPort: whole(values['wireguard-port'], 'wireguard-port', DEFAULT_WIREGUARD_PORT),
      onProgress: (line) => process.stderr.write(`bench:dataplane: ${line}\n`),
      signal: abort.signal,
    });
    process.stdout.write(result.table);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`bench:dataplane: ${e.message}\n${USAGE}\n`);
      process.exit(2);
    }
    if (e instanceof DataplaneBenchError || e instanceof InventoryError) {
      process.stderr.write(`bench:dataplane: ${e.message}\n`);
      process.exit(abort?.signal.aborted ? 130 : 1);
    }
    throw e;
  },
);
