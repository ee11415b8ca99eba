// Public surface of the render layer: pure functions from inventory data to host files.
export type { RenderedFile } from './rendered-file.js';
export { RenderError, type RenderErrorCode, type RenderErrorContext } from './render-error.js';
export {
  meshFilePaths,
  caCertFileName,
  hostCertFileName,
  CHARON_CONF_PATH,
  CHARON_LOG_PATH,
  type MeshFilePaths,
} from './file-paths.js';
export {
  renderHostConfig,
  describeHostConfig,
  type HostConfigInput,
  type HostConfigDescription,
} from './host-config.js';
export { renderPskSecrets, type PskSecretsInput } from './psk-secrets.js';
export { renderMonitorFiles, livenessTargets, type MonitorSettings, type MonitorFilesInput } from './monitor-files.js';
export {
  espOverheadBytes,
  espInnerMtu,
  espTransforms,
  transformOverhead,
  transformInnerMtu,
  tcpMss,
  ESP_HEADER_BYTES,
  ESP_TRAILER_BYTES,
  UDP_ENCAP_BYTES,
  IP_HEADER_BYTES,
  TCP_HEADER_BYTES,
  type EspTransform,
  type EspOverhead,
} from './esp-overhead.js';
export { BYPASS_POLICY_PRIORITY, FALLBACK_BYPASS_POLICY_PRIORITY, MESH_POLICY_PRIORITY, CHILD_ACTIONS } from './swanctl-conf.js';
export { bypassConnectionName, icmpSelectorPort, ICMP_FRAG_NEEDED, ICMPV6_PACKET_TOO_BIG, ND_NEIGHBOR_SOLICITATION, ND_NEIGHBOR_ADVERTISEMENT, type BypassShunt, type IcmpMessage } from './bypass-shunts.js';
export { backstopTable, renderBackstopNft, renderBackstopUnit, requirePeerAddresses, IKE_PORTS, type BackstopInput } from './backstop-nft.js';
export { isLinkClamped, planMssClamp, type MssClamp } from './mss-clamp.js';
export { perPeerConnectionName, compactConnectionName, type ChildRole } from './mesh-connections.js';
export { RETRANSMIT, IKE_FRAGMENT_SIZE_MAX } from './charon-conf.js';
export { formatPeerSheet, planPeerSheet, ppkCommand, pskCommand, PEER_SHEETS_OUTPUT, UNMANAGED_PPKS_OUTPUT, UNMANAGED_SECRETS_OUTPUT, type PeerSheet, type PeerSheetConnection, type PeerSheetPpk } from './peer-sheet.js';
export { renderPpkSecrets, type PpkSecretsInput } from './ppk-secrets.js';
export { meshPpkId, pairPpkId } from './ppk-id.js';
