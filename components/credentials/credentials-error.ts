// Invalid credential settings (generations, validity periods, CA labels). Carries the
// argument path so a stack error points at the setting to fix.
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
  constructor(
    /** Argument path, e.g. `ca.previous` or `certificateGeneration`. */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}
