// Public surface of the credentials layer: certificate profile, CA rollover plan, PSK derivation.
export { CredentialsError } from './credentials-error.js';
export {
  CA_ALLOWED_USES,
  CA_MAX_PATH_LENGTH,
  DEFAULT_CA_VALIDITY_HOURS,
  DEFAULT_CERTIFICATE_VALIDITY_HOURS,
  ECDSA_CURVE,
  ECDSA_CURVE_OPENSSL,
  HOST_ALLOWED_USES,
  KEY_ALGORITHM,
  caSubject,
  validateGeneration,
  validateValidityHours,
  validateRenewBeforeHours,
  DEFAULT_CERTIFICATE_RENEW_BEFORE_HOURS,
} from './certificate-profile.js';
export { DEFAULT_CA_LABEL, planCaRollover, type CaPlan, type CaRolloverArgs } from './ca-rollover.js';
export { hostCertificateNames, type HostCertificateNames } from './host-certificate-names.js';
export { MIN_MASTER_BYTES, PAIR_PSK_BYTES, PskDerivationError, derivePairPsk } from './psk-derivation.js';
export { PSK_MASTER_LENGTH, PSK_MASTER_SPECIALS, pskForPairs, pskMasterKeepers } from './psk-master.js';
