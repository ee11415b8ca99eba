// CA rollover without an outage. Each CA is named by a label and backed by its own key and
// certificate; the label (not its role) names the Pulumi resources, so a CA keeps its
// identity while it moves from `next` to `current` to `previous`.
//
//   1. { current: 'a', next: 'b' }      every host trusts a and b; host certs still from a
//   2. { current: 'b', previous: 'a' }  host certs re-issued from b; every host trusts a and b
//   3. { current: 'b' }                 a retired: its resources are deleted, trust is b only
//
// Trust is pushed before any host presents a certificate of the new CA (step 1), and kept
// until no host presents one of the old CA (step 3), so IKE authentication never fails in
// between, whatever order the hosts are updated in.
import { CredentialsError } from './credentials-error.js';

/** The `ca` argument of IpsecMesh. */
export interface CaRolloverArgs {
  /** Label of the CA that issues host certificates. */
  readonly current: string;
  /** A retiring CA, still trusted (step 2). */
  readonly previous?: string;
  /** An incoming CA, already trusted but not yet issuing (step 1). */
  readonly next?: string;
}

export interface CaPlan {
  /** Label of the issuing CA. */
  readonly issuer: string;
  /** Every CA label hosts trust, issuer first, then the others in label order. */
  readonly trusted: readonly string[];
}

export const DEFAULT_CA_LABEL = 'ca1';

/** Lower-case DNS-label style: labels become resource and file names. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export function planCaRollover(args: CaRolloverArgs | undefined): CaPlan {
  const current = args?.current ?? DEFAULT_CA_LABEL;
  const labels: [string, string | undefined][] = [
    ['ca.current', current],
    ['ca.previous', args?.previous],
    ['ca.next', args?.next],
  ];
  for (const [field, label] of labels) {
    if (label !== undefined && !LABEL.test(label)) {
      throw new CredentialsError(field, `"${label}" is not a valid CA label (lower-case letters, digits and '-', at most 32 characters)`);
    }
  }
  if (args?.previous !== undefined && args.next !== undefined) {
    // Three CAs at once would let a step be skipped; a rollover moves one CA at a time.
    throw new CredentialsError('ca', 'set either `previous` (retiring CA) or `next` (incoming CA), not both');
  }
  const others = [args?.previous, args?.next].filter((l): l is string => l !== undefined);
  for (const other of others) {
    if (other === current) {
      throw new CredentialsError('ca', `"${other}" is both the current CA and a retiring/incoming one`);
    }
  }
  return { issuer: current, trusted: [current, ...others.sort()] };
}
