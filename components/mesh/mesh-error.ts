// Invalid IpsecMesh arguments. `field` is the argument path (e.g. `siteEnforcement.ams`),
// so a failing `pulumi up` names the setting to fix.
export class MeshArgsError extends Error {
  override readonly name = 'MeshArgsError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`IpsecMesh ${field}: ${message}`);
  }
}
