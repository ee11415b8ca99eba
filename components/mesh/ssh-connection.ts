// The SSH connection of one host's commands: where and as whom from the inventory, the
// key from the stack (a secret). Secrets are wrapped here, whatever the caller passed, so
// they stay secret in state even when a plain string came in.
import * as pulumi from '@pulumi/pulumi';
import type { types } from '@pulumi/command';
import type { SshAccess } from '../inventory/model.js';

/** The `ssh` argument of IpsecMesh: credentials for every host; addresses, users and ports come from the inventory. */
export interface SshArgs {
  /** OpenSSH or PEM private key accepted by every host (and the jump hosts). Stored as a secret. */
  readonly privateKey: pulumi.Input<string>;
  /** Passphrase of `privateKey`, when it is encrypted. */
  readonly privateKeyPassword?: pulumi.Input<string>;
  /** Key for the jump hosts, when it differs from `privateKey`. */
  readonly jumpHostPrivateKey?: pulumi.Input<string>;
  /** Seconds per connection attempt (provider default 15). */
  readonly perDialTimeout?: number;
  /** Attempts before giving up (provider default 10). */
  readonly dialErrorLimit?: number;
}

export type HostConnection = types.input.remote.ConnectionArgs;

export function hostConnection(ssh: SshAccess, args: SshArgs): HostConnection {
  const conn: HostConnection = {
    host: ssh.host,
    port: ssh.port,
    user: ssh.user,
    privateKey: pulumi.secret(args.privateKey),
  };
  if (args.privateKeyPassword !== undefined) conn.privateKeyPassword = pulumi.secret(args.privateKeyPassword);
  // The inventory pins every key unless the host opted out explicitly (checkHostTrust, with a
  // warning on every run): without hostKey the provider accepts any server key.
  if (ssh.hostKey !== undefined) conn.hostKey = ssh.hostKey;
  if (args.perDialTimeout !== undefined) conn.perDialTimeout = args.perDialTimeout;
  if (args.dialErrorLimit !== undefined) conn.dialErrorLimit = args.dialErrorLimit;
  if (ssh.jumpHost !== undefined) {
    const proxy: types.input.remote.ProxyConnectionArgs = {
      host: ssh.jumpHost.host,
      port: ssh.jumpHost.port,
      user: ssh.jumpHost.user,
      privateKey: pulumi.secret(args.jumpHostPrivateKey ?? args.privateKey),
    };
    if (ssh.jumpHost.hostKey !== undefined) proxy.hostKey = ssh.jumpHost.hostKey;
    if (args.jumpHostPrivateKey === undefined && args.privateKeyPassword !== undefined) {
      proxy.privateKeyPassword = pulumi.secret(args.privateKeyPassword);
    }
    if (args.perDialTimeout !== undefined) proxy.perDialTimeout = args.perDialTimeout;
    if (args.dialErrorLimit !== undefined) proxy.dialErrorLimit = args.dialErrorLimit;
    conn.proxy = proxy;
  }
  return conn;
}
