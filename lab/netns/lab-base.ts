// What every lab backend (namespace hosts, qemu guests) shares: its state file's common part,
// the network around the hosts (switch, router, operator namespaces) and the lab SSH key.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './lab-errors.js';
import { operatorNetns, routerNetns, switchNetns } from './lab-names.js';
import { NETNS_DIR } from './lab-network.js';
import type { ResolvedLabSpec } from './lab-spec.js';
import { type ProcessRecord, isRunning } from './lab-state.js';

/** The namespace ssh and the Pulumi engine reach the hosts from (through the router). */
export interface LabOperator {
  readonly netns: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

export interface LabStateCommon {
  readonly name: string;
  readonly stateRoot: string;
  readonly spec: ResolvedLabSpec;
  readonly processes: readonly ProcessRecord[];
}

/** A word for a remote shell command line. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export const labKeyPath = (stateRoot: string): string => join(stateRoot, 'ssh', 'id_ed25519');
export const knownHostsPath = (stateRoot: string): string => join(stateRoot, 'ssh', 'known_hosts');

export abstract class LabBase<S extends LabStateCommon> {
  /** @internal use the backend's start/attach functions */
  constructor(protected state: S) {}

  get name(): string {
    return this.state.name;
  }
  get stateRoot(): string {
    return this.state.stateRoot;
  }
  get spec(): ResolvedLabSpec {
    return this.state.spec;
  }
  get operator(): LabOperator {
    const o = this.state.spec.operator;
    return { netns: operatorNetns(this.name), ...(o.ipv4 && { ipv4: o.ipv4.address }), ...(o.ipv6 && { ipv6: o.ipv6.address }) };
  }
  get switchNetns(): string {
    return switchNetns(this.name);
  }
  get routerNetns(): string {
    return routerNetns(this.name);
  }
  /** The lab's SSH private key (authorized for root on every host). */
  get sshKeyPath(): string {
    return labKeyPath(this.stateRoot);
  }
  get sshPublicKey(): string {
    return readFileSync(`${this.sshKeyPath}.pub`, 'utf8').trim();
  }
  /** known_hosts pinning every host's addresses to its sshd host key. */
  get knownHostsPath(): string {
    return knownHostsPath(this.stateRoot);
  }
  /** Processes the lab started and that still run. */
  get processes(): readonly ProcessRecord[] {
    return this.state.processes.filter(isRunning);
  }

  /** One host's addresses (the backend's own host type has more). */
  abstract host(name: string): { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] };

  /** argv for `ssh` from the operator namespace to `host` as root, pinned to its host key. */
  sshArgv(host: string, remote: readonly string[], family?: 'ipv4' | 'ipv6'): string[] {
    const h = this.host(host);
    const address = family ? h[family][0] : (h.ipv4[0] ?? h.ipv6[0]);
    if (!address) throw new LabError(`host "${host}" has no ${family ?? ''} address`, this.name);
    return [
      'nsenter', `--net=${NETNS_DIR}/${this.operator.netns}`, '--',
      'ssh', '-F', '/dev/null', '-i', this.sshKeyPath,
      '-o', 'IdentitiesOnly=yes',
      '-o', `UserKnownHostsFile=${this.knownHostsPath}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=10',
      '-o', 'LogLevel=ERROR',
      `root@${address}`, '--', remote.map(shellQuote).join(' '),
    ];
  }

  /** @internal writes the state file */
  abstract save(): void;
  /** @internal */
  update(f: (s: S) => S): void {
    this.state = f(this.state);
    this.save();
  }
}
