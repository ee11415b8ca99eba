// Public API of the inventory layer.
export type * from './model.js';
export { ADDRESS_FAMILIES, ENFORCEMENT_LEVELS, MSS_CLAMP_MODES, QUANTUM_RESISTANCE_LEVELS, STRONGSWAN_LINES } from './model.js';
export type * from './inventory-input.js';
export { InventoryError, formatIssue, type InventoryIssue } from './inventory-error.js';
export { parseInventory } from './parse-inventory.js';
export { loadInventoryFile, loadInventoryYaml } from './load-inventory.js';
export { matchesSelector, selectHosts, type SelectableHost } from './host-selector.js';
export * from './defaults.js';
export { checkHostTrust, insecureHostKeyWarnings } from './host-trust.js';
export { isManaged, managedHosts } from './managed-hosts.js';
export { dnRdns, ikeIdentityKind, type IkeIdentityKind } from './ike-identity.js';
