// Public surface of the delivery layer: pure functions that produce the command strings and
// stdin payloads the components hand to @pulumi/command remote.Command. No Pulumi, no SSH.
export { DeliveryError } from './delivery-error.js';
export {
  ALLOWED_ROOTS,
  SYSTEMD_UNIT_DIR,
  OWNED_NAME_PREFIX,
  checkDeliveryPath,
  deliveryStatePath,
  hostKeyPath,
  hostCsrPath,
} from './delivery-path.js';
export {
  PACKED_PAYLOAD_HEADER,
  PAYLOAD_MAGIC,
  PAYLOAD_VERSION,
  decodePayload,
  encodePayload,
  packPayload,
  unpackPayload,
  validateBundle,
  type DecodedFile,
  type DecodedPayload,
  type DeliveryBundle,
} from './delivery-payload.js';
export { pushScript, type PushScriptOptions } from './push-script.js';
export { removeScript, type RemoveScriptOptions } from './remove-script.js';
export {
  prepareHostKeyScript,
  removeHostKeyScript,
  type HostKeyScriptOptions,
  type RemoveHostKeyScriptOptions,
} from './host-key-script.js';
export {
  DAEMON_PACKAGE,
  DAEMON_UNIT,
  STRONGSWAN_PACKAGES,
  installPackagesScript,
  type InstallPackagesOptions,
} from './install-packages-script.js';
export { remoteCommand, scriptOfCommand, type ScriptKind } from './remote-shell.js';
