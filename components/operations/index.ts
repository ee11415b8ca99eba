// Public surface of the operations layer: reading back what charon holds, per pair.
export * from './swanctl-status.js';
export * from './pair-status.js';
export { runOverSsh, mapLimited, SshRunError, type SshRunOptions, type SshResult } from './ssh-runner.js';
export { scanHostKeys, formatHostKeySnippets, type HostKeyScanOptions, type ScannedKey } from './host-key-scan.js';
export { collectSaReports, collectPairStatus, type CollectOptions } from './collect-status.js';
export * from './liveness-xfrm.js';
export * from './liveness-check.js';
export * from './monitor-script.js';
export * from './monitor-units.js';
export { collectCertificateExpiry, parseCertificateExpiry, formatCertificateExpiry, type CertificateExpiry, type HostCertificateReport } from './certificate-expiry.js';
export { checkDrift, parseDriftReport, formatDrift, DRIFT_CHECK_SCRIPT, type HostDrift } from './drift-check.js';
export * from './mesh-check.js';
