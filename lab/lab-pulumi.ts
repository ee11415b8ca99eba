// Runs the Pulumi CLI for a lab: inside the lab's operator namespace (the only place that
// routes to the lab hosts), on the repo's Pulumi project, with a file backend in the lab's
// state root — no network, no Pulumi Cloud.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from './netns/index.js';

/** What the runner needs of a lab: the netns Lab, or a vm lab (lab/vm) — same shape. */
export type LabPulumiTarget = Pick<Lab, 'stateRoot' | 'sshKeyPath'> & { readonly operator: Pick<Lab['operator'], 'netns'> };

/** The repository root (the Pulumi project: Pulumi.yaml, dist/stacks/index.js). */
export const PROJECT_DIR = resolve(fileURLToPath(import.meta.url), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));
export const LAB_STACK = 'lab';
/** Local lab only: the stack's secrets are encrypted with this passphrase unless one is set. */
export const LAB_PASSPHRASE = 'ipsec-mesh-lab';

export interface PulumiRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class LabPulumiError extends Error {
  override readonly name = 'LabPulumiError';
  constructor(
    readonly args: readonly string[],
    readonly result: PulumiRun,
  ) {
    super(`pulumi ${args.join(' ')} failed (exit ${result.code})\n${(result.stderr || result.stdout).trim()}`);
  }
}

export function labBackendDir(lab: LabPulumiTarget): string {
  return join(lab.stateRoot, 'pulumi-backend');
}

export function labPulumiEnv(lab: LabPulumiTarget): NodeJS.ProcessEnv {
  mkdirSync(labBackendDir(lab), { recursive: true });
  return {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${labBackendDir(lab)}`,
    PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? LAB_PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: process.env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION ?? 'true',
    PULUMI_STACK: LAB_STACK,
  };
}

export interface LabPulumiOptions {
  /** Print output as it comes (the main job); otherwise only captured (tests). */
  readonly stream?: boolean;
  readonly stdin?: string;
  /** Resolve with a non-zero exit instead of throwing. */
  readonly allowFailure?: boolean;
  /**
   * Another Pulumi project's directory (e.g. a consumer of the packed package): run there,
   * with that project's own stack config file, instead of this repository's stack program.
   */
  readonly project?: string;
  /**
   * Another build of this repository's stack program (e.g. the previous release, to test an
   * upgrade): run there, on the lab's own stack and config.
   */
  readonly programDir?: string;
}

/** The stack's config file lives with the lab, not in the project dir (which is the repo). */
export function labConfigFile(lab: LabPulumiTarget): string {
  return join(lab.stateRoot, `Pulumi.${LAB_STACK}.yaml`);
}

const TAKES_CONFIG_FILE = new Set(['config', 'up', 'preview', 'destroy', 'refresh']);

/** `pulumi <args>` in the operator namespace, cwd = the project. */
export async function labPulumi(lab: LabPulumiTarget, args: readonly string[], opts: LabPulumiOptions = {}): Promise<PulumiRun> {
  const configFile = opts.project === undefined && TAKES_CONFIG_FILE.has(args[0] ?? '') ? ['--config-file', labConfigFile(lab)] : [];
  const argv = ['netns', 'exec', lab.operator.netns, 'pulumi', ...args, ...configFile, '--non-interactive'];
  const result = await new Promise<PulumiRun>((resolvePromise, reject) => {
    const child = spawn('ip', argv, { cwd: opts.project ?? opts.programDir ?? PROJECT_DIR, env: labPulumiEnv(lab), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (opts.stream) process.stdout.write(d);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (opts.stream) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
  if (result.code !== 0 && !opts.allowFailure) throw new LabPulumiError(args, result);
  return result;
}

/** Creates (or selects) the lab stack and points it at the lab's inventory and SSH key. */
export async function prepareLabStack(lab: LabPulumiTarget, inventoryPath: string, config: Readonly<Record<string, string>> = {}): Promise<void> {
  const inProject = join(PROJECT_DIR, `Pulumi.${LAB_STACK}.yaml`);
  const hadProjectFile = existsSync(inProject);
  await labPulumi(lab, ['stack', 'select', '--create', LAB_STACK]);
  // `stack init` has no --config-file: move the settings file it wrote (secrets salt) to the lab.
  if (!hadProjectFile && existsSync(inProject) && !existsSync(labConfigFile(lab))) renameSync(inProject, labConfigFile(lab));
  const settings: Record<string, string> = {
    inventory: inventoryPath,
    sshPrivateKeyFile: lab.sshKeyPath,
    ...config,
  };
  for (const [key, value] of Object.entries(settings)) {
    await labPulumi(lab, ['config', 'set', `ipsec-mesh:${key}`, value]);
  }
}

/**
 * The shell lines that run `pulumi` by hand against the lab stack: the same engine, private
 * PULUMI_HOME, backend and passphrase the lab uses (never the user's ~/.pulumi).
 */
export function labPulumiShellLines(lab: LabPulumiTarget): string[] {
  const env = labPulumiEnv(lab);
  const q = (v: string): string => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
  const names = ['PULUMI_HOME', 'PULUMI_BACKEND_URL', 'PULUMI_CONFIG_PASSPHRASE', 'PULUMI_SKIP_UPDATE_CHECK', 'PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION', 'PULUMI_STACK'];
  const bin = env.IPSEC_MESH_ENGINE_BIN;
  return [
    ...(bin ? [`export PATH=${q(bin)}:"$PATH"`] : []),
    ...names.filter((n) => env[n] !== undefined).map((n) => `export ${n}=${q(env[n]!)}`),
    `cd ${q(PROJECT_DIR)}`,
    `ip netns exec ${q(lab.operator.netns)} pulumi --config-file ${q(labConfigFile(lab))} preview   # or up, stack output, …`,
  ];
}
