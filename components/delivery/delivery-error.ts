// Problems found while building a host's delivery (payload or scripts), before anything runs
// on the host. Carries the host (and the path, when a file is at fault) so a failing
// `pulumi up` names what to fix; never a file's content, which may be secret.
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    readonly host: string,
    message: string,
    /** The on-host path at fault, when there is one. */
    readonly path?: string,
  ) {
    super(`${host}: ${message}`);
  }
}
