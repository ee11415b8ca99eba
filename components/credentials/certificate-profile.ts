// What the mesh's certificates look like. One place, so the CA, the host certificates and
// the tests agree. @pulumi/tls takes the upstream provider's snake_case usage names.
import { CredentialsError } from './credentials-error.js';

/** ECDSA on P-384 for every key: @pulumi/tls defaults to P224 when the curve is left out. */
export const KEY_ALGORITHM = 'ECDSA';
export const ECDSA_CURVE = 'P384';
/** OpenSSL's name for the same curve, used by the on-host key generation. */
export const ECDSA_CURVE_OPENSSL = 'secp384r1';

/** A CA signs certificates (and CRLs, should revocation ever be added); nothing else. */
export const CA_ALLOWED_USES: readonly string[] = ['cert_signing', 'crl_signing'];
/**
 * An IKE end entity signs (ECDSA: digital_signature; key_encipherment is an RSA-only usage).
 * ipsec_end_system is the IPsec EKU; strongSwan does not require an EKU, other IKE stacks may.
 */
export const HOST_ALLOWED_USES: readonly string[] = ['digital_signature', 'ipsec_end_system'];
/**
 * No intermediate CA below a mesh CA. The upstream TLS provider source sets Go's MaxPathLen
 * without MaxPathLenZero, which encodes no constraint for 0; the intent is recorded anyway.
 */
export const CA_MAX_PATH_LENGTH = 0;

/** Ten years: a CA is rolled over deliberately (see ca-rollover.ts), not by expiry. */
export const DEFAULT_CA_VALIDITY_HOURS = 87_600;
/** One year; renewed automatically inside the renew-before window (below). */
export const DEFAULT_CERTIFICATE_VALIDITY_HOURS = 8_760;
/**
 * Thirty days: any `pulumi up` in the last 30 days of a host certificate's life replaces it
 * (same key, new validity). Weekly deploys get four chances; the monitor warns well before.
 */
export const DEFAULT_CERTIFICATE_RENEW_BEFORE_HOURS = 720;
/** A host certificate must fit comfortably inside its CA's life, or it outlives its issuer. */
export const MIN_VALIDITY_HOURS = 1;

export function validateValidityHours(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < MIN_VALIDITY_HOURS) {
    throw new CredentialsError(field, `must be a whole number of hours ≥ ${MIN_VALIDITY_HOURS}, got ${String(value)}`);
  }
  return value;
}

/**
 * The renew-before window: whole hours, at least 1 and shorter than the validity (a window as
 * long as the validity would renew the certificate on every `up`). A default that does not fit
 * a short validity shrinks to a quarter of it.
 */
export function validateRenewBeforeHours(value: number | undefined, validityHours: number): number {
  if (value === undefined) return Math.min(DEFAULT_CERTIFICATE_RENEW_BEFORE_HOURS, Math.max(1, Math.floor(validityHours / 4)));
  if (!Number.isInteger(value) || value < 1) {
    throw new CredentialsError('certificateRenewBeforeHours', `must be a whole number of hours ≥ 1, got ${String(value)}`);
  }
  if (value >= validityHours) {
    throw new CredentialsError('certificateRenewBeforeHours', `${value} h is not shorter than certificateValidityHours (${validityHours} h): every up would renew`);
  }
  return value;
}

/** Generations are counters in stack config: whole numbers from 0 up. */
export function validateGeneration(field: string, value: number | undefined): number {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CredentialsError(field, `must be a whole number ≥ 0, got ${String(value)}`);
  }
  return value;
}

/** Subject of a mesh CA certificate: a CA needs at least one distinguished name. */
export function caSubject(meshName: string, label: string): { commonName: string; organization: string } {
  return { commonName: `${meshName} mesh CA ${label}`, organization: 'ipsec-mesh' };
}
