// The namespace-host lab: hosts as network + mount namespaces on one machine, each with
// its own charon and sshd, sites as bridges joined by a router. See docs/lab.md.
export {
  type Capture,
  type CaptureOptions,
  type ExecOptions,
  type LabDownReport,
  type LabHost,
  type LabLocation,
  type LabOperator,
  type SshOptions,
  type StartLabOptions,
  CHARON_BIN,
  Lab,
  SSHD_BIN,
  SWANCTL_BIN,
  attachLab,
  labLeftovers,
  labStateRoot,
  startLab,
  stopLab,
} from './lab.js';
export {
  type LabFamily,
  type LabHostSpec,
  type LabNatSpec,
  type LabOperatorSpec,
  type LabSiteSpec,
  type LabSpec,
  type LabStrongswan,
  type ResolvedHost,
  type ResolvedLabSpec,
  type ResolvedNat,
  type ResolvedSite,
  type ResolvedSubnet,
  DEFAULT_OPERATOR,
  LAB_RANGES,
  resolveLabSpec,
} from './lab-spec.js';
export {
  LabAlreadyUpError,
  LabCommandError,
  LabDaemonError,
  LabError,
  LabNotFoundError,
  LabPrerequisiteError,
  LabSpecError,
  type LabSpecIssue,
} from './lab-errors.js';
export {
  AUTHORIZED_KEYS,
  CHARON_LOG,
  CHARON_VICI,
  LAB_STRONGSWAN_DROPIN,
  PRIVATE_MOUNTS,
  SSHD_CONFIG,
  SSH_HOST_KEY,
} from './host-filesystem.js';
export { DEFAULT_STATE_BASE, NETNS_PREFIX, hostNetns, isLabNetns, operatorNetns, routerNetns, switchNetns } from './lab-names.js';
export { type ProcessRecord, type ProcessRole, isRunning as isProcessRunning } from './lab-state.js';
export { type ExecResult } from './run-command.js';
export { type PrerequisiteSpec, LAB_NAT_BINARIES, assertPrerequisites, missingPrerequisites } from './prerequisites.js';
export { STRONGSWAN6_BUILD_SCRIPT, STRONGSWAN6_VERSION, strongswan6Paths, strongswan6Prefix } from './strongswan6.js';
export { ESP_DROP_COUNTER, espDropCount, natRuleset, natTable } from './lab-nat.js';
export {
  type LabInventoryOptions,
  type LabInventorySource,
  labInventory,
  labInventoryYaml,
  writeLabInventory,
} from './lab-inventory.js';
export {
  type AuthConfigStatus,
  type ChildConfigStatus,
  type ChildSaStatus,
  type ConnectionStatus,
  type IkeSaStatus,
  type PolicyStatus,
  type ViciMessage,
  type ViciSection,
  type ViciValue,
  parseListConns,
  parseListPols,
  parseListSas,
  parseSwanctlPretty,
} from '../../components/operations/swanctl-status.js';
export { waitFor } from './lab-process.js';
