// Arguments of the IpsecMesh component. Everything that decides how many resources exist
// (the inventory: hosts, sites, pairs) is plain data; credentials may be Outputs.
import type { Enforcement, Inventory } from '../inventory/model.js';
import type { InventoryInput } from '../inventory/inventory-input.js';
import type { CaRolloverArgs } from '../credentials/ca-rollover.js';
import type { PairEnforcementArgs } from './enforcement-overrides.js';
import type { RolloutArgs } from './rollout-plan.js';
import type { SshArgs } from './ssh-connection.js';

/**
 * A parsed inventory (`loadInventoryFile`, `parseInventory`) or the raw object form that
 * `parseInventory` accepts. The inventory's own types (rules are a tagged union) are not
 * expressible in a Pulumi package schema, so this argument is for TypeScript callers.
 */
export type MeshInventory = Inventory | InventoryInput;

export interface IpsecMeshArgs {
  /** Hosts, sites, pair rules and mesh settings (auth mode, layout, proposals …). Plain data. */
  inventory: MeshInventory;
  /** Overrides the inventory's `mesh.enforcement`: off | use | require. */
  enforcement?: Enforcement;
  /** Site name → enforcement, replacing the site's own level (staged rollout). */
  siteEnforcement?: Record<string, Enforcement>;
  /** Per-pair enforcement, replacing the inventory's override of the same pair. */
  pairEnforcement?: PairEnforcementArgs[];
  /** The off switch. false: every mesh connection is unloaded; bypass policies and SSH stay. Default true. */
  enabled?: boolean;
  /** Bump to replace every host key and certificate (generated on the hosts, pushed, reloaded). Default 0. */
  certificateGeneration?: number;
  /** CA labels for a rollover: which CA issues, which others are trusted. Default `{ current: 'ca1' }`. */
  ca?: CaRolloverArgs;
  /**
   * The PSK generation hosts sign with: bump to replace the PSK master secret (and so every pair
   * key). PSK mode only. Default 0. Without a flag day: see pskAcceptGeneration.
   */
  pskGeneration?: number;
  /**
   * A second PSK generation whose pair keys hosts also accept from their peers but never sign
   * with: the transition of a rotation (docs/components.md, *PSK rotation*). Rotate g → g+1 in
   * three `up`s: `pskAcceptGeneration: g+1`; then `pskGeneration: g+1, pskAcceptGeneration: g`;
   * then drop pskAcceptGeneration. PSK mode only.
   */
  pskAcceptGeneration?: number;
  /** Validity of host certificates in hours. Default 8760 (one year). */
  certificateValidityHours?: number;
  /**
   * Any `up` within this many hours of a host certificate's expiry renews it (same host key,
   * new certificate, pushed; running SAs stay up). Default 720 (30 days), at most a quarter of
   * a shorter validity; must be shorter than the validity.
   */
  certificateRenewBeforeHours?: number;
  /** Validity of CA certificates in hours. Default 87600 (ten years). */
  caValidityHours?: number;
  /** How to reach the hosts: the private key (a secret) and dial settings. */
  ssh: SshArgs;
  /** Install the strongSwan packages (Debian/Ubuntu) and enable the service first. Default false. */
  installPackages?: boolean;
  /**
   * Staged rollout: push a canary first, then waves, each after a gate saw every pair of the
   * wave before it up (docs/components.md, *Staged rollout*). Default: every host at once.
   */
  rollout?: RolloutArgs;
  /**
   * Hosts whose files or kernel settings drifted from the last push (`checkDrift`): pushed
   * again in this `up`, by a one-off repair command. The stack program fills it itself.
   */
  repairHosts?: string[];
}
