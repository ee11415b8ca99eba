/** What went wrong while rendering; lets callers (CLI, components, tests) branch without parsing messages. */
export type RenderErrorCode =
  | 'compact-use' // a pair at `use` reached the compact layout, which has no concrete peer to start
  | 'compact-psk' // compact authenticates peers by the mesh CA; PSK needs one secret per known peer
  | 'wrong-auth' // PSK secrets asked for a certificate mesh (or the reverse)
  | 'pair-not-for-host' // a pair that does not involve the host being rendered
  | 'unknown-host' // a pair names a host the inventory does not have
  | 'family-missing' // a pair uses an address family the host has no address in
  | 'bad-name' // a mesh/host/rule name that cannot be part of a file or connection name
  | 'bad-proposal' // an IKE/ESP proposal string that cannot be rendered or measured
  | 'bad-value' // a value that swanctl would reject or read differently (e.g. too long)
  | 'bad-ca-file' // a CA file name that would break the cacerts list
  | 'duplicate-bypass' // two bypass rules with one name
  | 'not-unmanaged' // a peer sheet asked for a host ipsec-mesh manages itself
  | 'site-prefix-missing'; // compact site-prefixes mode: a peer's site has no prefix of the family // a peer sheet asked for a host ipsec-mesh manages itself

export interface RenderErrorContext {
  readonly code: RenderErrorCode;
  readonly mesh?: string;
  readonly host?: string;
  /** Pair key (`a~b`) when the problem is one pair's. */
  readonly pair?: string;
}

/** Raised for inputs the render layer cannot turn into a correct configuration. */
export class RenderError extends Error {
  override readonly name = 'RenderError';
  readonly code: RenderErrorCode;
  readonly mesh: string | undefined;
  readonly host: string | undefined;
  readonly pair: string | undefined;

  constructor(message: string, context: RenderErrorContext) {
    const where = [
      context.mesh !== undefined ? `mesh "${context.mesh}"` : undefined,
      context.host !== undefined ? `host "${context.host}"` : undefined,
      context.pair !== undefined ? `pair "${context.pair}"` : undefined,
    ].filter((s) => s !== undefined);
    super(where.length > 0 ? `${where.join(', ')}: ${message}` : message);
    this.code = context.code;
    this.mesh = context.mesh;
    this.host = context.host;
    this.pair = context.pair;
  }
}
