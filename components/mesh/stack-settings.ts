// Stack configuration (`pulumi config set ipsec-mesh:<key> …`) → IpsecMesh arguments, read
// by the stack program (stacks/index.ts) and by `ipsec-mesh render --stack` alike, so both
// see the same mesh. Pure apart from the values handed in, so every key and error is
// unit-tested. Keys:
//
//   inventory                 path of the inventory YAML, relative to the project directory (required)
//   sshPrivateKey             secret: the SSH private key (or sshPrivateKeyFile: a path to it)
//   sshPrivateKeyPassword     secret, optional
//   jumpHostPrivateKey        secret, optional (default: sshPrivateKey)
//   sshPerDialTimeout, sshDialErrorLimit     numbers, optional
//   enabled                   true | false (the off switch)
//   enforcement               off | use | require
//   siteEnforcement           JSON object, site → level
//   pairEnforcement           JSON list of { hosts: [a, b], enforcement }
//   certificateGeneration, pskGeneration, pskAcceptGeneration   whole numbers (rotation)
//   certificateValidityHours, certificateRenewBeforeHours, caValidityHours
//   ca                        JSON { current, previous?, next? } (CA rollover)
//   installPackages           true | false
//   driftCheck                true | false: before each `up`, compare every host with its last
//                             push over SSH and push drifted hosts again (default true)
//   rollout                   JSON { canaryHosts | canaryCount, waves?, waveSize?, gate?, gateTimeoutSeconds? }
import { isAbsolute, resolve } from 'node:path';
import type * as pulumi from '@pulumi/pulumi';
import type { CaRolloverArgs } from '../credentials/ca-rollover.js';
import type { Enforcement } from '../inventory/model.js';
import type { PairEnforcementArgs } from './enforcement-overrides.js';
import type { IpsecMeshArgs } from './mesh-args.js';
import type { RolloutArgs } from './rollout-plan.js';
import type { SshArgs } from './ssh-connection.js';

export const CONFIG_NAMESPACE = 'ipsec-mesh';

/** What the program reads config through (pulumi.Config in the stack, a map in tests). */
export interface ConfigSource {
  /** The raw string value of a non-secret key. */
  get(key: string): string | undefined;
  /** A secret key's value, as a secret Output. */
  getSecret(key: string): pulumi.Output<string> | undefined;
}

export class StackConfigError extends Error {
  override readonly name = 'StackConfigError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${CONFIG_NAMESPACE}:${key}: ${message}`);
  }
}

export interface StackSettings {
  /** Absolute path of the inventory file. */
  readonly inventoryPath: string;
  /** Where the SSH key comes from: a secret config value, or a file (read by the program). */
  readonly sshKey: { readonly kind: 'secret'; readonly value: pulumi.Output<string> } | { readonly kind: 'file'; readonly path: string };
  /** Every IpsecMesh argument except `inventory` and `ssh.privateKey`. */
  readonly args: Omit<IpsecMeshArgs, 'inventory' | 'ssh'>;
  readonly ssh: Omit<SshArgs, 'privateKey'>;
  /** Check every host for drift before an `up` (never in a preview). */
  readonly driftCheck: boolean;
}

function bool(source: ConfigSource, key: string): boolean | undefined {
  const v = source.get(key);
  if (v === undefined) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new StackConfigError(key, `must be true or false, got ${JSON.stringify(v)}`);
}

function num(source: ConfigSource, key: string): number | undefined {
  const v = source.get(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new StackConfigError(key, `must be a number, got ${JSON.stringify(v)}`);
  return n;
}

function json(source: ConfigSource, key: string): unknown {
  const v = source.get(key);
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    throw new StackConfigError(key, `must be JSON (set it with \`pulumi config set --path\` or a JSON string), got ${JSON.stringify(v)}`);
  }
}

const LEVELS: readonly string[] = ['off', 'use', 'require'];

function level(key: string, v: unknown): Enforcement {
  if (typeof v === 'string' && LEVELS.includes(v)) return v as Enforcement;
  throw new StackConfigError(key, `must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(v)}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function siteEnforcement(source: ConfigSource): Record<string, Enforcement> | undefined {
  const v = json(source, 'siteEnforcement');
  if (v === undefined) return undefined;
  if (!isRecord(v)) throw new StackConfigError('siteEnforcement', 'must be an object of site name → off | use | require');
  return Object.fromEntries(Object.entries(v).map(([site, l]) => [site, level(`siteEnforcement.${site}`, l)]));
}

function pairEnforcement(source: ConfigSource): PairEnforcementArgs[] | undefined {
  const v = json(source, 'pairEnforcement');
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new StackConfigError('pairEnforcement', 'must be a list of { hosts: [a, b], enforcement }');
  return v.map((entry, i) => {
    const key = `pairEnforcement[${i}]`;
    if (!isRecord(entry) || !Array.isArray(entry.hosts) || !entry.hosts.every((h) => typeof h === 'string')) {
      throw new StackConfigError(key, 'must be { hosts: [a, b], enforcement }');
    }
    return { hosts: entry.hosts as string[], enforcement: level(`${key}.enforcement`, entry.enforcement) };
  });
}

function ca(source: ConfigSource): CaRolloverArgs | undefined {
  const v = json(source, 'ca');
  if (v === undefined) return undefined;
  if (!isRecord(v) || typeof v.current !== 'string') throw new StackConfigError('ca', 'must be { "current": label, "previous"?: label, "next"?: label }');
  for (const k of Object.keys(v)) {
    if (!['current', 'previous', 'next'].includes(k)) throw new StackConfigError('ca', `unknown key "${k}" (current, previous, next)`);
    if (typeof v[k] !== 'string') throw new StackConfigError(`ca.${k}`, 'must be a CA label');
  }
  return {
    current: v.current,
    ...(typeof v.previous === 'string' ? { previous: v.previous } : {}),
    ...(typeof v.next === 'string' ? { next: v.next } : {}),
  };
}

function rollout(source: ConfigSource): RolloutArgs | undefined {
  const v = json(source, 'rollout');
  if (v === undefined) return undefined;
  // The shape and every name are checked by planRollout, which names the field at fault.
  if (!isRecord(v)) throw new StackConfigError('rollout', 'must be an object: { "canaryHosts": [...] | "canaryCount": n, "waves"?: [[...]], "waveSize"?: n, "gate"?: "ike" | "child", "gateTimeoutSeconds"?: n }');
  return v as RolloutArgs;
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The keys that decide what every host gets (everything but SSH): what `render` needs. */
export interface MeshSettings {
  /** Absolute path of the inventory file. */
  readonly inventoryPath: string;
  readonly args: StackSettings['args'];
}

/** Reads and checks the mesh keys (no SSH key needed); `projectDir` anchors relative paths. */
export function readMeshSettings(source: ConfigSource, projectDir: string): MeshSettings {
  const inventory = source.get('inventory');
  if (inventory === undefined || inventory.trim() === '') {
    throw new StackConfigError('inventory', 'is required: `pulumi config set ipsec-mesh:inventory path/to/inventory.yaml`');
  }
  const enforcement = source.get('enforcement');
  return {
    inventoryPath: isAbsolute(inventory) ? inventory : resolve(projectDir, inventory),
    args: definedOnly({
      enabled: bool(source, 'enabled'),
      enforcement: enforcement === undefined ? undefined : level('enforcement', enforcement),
      siteEnforcement: siteEnforcement(source),
      pairEnforcement: pairEnforcement(source),
      certificateGeneration: num(source, 'certificateGeneration'),
      pskGeneration: num(source, 'pskGeneration'),
      pskAcceptGeneration: num(source, 'pskAcceptGeneration'),
      certificateValidityHours: num(source, 'certificateValidityHours'),
      certificateRenewBeforeHours: num(source, 'certificateRenewBeforeHours'),
      caValidityHours: num(source, 'caValidityHours'),
      ca: ca(source),
      installPackages: bool(source, 'installPackages'),
      rollout: rollout(source),
    }),
  };
}

/** Reads and checks every key; `projectDir` anchors relative paths. Throws StackConfigError. */
export function readStackSettings(source: ConfigSource, projectDir: string): StackSettings {
  const mesh = readMeshSettings(source, projectDir);
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(projectDir, p));

  const secretKey = source.getSecret('sshPrivateKey');
  const keyFile = source.get('sshPrivateKeyFile');
  if (secretKey !== undefined && keyFile !== undefined) {
    throw new StackConfigError('sshPrivateKeyFile', 'set either sshPrivateKey (secret) or sshPrivateKeyFile, not both');
  }
  if (secretKey === undefined && keyFile === undefined) {
    throw new StackConfigError('sshPrivateKey', 'is required: `pulumi config set --secret ipsec-mesh:sshPrivateKey < key` (or set sshPrivateKeyFile)');
  }
  const password = source.getSecret('sshPrivateKeyPassword');
  const jumpKey = source.getSecret('jumpHostPrivateKey');
  return {
    inventoryPath: mesh.inventoryPath,
    sshKey: secretKey !== undefined ? { kind: 'secret', value: secretKey } : { kind: 'file', path: at(keyFile!) },
    ssh: definedOnly({
      privateKeyPassword: password,
      jumpHostPrivateKey: jumpKey,
      perDialTimeout: num(source, 'sshPerDialTimeout'),
      dialErrorLimit: num(source, 'sshDialErrorLimit'),
    }),
    args: mesh.args,
    driftCheck: bool(source, 'driftCheck') ?? true,
  };
}
