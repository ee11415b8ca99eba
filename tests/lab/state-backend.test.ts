// A real S3-compatible object store (SeaweedFS, built by scripts/build-s3-server.sh) as the
// Pulumi state backend, inside a lab's operator namespace (lab/s3-backend.ts): login, stack
// init and up against it; Pulumi's lock holding off a concurrent `up`; and the stored state
// carrying the password only as a passphrase-encrypted secret (issue 14 item 6). Then the CI
// example (examples/ci/ipsec-mesh-ci.sh) against it, on three namespace hosts: `up` on merge,
// a preview of a change on a pull request with every host's sshd down, a workstation `up`
// on the same state.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_DIR } from '../../lab/lab-pulumi.js';
import { processesInNetns } from '../../lab/netns/lab.js';
import { type Lab, type ProcessRecord, startLab, stopLab, waitFor } from '../../lab/netns/index.js';
import { processStartTime } from '../../lab/netns/lab-state.js';
import { run } from '../../lab/netns/run-command.js';
import { type S3Backend, startS3Backend, withS3BackendEnv } from '../../lab/s3-backend.js';
import { expectNothingLeft, requireLabPrerequisites, threeHostSpec } from './lab-test-support.js';
import { sshSessions, useEngine } from './pulumi-support.js';
import { writeLabInventory } from '../../lab/netns/lab-inventory.js';

const NAME = 's3state';
const PROJECT = 's3-state-check';
const STACK = 'dev';
const PASSPHRASE = 'ipsec-mesh-s3-state-test';
/** Pulumi's marker of an encrypted secret in a checkpoint (resource.SecretSig). */
const SECRET_SIG = '4dabf18193072939515e22adb298388d';
const SECRET_SIG_VALUE = '1b47061264138c4ac30d75fd1eb44270';
/** What the DIY backend says when another update holds the stack (pkg/backend/diy/lock.go). */
const LOCKED = 'the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.';

// CommonJS, no TypeScript: one secret RandomPassword and one Command that sleeps 8 s, which
// a config value (`round`) replaces, so a later `up` sleeps again.
const PROGRAM = `"use strict";
const pulumi = require("@pulumi/pulumi");
const random = require("@pulumi/random");
const command = require("@pulumi/command");
const round = new pulumi.Config().get("round") || "1";
const password = new random.RandomPassword("password", { length: 32, special: false }, { additionalSecretOutputs: ["result"] });
const sleeper = new command.local.Command("sleeper", { create: "sleep 8", triggers: [round] });
exports.password = password.result;
exports.sleeperId = sleeper.id;
`;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  readonly output: () => string;
  readonly done: Promise<Run>;
}

let lab: Lab | undefined;
let backend: S3Backend | undefined;
let project = '';
let started: ProcessRecord[] = [];
let setupError: unknown;

function pulumiEnv(): NodeJS.ProcessEnv {
  const env = withS3BackendEnv(process.env, backend!);
  for (const k of ['PULUMI_BACKEND_URL', 'PULUMI_ACCESS_TOKEN', 'PULUMI_CONFIG_PASSPHRASE_FILE', 'PULUMI_DIY_BACKEND_GZIP', 'PULUMI_STACK']) delete env[k];
  return {
    ...env,
    PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    // `pulumi login` records the backend here, not in the engine's shared PULUMI_HOME.
    PULUMI_CREDENTIALS_PATH: join(project, '.credentials'),
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
  };
}

/** `argv` in the operator namespace (where the lab's own pulumi runs: lab/lab-pulumi.ts). */
function startInOperatorNs(argv: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv; stdin?: string }): Running {
  const child = spawn('ip', ['netns', 'exec', lab!.operator.netns, ...argv], { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(opts.stdin ?? '');
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { child, output: () => stdout + stderr, done };
}

/** `pulumi ARGS` in the operator namespace, on the throwaway project. */
function startPulumi(args: readonly string[]): Running {
  return startInOperatorNs(['pulumi', ...args, '--non-interactive'], { cwd: project, env: pulumiEnv() });
}

async function pulumi(args: readonly string[]): Promise<Run> {
  return startPulumi(args).done;
}

async function pulumiOk(args: readonly string[]): Promise<string> {
  const r = await pulumi(args);
  if (r.code !== 0) throw new Error(`pulumi ${args.join(' ')} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** PIDs of `sleep 8` (the Command's create) running in the operator namespace. */
function sleepersInOperatorNs(): number[] {
  return processesInNetns([lab!.operator.netns]).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').endsWith('sleep 8');
    } catch {
      return false;
    }
  });
}

interface Checkpoint {
  readonly checkpoint: {
    readonly latest?: {
      readonly resources?: readonly { readonly type: string; readonly urn: string; readonly outputs?: Record<string, unknown> }[];
      readonly pending_operations?: readonly unknown[];
    };
  };
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return files(p);
    return e.isFile() ? [p] : [];
  });
}

beforeAll(async () => {
  try {
    requireLabPrerequisites();
    useEngine();
    await stopLab(NAME); // a previous run that crashed; our own name only
    // Three hosts with sshd and charon: the CI example deploys a mesh on them.
    lab = await startLab(threeHostSpec(NAME));
    started = [...lab.processes];
    backend = await startS3Backend(lab);
    project = mkdtempSync(join(tmpdir(), 'ipsec-mesh-s3-state-'));
    writeFileSync(join(project, 'Pulumi.yaml'), `name: ${PROJECT}\nruntime: nodejs\n`);
    writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: PROJECT, main: 'index.js' })}\n`);
    writeFileSync(join(project, 'index.js'), PROGRAM);
    symlinkSync(join(PROJECT_DIR, 'node_modules'), join(project, 'node_modules'), 'dir');
  } catch (e) {
    setupError = e;
  }
}, 180_000);

afterAll(async () => {
  const serverPid = backend?.pid;
  await backend?.stop();
  if (lab) await stopLab(NAME);
  if (project) rmSync(project, { recursive: true, force: true });
  // `stack init` recorded the selected stack in the engine's PULUMI_HOME; that project is gone.
  const workspaces = join(process.env.PULUMI_HOME ?? '', 'workspaces');
  if (process.env.PULUMI_HOME && existsSync(workspaces)) {
    for (const f of readdirSync(workspaces)) if (f.startsWith(`${PROJECT}-`)) rmSync(join(workspaces, f), { force: true });
  }
  rmSync(join(PROJECT_DIR, `Pulumi.${CI_STACK}.yaml`), { force: true });
  if (serverPid !== undefined) expect(processStartTime(serverPid), 'the S3 server still runs').toBeUndefined();
  if (lab) expectNothingLeft(NAME, started);
}, 60_000);

describe('an S3 object store (SeaweedFS) as the Pulumi state backend, in the operator namespace', () => {
  it('listens only inside the operator namespace, with its data under the lab state root', async () => {
    if (setupError) throw setupError;
    expect(backend!.url).toBe('s3://pulumi-state?endpoint=http://127.0.0.1:8333&s3ForcePathStyle=true&region=us-east-1');
    expect(backend!.dataDir.startsWith(`${lab!.stateRoot}/`)).toBe(true);
    expect(processesInNetns([lab!.operator.netns])).toContain(backend!.pid);
    expect(statSync(backend!.dataDir).isDirectory()).toBe(true);
    // Every port the server opened (S3, master, volume, filer and their gRPC) is on the
    // operator namespace's loopback: nothing on a lab address, nothing in the root namespace.
    const listening = (await run(['ip', 'netns', 'exec', lab!.operator.netns, 'ss', '-H', '-ltnp'], { check: true })).stdout.trim().split('\n');
    const ofServer = listening.filter((l) => l.includes(`pid=${backend!.pid},`));
    expect(ofServer.map((l) => l.split(/\s+/)[3]).sort()).toEqual(
      ['127.0.0.1:18080', '127.0.0.1:18333', '127.0.0.1:18888', '127.0.0.1:19333', '127.0.0.1:8080', '127.0.0.1:8333', '127.0.0.1:8888', '127.0.0.1:9333'],
    );
    expect(listening.length).toBe(ofServer.length);
  });

  it('takes pulumi login, stack init with the passphrase provider, and up', async () => {
    if (setupError) throw setupError;
    const login = await pulumiOk(['login', backend!.url]);
    expect(login).toContain(`Logged in to`);
    expect(login).toContain(backend!.url);
    const who = await pulumiOk(['whoami', '--verbose']);
    expect(who).toContain(`Backend URL: ${backend!.url}`);
    await pulumiOk(['stack', 'init', STACK, '--secrets-provider', 'passphrase']);
    await pulumiOk(['up', '--yes', '--skip-preview', '--stack', STACK]);
    const keys = await backend!.listKeys('.pulumi/');
    expect(keys).toContain(`.pulumi/stacks/${PROJECT}/${STACK}.json`);
    expect(keys.filter((k) => k.startsWith('.pulumi/locks/')), 'a lock left after up').toEqual([]);
  }, 90_000);

  it('holds off a second up with its lock while the first one runs, and the state stays whole', async () => {
    if (setupError) throw setupError;
    await pulumiOk(['config', 'set', 'round', '2', '--stack', STACK]);
    const first = startPulumi(['up', '--yes', '--skip-preview', '--stack', STACK]);
    // Inside the sleep: the replacement Command's `sleep 8` runs in the operator namespace.
    const inSleep = await waitFor(() => (sleepersInOperatorNs().length > 0 ? true : undefined), 30_000, 50);
    expect(inSleep, `the first up never reached the sleep:\n${first.output()}`).toBe(true);
    const lockKeys = (await backend!.listKeys('.pulumi/locks/')).filter((k) => k.endsWith('.json'));
    expect(lockKeys, 'the first up holds one lock object in the bucket').toHaveLength(1);

    const second = await pulumi(['up', '--yes', '--skip-preview', '--stack', STACK]);
    expect(second.code).not.toBe(0);
    expect(`${second.stdout}${second.stderr}`).toContain(LOCKED);
    // The message names the lock object, in the bucket of this backend.
    expect(`${second.stdout}${second.stderr}`).toContain(`s3://pulumi-state/${lockKeys[0]}`);
    expect(sleepersInOperatorNs().length, 'the first up is still sleeping when the second one has given up').toBeGreaterThan(0);

    const r = await first.done;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(await backend!.listKeys('.pulumi/locks/'), 'a lock left after both').toEqual([]);

    const exported = JSON.parse(await pulumiOk(['stack', 'export', '--stack', STACK])) as { deployment: Checkpoint['checkpoint']['latest'] };
    const types = (exported.deployment?.resources ?? []).map((x) => x.type).sort();
    expect(types).toEqual(['command:local:Command', 'pulumi:providers:command', 'pulumi:providers:random', 'pulumi:pulumi:Stack', 'random:index/randomPassword:RandomPassword']);
    expect(exported.deployment?.pending_operations ?? []).toEqual([]);
    const noop = await pulumi(['up', '--yes', '--skip-preview', '--expect-no-changes', '--stack', STACK]);
    expect(noop.code, `${noop.stdout}\n${noop.stderr}`).toBe(0);
    expect(noop.stdout).not.toMatch(/\b(created|updated|deleted|replaced)\b/);
  }, 120_000);

  it('stores the password only as an encrypted secret: the plaintext is in no object of the bucket', async () => {
    if (setupError) throw setupError;
    const plaintext = (await pulumiOk(['stack', 'output', 'password', '--show-secrets', '--stack', STACK])).trim();
    expect(plaintext).toMatch(/^[A-Za-z0-9]{32}$/);

    const stateKey = `.pulumi/stacks/${PROJECT}/${STACK}.json`;
    const state = await backend!.request('GET', stateKey);
    expect(state.status).toBe(200);
    const checkpoint = JSON.parse(state.body.toString('utf8')) as Checkpoint;
    const pw = checkpoint.checkpoint.latest?.resources?.find((x) => x.type === 'random:index/randomPassword:RandomPassword');
    const result = pw?.outputs?.['result'] as Record<string, unknown> | undefined;
    expect(result?.[SECRET_SIG]).toBe(SECRET_SIG_VALUE);
    expect(typeof result?.['ciphertext']).toBe('string');
    expect(result?.['plaintext']).toBeUndefined();

    // Every object Pulumi wrote (checkpoint, its backup, history, stack config meta), raw bytes.
    const keys = await backend!.listKeys('');
    expect(keys.length).toBeGreaterThan(2);
    for (const key of keys) {
      const o = await backend!.request('GET', key);
      expect(o.status, key).toBe(200);
      expect(o.body.includes(plaintext), `${key} holds the password in plaintext`).toBe(false);
    }
    // The export without --show-secrets and the server's own files don't have it either.
    expect(await pulumiOk(['stack', 'export', '--stack', STACK])).not.toContain(plaintext);
    for (const f of files(backend!.dataDir)) expect(readFileSync(f).includes(plaintext), f).toBe(false);
  }, 60_000);
});

// ---- The CI example against the same backend ----

const CI_STACK = 's3ci';
const CI_CONF = `/etc/swanctl/conf.d/ipsec-mesh_${NAME}.conf`;
const CI_HOSTS = ['a', 'b', 'c'];

/** The environment CI gives the script (examples/ci/github-actions.yml, gitlab-ci.yml). */
function ciEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = withS3BackendEnv(process.env, backend!);
  for (const k of ['PULUMI_STACK', 'PULUMI_CONFIG_PASSPHRASE_FILE', 'GITHUB_STEP_SUMMARY']) delete env[k];
  return {
    ...env,
    PULUMI_BACKEND_URL: backend!.url,
    PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
    IPSEC_MESH_STACK: CI_STACK,
    IPSEC_MESH_CONFIG_FILE: ciConfigFile(),
    ...extra,
  };
}

function ciConfigFile(): string {
  return join(lab!.stateRoot, `Pulumi.${CI_STACK}.yaml`);
}

/** A command in the operator namespace (where the hosts are reachable), cwd = the repository. */
function inOperatorNs(argv: readonly string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Run> {
  return startInOperatorNs(argv, { cwd: PROJECT_DIR, env, stdin }).done;
}

const ciScript = (mode: 'preview' | 'up', extra: Record<string, string> = {}): Promise<Run> =>
  inOperatorNs(['bash', join(PROJECT_DIR, 'examples/ci/ipsec-mesh-ci.sh'), mode], ciEnv(extra));

async function workstationPulumi(args: readonly string[], stdin = ''): Promise<Run> {
  const stack = args[0] === 'stack' ? [] : ['--stack', CI_STACK];
  const r = await inOperatorNs(['pulumi', ...args, ...stack, '--non-interactive'], ciEnv(), stdin);
  if (r.code !== 0) throw new Error(`pulumi ${args.join(' ')} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

describe('the CI example (examples/ci) against the S3 backend, on a lab mesh', () => {
  it('up on merge, a reviewable preview without SSH on a pull request, a workstation up on the same state', async () => {
    if (setupError) throw setupError;
    const inventory = writeLabInventory(lab!, { mesh: { auth: 'psk' } });
    // The team's stack: created once from a workstation, its settings file in the repository
    // (here the lab's state root; `stack init` has no --config-file, so it is moved there).
    await workstationPulumi(['stack', 'init', CI_STACK, '--secrets-provider', 'passphrase']);
    const inProject = join(PROJECT_DIR, `Pulumi.${CI_STACK}.yaml`);
    if (existsSync(inProject)) renameSync(inProject, ciConfigFile());
    const config = ['--config-file', ciConfigFile()];
    await workstationPulumi(['config', 'set', ...config, 'ipsec-mesh:inventory', inventory]);
    await workstationPulumi(['config', 'set', ...config, '--secret', 'ipsec-mesh:sshPrivateKey'], readFileSync(lab!.sshKeyPath, 'utf8'));

    // Merge: the up job.
    const merged = await ciScript('up');
    expect(merged.code, `${merged.stdout}\n${merged.stderr}`).toBe(0);
    for (const h of CI_HOSTS) expect(lab!.readHostFile(h, CI_CONF), h).toContain('rekey_time = 3600s');

    // A pull request changes a lifetime; CI has no way to the hosts (every sshd is down).
    writeLabInventory(lab!, { mesh: { auth: 'psk', lifetimes: { childRekeySeconds: 1800 } }, file: inventory });
    const sessions = CI_HOSTS.map((h) => sshSessions(lab!, h));
    const report = join(project, 'ipsec-mesh-preview.md');
    const summary = join(project, 'step-summary.md');
    writeFileSync(summary, '');
    for (const h of CI_HOSTS) await lab!.stopSshd(h);
    let preview: Run;
    try {
      preview = await ciScript('preview', { IPSEC_MESH_REPORT: report, GITHUB_STEP_SUMMARY: summary });
    } finally {
      for (const h of CI_HOSTS) await lab!.startSshd(h);
    }
    expect(preview.code, `${preview.stdout}\n${preview.stderr}`).toBe(0);
    expect(CI_HOSTS.map((h) => sshSessions(lab!, h))).toEqual(sessions);
    const md = readFileSync(report, 'utf8');
    expect(md.startsWith(`### ipsec-mesh: \`pulumi preview --diff\` of stack \`${CI_STACK}\``)).toBe(true);
    expect(md).toContain('```diff\n');
    // In the diff block the markers stand in the first column, one pair per host.
    expect(md.match(/^-\s+rekey_time = 3600s$/gm)).toHaveLength(CI_HOSTS.length);
    expect(md.match(/^\+\s+rekey_time = 1800s$/gm)).toHaveLength(CI_HOSTS.length);
    expect(readFileSync(summary, 'utf8')).toBe(md);
    // No secret: not the SSH key, not a pair key (the hosts' own secrets files).
    expect(md).not.toContain(readFileSync(lab!.sshKeyPath, 'utf8').split('\n')[1]!);
    for (const h of CI_HOSTS) {
      const secrets = lab!.readHostFile(h, `/etc/swanctl/conf.d/ipsec-mesh_${NAME}_secrets.conf`);
      for (const m of secrets.matchAll(/secret = (\S+)/g)) expect(md).not.toContain(m[1]!);
    }

    // A workstation up on the same state applies it; CI's next preview has nothing left to show.
    await workstationPulumi(['up', '--yes', '--skip-preview', ...config]);
    for (const h of CI_HOSTS) expect(lab!.readHostFile(h, CI_CONF), h).toContain('rekey_time = 1800s');
    const after = await ciScript('preview', { IPSEC_MESH_REPORT: report });
    expect(after.code).toBe(0);
    expect(readFileSync(report, 'utf8')).not.toMatch(/rekey_time/);
    expect(await backend!.listKeys(`.pulumi/stacks/ipsec-mesh/`)).toContain(`.pulumi/stacks/ipsec-mesh/${CI_STACK}.json`);

    await workstationPulumi(['destroy', '--yes', '--skip-preview', ...config]);
    await workstationPulumi(['stack', 'rm', '--yes', CI_STACK]);
  }, 300_000);
});
