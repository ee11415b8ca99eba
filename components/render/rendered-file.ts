/** One file the render layer produced, at the absolute path it will have on the host. */
export interface RenderedFile {
  readonly path: string;
  readonly content: string;
  /** Octal permission bits, e.g. 0o644; secrets are 0o600. */
  readonly mode: number;
  /** True when the content is a private key or PSK: it must travel only as a Pulumi secret, on stdin. */
  readonly secret: boolean;
}
