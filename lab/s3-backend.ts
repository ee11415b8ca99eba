// A real S3-compatible object store as a Pulumi state backend for a lab (issue 14 item 6):
// SeaweedFS's `weed server -s3` (Apache-2.0, built by scripts/build-s3-server.sh), started
// INSIDE the lab's operator network namespace — where the lab's `pulumi` runs — with its
// data under the lab's state root, listening on an address of that namespace only (its
// own loopback by default). No authentication is configured (SeaweedFS then accepts every
// request); the AWS SDK inside pulumi still signs with the static keys of `env`.
//
// The server gets a private /tmp (a directory of its own bind-mounted over /tmp in the
// mount namespace `ip netns exec` makes): SeaweedFS puts its gRPC unix sockets at fixed
// /tmp/seaweedfs-<service>-grpc-<port>.sock paths, shared by every namespace of the
// machine, so two servers (two labs) would otherwise take over each other's sockets.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { PROJECT_DIR } from './lab-pulumi.js';
import { sleep } from './netns/lab-process.js';
import { LAB_RANGES } from './netns/lab-spec.js';
import { isRunning, processStartTime } from './netns/lab-state.js';
import { labEnv, run } from './netns/run-command.js';

/** What the backend needs of a lab: the netns Lab, or a vm lab (same shape). */
export interface S3BackendLab {
  readonly operator: { readonly netns: string };
  readonly stateRoot: string;
}

export interface S3BackendOptions {
  /** The bucket the state goes to (created if missing). Default `pulumi-state`. */
  readonly bucket?: string;
  /**
   * The IPv4 address the S3 endpoint listens on, inside the operator namespace: its
   * loopback (default 127.0.0.1) or one of its addresses in 198.51.100.0/24 or
   * 203.0.113.0/24. Anything else (192.0.2.0/24, a host-namespace address) is refused.
   */
  readonly address?: string;
  /** S3 port (default 8333). The master, volume and filer use 9333, 8080 and 8888 (+10000 for gRPC). */
  readonly port?: number;
  /** The `weed` binary; default: the one scripts/build-s3-server.sh built. */
  readonly weedBin?: string;
  /** How long the server may take until a bucket write works (default 90 s; about 10 s here). */
  readonly readyTimeoutMs?: number;
}

export interface S3Backend {
  /** `pulumi login` URL: `s3://<bucket>?endpoint=http://<addr>:<port>&s3ForcePathStyle=true&region=us-east-1`. */
  readonly url: string;
  /**
   * What the pulumi CLI needs for it: static keys, the region, and no AWS profile, config
   * file or credentials file of the user. Merge it over an environment without AWS_*
   * (withS3BackendEnv does both).
   */
  readonly env: Readonly<Record<string, string>>;
  readonly bucket: string;
  /** `http://<addr>:<port>`, reachable only inside the operator namespace. */
  readonly endpoint: string;
  readonly netns: string;
  /** The server's own directory under the lab's state root (data/, tmp/, weed.log). */
  readonly dir: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly pid: number;
  /**
   * An unsigned S3 request from inside the operator namespace (the server has no
   * authentication): `key` is an object key in the bucket, '' for the bucket itself.
   */
  request(method: string, key: string, opts?: { body?: string | Buffer; query?: string }): Promise<S3Response>;
  /** Every object key in the bucket under `prefix` (ListObjectsV2). */
  listKeys(prefix?: string): Promise<string[]>;
  /** Stops the server and everything in its process group, and waits for them. */
  stop(): Promise<void>;
}

export interface S3Response {
  /** HTTP status; 0 when no answer came (refused, timed out). */
  readonly status: number;
  readonly body: Buffer;
  readonly error?: string;
}

export class S3BackendError extends Error {
  override readonly name = 'S3BackendError';
}

const ACCESS_KEY = 'ipsec-mesh-lab';
const SECRET_KEY = 'ipsec-mesh-lab-secret-key';
export const S3_REGION = 'us-east-1';
const DEFAULT_BUCKET = 'pulumi-state';
const PROBE_KEY = '.ipsec-mesh-ready-probe';

/** The bin dir of the built server (scripts/build-s3-server.sh --print-dir), or undefined. */
export function s3ServerBinDir(): string | undefined {
  const r = spawnSync('bash', [join(PROJECT_DIR, 'scripts', 'build-s3-server.sh'), '--print-dir'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  return dir && existsSync(join(dir, 'weed')) ? dir : undefined;
}

function findWeed(explicit?: string): string {
  if (explicit !== undefined) {
    if (!existsSync(explicit)) throw new S3BackendError(`no weed binary at ${explicit}`);
    return resolve(explicit);
  }
  const dir = s3ServerBinDir();
  if (!dir) {
    throw new S3BackendError('the S3 server (SeaweedFS weed) is not built: run scripts/build-s3-server.sh (npm test does, through scripts/prepare.sh)');
  }
  return join(dir, 'weed');
}

/** Loopback of the namespace, or an address of the lab's own IPv4 ranges. */
function checkAddress(address: string): void {
  if (!ipaddr.IPv4.isValidFourPartDecimal(address)) {
    throw new S3BackendError(`S3 backend address "${address}" is not an IPv4 address (only IPv4 was tried with SeaweedFS here)`);
  }
  const ip = ipaddr.IPv4.parse(address);
  if (ip.range() === 'loopback') return;
  const inLab = LAB_RANGES.ipv4.some((cidr) => ip.match(ipaddr.IPv4.parseCIDR(cidr)));
  if (!inLab) {
    throw new S3BackendError(`S3 backend address ${address} is neither the operator namespace's loopback nor in the lab ranges (${LAB_RANGES.ipv4.join(', ')})`);
  }
}

// Runs inside the namespace (node -e): one HTTP request, the answer as JSON on stdout.
const HTTP_SCRIPT = `
const [method, url, timeout] = process.argv.slice(1);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c)).on('end', async () => {
  const body = Buffer.concat(chunks);
  try {
    const r = await fetch(url, { method, body: method === 'GET' || method === 'HEAD' ? undefined : body, signal: AbortSignal.timeout(Number(timeout)) });
    const b = Buffer.from(await r.arrayBuffer());
    process.stdout.write(JSON.stringify({ status: r.status, body: b.toString('base64') }));
  } catch (e) {
    process.stdout.write(JSON.stringify({ status: 0, body: '', error: String((e && e.cause) || e) }));
  }
});
`;

/** One unsigned HTTP request made from inside `netns`. */
export async function netnsHttp(netns: string, method: string, url: string, body: string | Buffer = '', timeoutMs = 30_000): Promise<S3Response> {
  const r = await run(['ip', 'netns', 'exec', netns, process.execPath, '-e', HTTP_SCRIPT, method, url, String(timeoutMs)], {
    stdin: body,
    timeoutMs: timeoutMs + 10_000,
  });
  let parsed: { status: number; body: string; error?: string };
  try {
    parsed = JSON.parse(r.stdout) as typeof parsed;
  } catch {
    return { status: 0, body: Buffer.alloc(0), error: `no answer from the request helper (exit ${r.code}): ${r.stderr.trim()}` };
  }
  return { status: parsed.status, body: Buffer.from(parsed.body, 'base64'), ...(parsed.error !== undefined && { error: parsed.error }) };
}

const xmlText = (s: string): string =>
  s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&#34;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

interface ServerRecord {
  readonly pid: number;
  readonly startTime: string;
}

/** PIDs whose process group is `pgid` (field 5 of /proc/<pid>/stat). */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* gone */
  }
}

/** Stops a server started here: SIGTERM to its group, SIGKILL after `graceMs`, then waits. */
async function stopServer(rec: ServerRecord, graceMs: number): Promise<void> {
  // The group is only signalled while its leader (the server, whose PID is the PGID) runs:
  // after that the number may belong to someone else.
  if (isRunning(rec)) {
    killQuietly(-rec.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isRunning(rec) && Date.now() < deadline) await sleep(50);
    // SeaweedFS waits ~15 s for a metadata-log flush on SIGTERM; a lab server need not.
    if (isRunning(rec)) killQuietly(-rec.pid, 'SIGKILL');
  }
  // Anything left in its group (it starts no children today), by PID, while the group exists.
  const deadline = Date.now() + 5_000;
  for (;;) {
    const left = groupMembers(rec.pid).filter((p) => p === rec.pid ? isRunning(rec) : processStartTime(p) !== undefined);
    if (left.length === 0) return;
    if (Date.now() >= deadline) throw new S3BackendError(`S3 server (pid ${rec.pid}) did not stop: pids ${left.join(' ')} still run`);
    for (const p of left) killQuietly(p, 'SIGKILL');
    await sleep(50);
  }
}

// sh inside the namespace: private /tmp, then exec the server (same PID, same group).
// The data dir is the cwd, and the binary is opened before /tmp is covered, so both
// work even where they live under /tmp.
const START_SCRIPT = `set -eu
data=$1 bin=$2
shift 2
cd "$data"
case "$bin" in /tmp/*) exec 3<"$bin"; bin=/proc/self/fd/3 ;; esac
mount --bind "$data/../tmp" /tmp
case "$data" in /tmp/*) mkdir -p "$data"; mount --no-canonicalize --bind . "$data" ;; esac
exec "$bin" "$@"`;

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts the S3 server in the lab's operator namespace, creates the bucket, waits until
 * an object write in it works, and returns the `pulumi login` URL and environment.
 */
export async function startS3Backend(lab: S3BackendLab, opts: S3BackendOptions = {}): Promise<S3Backend> {
  const netns = lab.operator.netns;
  const bucket = opts.bucket ?? DEFAULT_BUCKET;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new S3BackendError(`"${bucket}" is not a valid S3 bucket name`);
  const address = opts.address ?? '127.0.0.1';
  checkAddress(address);
  const port = opts.port ?? 8333;
  const weed = findWeed(opts.weedBin);
  const endpoint = `http://${address}:${port}`;

  const dir = join(lab.stateRoot, 's3-backend');
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'weed.log');
  const recordFile = join(dir, 'server.json');
  if (existsSync(recordFile)) {
    const old = JSON.parse(readFileSync(recordFile, 'utf8')) as ServerRecord;
    if (isRunning(old)) throw new S3BackendError(`an S3 server of this lab already runs (pid ${old.pid}, ${recordFile})`);
  }
  // Something else answering on the port would pass every readiness check below.
  const before = await netnsHttp(netns, 'GET', `${endpoint}/`, '', 2_000);
  if (before.status !== 0) throw new S3BackendError(`${endpoint} already answers in ${netns} (HTTP ${before.status}): another server holds the port`);

  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o700 });
  const awsFile = join(dir, 'aws-empty');
  writeFileSync(awsFile, '');

  const args = [
    '-logtostderr',
    'server',
    `-dir=${dataDir}`,
    `-ip=${address}`,
    `-ip.bind=${address}`,
    '-master.port=9333',
    '-volume.port=8080',
    '-filer.port=8888',
    '-s3',
    `-s3.port=${port}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-master.telemetry=false',
    '-master.volumeSizeLimitMB=64',
    '-volume.preStopSeconds=0',
  ];
  const fd = openSync(logFile, 'a', 0o644);
  let rec: ServerRecord;
  try {
    // detached: its own session and process group (PGID = its PID), stopped by stop().
    const child = spawn('ip', ['netns', 'exec', netns, 'sh', '-c', START_SCRIPT, 'sh', dataDir, weed, ...args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: dir,
      // HOME: SeaweedFS reads ~/.seaweedfs/*.toml; the user's must not apply.
      env: labEnv({ HOME: dir }),
    });
    child.on('error', () => undefined); // seen as "not running" below
    child.unref();
    const pid = child.pid;
    const startTime = pid === undefined ? undefined : processStartTime(pid);
    if (pid === undefined || startTime === undefined) throw new S3BackendError(`cannot start the S3 server in ${netns}: ${tail(logFile)}`);
    rec = { pid, startTime };
  } finally {
    closeSync(fd);
  }
  writeFileSync(recordFile, `${JSON.stringify(rec)}\n`);

  const stop = async (): Promise<void> => {
    await stopServer(rec, 3_000);
    rmSync(recordFile, { force: true });
  };
  const request = (method: string, key: string, o: { body?: string | Buffer; query?: string } = {}): Promise<S3Response> => {
    const path = key === '' ? '' : `/${key.split('/').map(encodeURIComponent).join('/')}`;
    return netnsHttp(netns, method, `${endpoint}/${bucket}${path}${o.query ? `?${o.query}` : ''}`, o.body ?? '');
  };

  try {
    // Ready = the bucket exists and an object can be written, read back and deleted. The
    // first write waits for the volume server's first heartbeat and volume growth (~10 s).
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
    let last = '';
    const attempt = async (what: string, ok: (r: S3Response) => boolean, call: () => Promise<S3Response>): Promise<void> => {
      for (;;) {
        if (!isRunning(rec)) throw new S3BackendError(`the S3 server in ${netns} exited while ${what}:\n${tail(logFile)}`);
        const r = await call();
        if (ok(r)) return;
        last = `${what}: ${r.status === 0 ? r.error ?? 'no answer' : `HTTP ${r.status} ${r.body.toString('utf8').slice(0, 300)}`}`;
        if (Date.now() >= deadline) throw new S3BackendError(`the S3 server in ${netns} was not ready in time (${last}):\n${tail(logFile)}`);
        await sleep(200);
      }
    };
    await attempt('waiting for the S3 port', (r) => r.status === 200, () => netnsHttp(netns, 'GET', `${endpoint}/`, '', 2_000));
    // 200 created; 409 BucketAlreadyOwnedByYou when the data dir is reused.
    await attempt(`creating bucket ${bucket}`, (r) => r.status === 200 || (r.status === 409 && r.body.includes('BucketAlreadyOwnedByYou')), () => request('PUT', ''));
    await attempt('writing a probe object', (r) => r.status === 200, () => request('PUT', PROBE_KEY, { body: 'ready\n' }));
    await attempt('reading the probe object', (r) => r.status === 200 && r.body.toString() === 'ready\n', () => request('GET', PROBE_KEY));
    await attempt('deleting the probe object', (r) => r.status === 204 || r.status === 200, () => request('DELETE', PROBE_KEY));
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }

  const env: Record<string, string> = {
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    AWS_REGION: S3_REGION,
    AWS_DEFAULT_REGION: S3_REGION,
    // Empty values count as unset for the AWS SDK; the files are empty: no profile,
    // session token or endpoint of the user's applies.
    AWS_PROFILE: '',
    AWS_SESSION_TOKEN: '',
    AWS_ENDPOINT_URL: '',
    AWS_ENDPOINT_URL_S3: '',
    AWS_CONFIG_FILE: awsFile,
    AWS_SHARED_CREDENTIALS_FILE: awsFile,
    AWS_EC2_METADATA_DISABLED: 'true',
  };

  return {
    url: `s3://${bucket}?endpoint=${endpoint}&s3ForcePathStyle=true&region=${S3_REGION}`,
    env,
    bucket,
    endpoint,
    netns,
    dir,
    dataDir,
    logFile,
    pid: rec.pid,
    request,
    listKeys: async (prefix = '') => {
      const r = await request('GET', '', { query: `list-type=2&max-keys=1000&prefix=${encodeURIComponent(prefix)}` });
      const xml = r.body.toString('utf8');
      if (r.status !== 200) throw new S3BackendError(`listing ${bucket}/${prefix}: HTTP ${r.status} ${xml.slice(0, 300)}`);
      if (xml.includes('<IsTruncated>true</IsTruncated>')) throw new S3BackendError(`listing ${bucket}/${prefix}: more than 1000 keys`);
      return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => xmlText(m[1]!));
    },
    stop,
  };
}

/** `base` without any AWS_* variable, plus the backend's environment. */
export function withS3BackendEnv(base: NodeJS.ProcessEnv, backend: Pick<S3Backend, 'env'>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!k.startsWith('AWS_')) out[k] = v;
  return { ...out, ...backend.env };
}
