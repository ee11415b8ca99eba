// The package entry (`import { IpsecMesh } from 'ipsec-mesh'`): the components and the public
// API of every layer beneath them. Where two layers export the same name, an explicit export
// below picks one (explicit exports take precedence over `export *`).
export * from './mesh/index.js';
export * from './credentials/index.js';
export * from './inventory/index.js';
export * from './topology/index.js';
export * from './render/index.js';
export * from './delivery/index.js';
// Both 'ca1': the credentials layer owns CA labels, render only defaults to the same one.
export { DEFAULT_CA_LABEL } from './credentials/index.js';
