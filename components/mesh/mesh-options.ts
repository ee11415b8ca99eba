// IpsecMeshArgs → the settings the component wires, validated. Pure (no Pulumi resources),
// so every rule here is unit-tested without mocks. Runtime checks cover callers that are
// not type-checked (stack config, JavaScript, other languages).
import * as pulumi from '@pulumi/pulumi';
import { planCaRollover, type CaPlan } from '../credentials/ca-rollover.js';
import {
  DEFAULT_CA_VALIDITY_HOURS,
  DEFAULT_CERTIFICATE_VALIDITY_HOURS,
  validateGeneration,
  validateRenewBeforeHours,
  validateValidityHours,
} from '../credentials/certificate-profile.js';
import { CredentialsError } from '../credentials/credentials-error.js';
import { parseInventory } from '../inventory/parse-inventory.js';
import type { Inventory } from '../inventory/model.js';
import { checkHostTrust } from '../inventory/host-trust.js';
import { InventoryError } from '../inventory/inventory-error.js';
import { computeHostPairs } from '../topology/compute-host-pairs.js';
import type { HostPairSet } from '../topology/host-pair-set.js';
import { applyEnforcementOverrides } from './enforcement-overrides.js';
import type { IpsecMeshArgs, MeshInventory } from './mesh-args.js';
import { MeshArgsError } from './mesh-error.js';
import { planRollout, type RolloutPlan } from './rollout-plan.js';

export interface MeshOptions {
  /** The inventory with the stack's enforcement overrides applied. */
  readonly inventory: Inventory;
  readonly pairs: HostPairSet;
  readonly enabled: boolean;
  readonly installPackages: boolean;
  /** Staged rollout: waves and gate (undefined: every host at once). */
  readonly rollout?: RolloutPlan;
  /** Hosts pushed again because they drifted. */
  readonly repairHosts: ReadonlySet<string>;
  /** Certificate mode only. */
  readonly certificates?: {
    readonly generation: number;
    readonly validityHours: number;
    /** A host certificate is replaced by any `up` within this many hours of its expiry. */
    readonly renewBeforeHours: number;
    readonly caValidityHours: number;
    readonly ca: CaPlan;
  };
  /** PSK mode only. */
  readonly psk?: {
    /** The generation every host signs with (and accepts). */
    readonly generation: number;
    /** A generation also accepted from peers, never signed with (a rotation's transition). */
    readonly acceptGeneration?: number;
  };
}

/** Source name of an inventory given as an object (issues name it). */
export const ARGS_INVENTORY_SOURCE = '<IpsecMesh args.inventory>';

function isParsedInventory(value: MeshInventory): value is Inventory {
  // Only the model carries `source` (the input schema is strict and has no such key).
  return typeof (value as { source?: unknown }).source === 'string' && Array.isArray((value as Inventory).rules);
}

/** Outputs or promises inside the inventory would make the resource count unknowable at preview. */
function findDeferred(value: unknown, path: string, depth = 0): string | undefined {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return path;
  if (depth > 12 || value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const hit = findDeferred(v, Array.isArray(value) ? `${path}[${k}]` : `${path}.${k}`, depth + 1);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

function optionalBoolean(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new MeshArgsError(field, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function optionalNumber(field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw new MeshArgsError(field, `must be a number, got ${JSON.stringify(value)}`);
  return value;
}

/** Throws MeshArgsError, CredentialsError, InventoryError or TopologyError, each naming what is wrong. */
export function resolveMeshOptions(args: IpsecMeshArgs): MeshOptions {
  if (args === undefined || args === null || typeof args !== 'object') {
    throw new MeshArgsError('args', 'IpsecMesh needs an args object with at least `inventory` and `ssh`');
  }
  const options = resolveMeshSettings(args);
  if (args.ssh === undefined || args.ssh === null || args.ssh.privateKey === undefined) {
    throw new MeshArgsError('ssh.privateKey', 'is required: the private key every host accepts for SSH');
  }
  return options;
}

/**
 * Everything but SSH: what decides the files each host gets. `ipsec-mesh render` resolves
 * stack config through this, the component through resolveMeshOptions: the same mesh.
 */
export function resolveMeshSettings(args: Omit<IpsecMeshArgs, 'ssh'>): MeshOptions {
  if (args === undefined || args === null || typeof args !== 'object') {
    throw new MeshArgsError('args', 'the mesh settings need an args object with at least `inventory`');
  }
  if (args.inventory === undefined || args.inventory === null || typeof args.inventory !== 'object') {
    throw new MeshArgsError('inventory', 'is required (a parsed inventory or the object form parseInventory accepts)');
  }
  const deferred = findDeferred(args.inventory, 'inventory');
  if (deferred !== undefined) {
    throw new MeshArgsError(deferred, 'must be plain data, not a pulumi Output or Promise: hosts and pairs decide how many resources exist');
  }
  const parsed = isParsedInventory(args.inventory) ? args.inventory : parseInventory(args.inventory, ARGS_INVENTORY_SOURCE);
  const inventory = applyEnforcementOverrides(parsed, {
    ...(args.enforcement === undefined ? {} : { enforcement: args.enforcement }),
    ...(args.siteEnforcement === undefined ? {} : { siteEnforcement: args.siteEnforcement }),
    ...(args.pairEnforcement === undefined ? {} : { pairEnforcement: args.pairEnforcement }),
  });
  const pairs = computeHostPairs(inventory);
  // Root-level config goes over SSH to every host: only to the key the inventory pins.
  const untrusted = checkHostTrust(inventory);
  if (untrusted.length > 0) throw new InventoryError(inventory.source, untrusted);

  const enabled = optionalBoolean('enabled', args.enabled, true);
  const installPackages = optionalBoolean('installPackages', args.installPackages, false);
  const rollout = args.rollout === undefined ? undefined : planRollout(inventory, args.rollout);
  const repairHosts = new Set<string>();
  if (args.repairHosts !== undefined) {
    if (!Array.isArray(args.repairHosts)) throw new MeshArgsError('repairHosts', 'must be a list of host names');
    args.repairHosts.forEach((h, i) => {
      if (!inventory.hosts.some((x) => x.name === h)) throw new MeshArgsError(`repairHosts[${i}]`, `${JSON.stringify(h)} is not a host of the inventory`);
      repairHosts.add(h);
    });
  }
  const staged = { repairHosts, ...(rollout === undefined ? {} : { rollout }) };
  const certificateGeneration = optionalNumber('certificateGeneration', args.certificateGeneration);
  const pskGeneration = optionalNumber('pskGeneration', args.pskGeneration);
  const pskAcceptGeneration = optionalNumber('pskAcceptGeneration', args.pskAcceptGeneration);
  const validity = optionalNumber('certificateValidityHours', args.certificateValidityHours);
  const caValidity = optionalNumber('caValidityHours', args.caValidityHours);
  const renewBefore = optionalNumber('certificateRenewBeforeHours', args.certificateRenewBeforeHours);

  if (inventory.mesh.auth === 'psk') {
    // Settings that would silently do nothing are mistakes: say so.
    const certOnly: [string, unknown][] = [
      ['certificateGeneration', certificateGeneration],
      ['ca', args.ca],
      ['certificateValidityHours', validity],
      ['caValidityHours', caValidity],
      ['certificateRenewBeforeHours', renewBefore],
    ];
    for (const [field, value] of certOnly) {
      if (value !== undefined) throw new MeshArgsError(field, `applies to certificate authentication; the inventory's mesh.auth is psk`);
    }
    const generation = validateGeneration('pskGeneration', pskGeneration);
    if (pskAcceptGeneration === undefined) return { inventory, pairs, enabled, installPackages, ...staged, psk: { generation } };
    const acceptGeneration = validateGeneration('pskAcceptGeneration', pskAcceptGeneration);
    if (acceptGeneration === generation) {
      throw new MeshArgsError('pskAcceptGeneration', `is the generation hosts already sign with (pskGeneration ${generation}): leave it out, or name the generation you rotate to or from`);
    }
    return { inventory, pairs, enabled, installPackages, ...staged, psk: { generation, acceptGeneration } };
  }

  for (const [field, value] of [['pskGeneration', pskGeneration], ['pskAcceptGeneration', pskAcceptGeneration]] as const) {
    if (value !== undefined) throw new MeshArgsError(field, `applies to psk authentication; the inventory's mesh.auth is ${inventory.mesh.auth}`);
  }
  const validityHours = validateValidityHours('certificateValidityHours', validity, DEFAULT_CERTIFICATE_VALIDITY_HOURS);
  const caValidityHours = validateValidityHours('caValidityHours', caValidity, DEFAULT_CA_VALIDITY_HOURS);
  if (validityHours > caValidityHours) {
    throw new CredentialsError('certificateValidityHours', `${validityHours} h outlives the CA (caValidityHours ${caValidityHours} h)`);
  }
  return {
    inventory,
    pairs,
    enabled,
    installPackages,
    ...staged,
    certificates: {
      generation: validateGeneration('certificateGeneration', certificateGeneration),
      validityHours,
      renewBeforeHours: validateRenewBeforeHours(renewBefore, validityHours),
      caValidityHours,
      ca: planCaRollover(args.ca),
    },
  };
}
