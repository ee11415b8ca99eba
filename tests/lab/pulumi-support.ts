// Shared by the end-to-end tests (tests/lab/pulumi-*.test.ts): the real Pulumi engine
// running the stack program (dist/stacks/index.js) from a lab's operator namespace against
// the lab's hosts, plus what the tests read back from the hosts.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { loadInventoryFile } from '../../components/inventory/index.js';
import type { AddressFamily, Inventory } from '../../components/inventory/model.js';
import { validateMesh } from '../../components/cli/validate-mesh.js';
import type { HostPairSet } from '../../components/topology/index.js';
import { PROJECT_DIR, labPulumi, prepareLabStack, type PulumiRun } from '../../lab/lab-pulumi.js';
import { sendDatagrams } from '../../lab/pair-traffic.js';
import {
  type IkeSaStatus,
  type Lab,
  type LabInventoryOptions,
  type LabSpec,
  type ProcessRecord,
  startLab,
  waitFor,
  writeLabInventory,
} from '../../lab/netns/index.js';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { expectNothingLeft, requireLabPrerequisites } from './lab-test-support.js';

/** The directories ipsec-mesh may write on a host (docs/delivery.md). */
export const MESH_DIRS = ['/etc/swanctl', '/etc/strongswan.d', '/etc/sysctl.d', '/etc/logrotate.d'] as const;

const SSHD_LOG = '/var/log/sshd.log';

/**
 * Puts the engine on PATH with the offline settings (what `source scripts/engine-env.sh`
 * does), so the tests also run from a plain `npx vitest`. Throws when there is no engine.
 */
export function useEngine(): void {
  const r = spawnSync('bash', ['-c', 'source scripts/engine-env.sh >/dev/null && env -0'], { cwd: PROJECT_DIR, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`no Pulumi engine: scripts/engine-env.sh failed (${r.stderr.trim()}); build it with scripts/build-engine.sh (npm test does)`);
  }
  for (const entry of r.stdout.split('\0')) {
    const eq = entry.indexOf('=');
    const key = entry.slice(0, eq);
    if (key === 'PATH' || key === 'IPSEC_MESH_ENGINE_BIN' || key.startsWith('PULUMI_')) process.env[key] = entry.slice(eq + 1);
  }
  const v = spawnSync('pulumi', ['version'], { encoding: 'utf8' });
  if (v.status !== 0 || !/^v3\./.test(v.stdout.trim())) throw new Error(`pulumi on PATH does not run: ${v.stderr || v.stdout}`);
}

/** The compiled modules `entry` loads (relative imports, followed through the graph). */
function compiledGraph(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    const js = readFileSync(file, 'utf8');
    for (const m of js.matchAll(/(?:from|import)\s*['"](\.{1,2}\/[^'"]+\.js)['"]/g)) visit(resolve(dirname(file), m[1]!));
  }
  visit(entry);
  return [...seen];
}

/**
 * Pulumi runs the compiled program: it must exist and be at least as new as the source of
 * every module it loads (only those: other work in progress elsewhere does not matter).
 */
export function requireBuiltStack(): void {
  const dist = join(PROJECT_DIR, 'dist');
  const program = join(dist, 'stacks', 'index.js');
  if (!existsSync(program)) throw new Error(`${program} is missing: run \`npm run build\` first (npm test does)`);
  for (const compiled of compiledGraph(program)) {
    const source = join(PROJECT_DIR, relative(dist, compiled)).replace(/\.js$/, '.ts');
    if (existsSync(source) && statSync(source).mtimeMs > statSync(compiled).mtimeMs) {
      throw new Error(`${relative(PROJECT_DIR, compiled)} is older than ${relative(PROJECT_DIR, source)}: run \`npm run build\` (Pulumi runs dist/stacks/index.js)`);
    }
  }
}

/** Everything an e2e file needs before its lab comes up; each throws with a clear message. */
export function requireE2ePrerequisites(): void {
  requireLabPrerequisites();
  requireBuiltStack();
  useEngine();
}

/** One file of a host: what a snapshot compares. */
export interface FileFacts {
  readonly mode: number;
  readonly sha256: string;
  readonly mtimeMs: number;
  readonly ino: number;
}

/** Path on the host → facts, for every file, symlink and directory (`path/`) under MESH_DIRS. */
export type HostFiles = ReadonlyMap<string, FileFacts>;

export function hostFiles(lab: Lab, host: string): HostFiles {
  const out = new Map<string, FileFacts>();
  const walk = (onHost: string): void => {
    const backing = lab.hostFile(host, onHost);
    for (const e of readdirSync(backing, { withFileTypes: true })) {
      const p = `${onHost}/${e.name}`;
      if (e.isDirectory()) {
        // Directories count too (a left-over stage directory is a change); their "content" is none.
        const st = lstatSync(join(backing, e.name));
        out.set(`${p}/`, { mode: st.mode, sha256: 'directory', mtimeMs: st.mtimeMs, ino: st.ino });
        walk(p);
        continue;
      }
      const file = join(backing, e.name);
      const st = lstatSync(file);
      const content = e.isSymbolicLink() ? `-> ${readFileSync(file, 'utf8')}` : readFileSync(file);
      out.set(p, { mode: st.mode, sha256: createHash('sha256').update(content).digest('hex'), mtimeMs: st.mtimeMs, ino: st.ino });
    }
  };
  for (const d of MESH_DIRS) walk(d);
  return out;
}

/** Only the facts that say what a file is (not when it was written). */
export function contentOf(files: HostFiles): Record<string, string> {
  return Object.fromEntries([...files].map(([p, f]) => [p, `${f.mode.toString(8)} ${f.sha256}`]).sort(([a], [b]) => a!.localeCompare(b!)));
}

export function isMeshPath(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return /^(\d+-)?ipsec-mesh/.test(base) || base.startsWith('.ipsec-mesh');
}

/** What a host holds of the mesh and what charon has loaded: compared before/after. */
export interface HostSnapshot {
  readonly files: HostFiles;
  /** `swanctl --list-conns` as printed. */
  readonly conns: string;
  readonly charonPid: number | undefined;
  /** "Accepted publickey" lines sshd logged: one per SSH session (the engine's included). */
  readonly sshSessions: number;
}

export function sshSessions(lab: Lab, host: string): number {
  try {
    return lab.readHostFile(host, SSHD_LOG).split('\n').filter((l) => l.includes('Accepted publickey')).length;
  } catch {
    return 0;
  }
}

export async function snapshotHost(lab: Lab, host: string): Promise<HostSnapshot> {
  const conns = (await lab.swanctl(host, ['--list-conns'], { check: true })).stdout;
  // sshd is read last: nothing above goes through SSH.
  return { files: hostFiles(lab, host), conns, charonPid: lab.charonPid(host), sshSessions: sshSessions(lab, host) };
}

export async function snapshotHosts(lab: Lab, hosts: readonly string[]): Promise<Map<string, HostSnapshot>> {
  return new Map(await Promise.all(hosts.map(async (h) => [h, await snapshotHost(lab, h)] as const)));
}

/** Address → lab host name. */
export function hostByAddress(lab: Lab): Map<string, string> {
  return new Map(lab.hosts.flatMap((h) => [...h.ipv4, ...h.publicIpv4, ...h.ipv6].map((a) => [a, h.name] as const)));
}

/** `x~y/family` with x < y, as HostPair keys are. */
export function pairFamilyKey(x: string, y: string, family: AddressFamily): string {
  return `${x < y ? x : y}~${x < y ? y : x}/${family}`;
}

export function expectedPairKeys(pairs: HostPairSet): string[] {
  return pairs.pairs.flatMap((p) => p.families.map((f) => `${p.key}/${f.family}`)).sort();
}

/** One ESTABLISHED IKE_SA as a host sees it. */
export interface ObservedSa {
  readonly host: string;
  readonly peer: string;
  readonly key: string;
  readonly name: string;
  readonly uniqueId: number;
  readonly state: string;
  readonly proposal: string;
}

/** `host key#uniqueId`: an IKE_SA that is the same SA only if all three match. */
export function saIdentity(sa: ObservedSa): string {
  return `${sa.host} ${sa.key}#${sa.uniqueId}`;
}

/** Every ESTABLISHED IKE_SA of every listed host (any connection name), by pair and family. */
export async function establishedSas(lab: Lab, hosts: readonly string[]): Promise<ObservedSa[]> {
  return listedSas(lab, hosts, (sa) => sa.state === 'ESTABLISHED');
}

/** Every IKE_SA in any state (CONNECTING, DELETING …) of every listed host. */
export async function anySas(lab: Lab, hosts: readonly string[]): Promise<ObservedSa[]> {
  return listedSas(lab, hosts, () => true);
}

async function listedSas(lab: Lab, hosts: readonly string[], keep: (sa: IkeSaStatus) => boolean): Promise<ObservedSa[]> {
  const byAddress = hostByAddress(lab);
  const lists = await Promise.all(hosts.map(async (h) => [h, await lab.listSas(h)] as const));
  return lists.flatMap(([host, sas]: readonly [string, IkeSaStatus[]]) =>
    sas
      .filter(keep)
      .map((sa) => {
        const peer = byAddress.get(sa.remoteHost) ?? `?${sa.remoteHost}`;
        const family: AddressFamily = sa.remoteHost.includes(':') ? 'ipv6' : 'ipv4';
        return { host, peer, key: pairFamilyKey(host, peer, family), name: sa.name, uniqueId: sa.uniqueId, state: sa.state, proposal: sa.proposal };
      }),
  );
}

/** Pair/family keys seen ESTABLISHED from both ends. */
export function keysUpOnBothEnds(sas: readonly ObservedSa[]): string[] {
  const ends = new Map<string, Set<string>>();
  for (const sa of sas) ends.set(sa.key, (ends.get(sa.key) ?? new Set()).add(sa.host));
  return [...ends].filter(([, h]) => h.size === 2).map(([k]) => k).sort();
}

/** Every key any host reports (one end is enough). */
export function keysSeen(sas: readonly ObservedSa[]): string[] {
  return [...new Set(sas.map((s) => s.key))].sort();
}

/**
 * Sends a datagram from every host to every address of `targets(host)` (default: every other
 * lab host in `hosts`, paired or not, so a pair that must not exist gets its chance to appear)
 * and waits until every expected key is ESTABLISHED on both ends (or `timeoutMs` passed:
 * the caller's assertion then shows what is missing). Returns the SAs seen last.
 */
export async function negotiate(
  lab: Lab,
  hosts: readonly string[],
  expected: readonly string[],
  opts: { readonly timeoutMs?: number } = {},
): Promise<ObservedSa[]> {
  const all = lab.hosts.filter((h) => hosts.includes(h.name));
  let last: ObservedSa[] = [];
  const done = await waitFor(
    async () => {
      // Public addresses too: across the lab router's 1:1 NAT a host is reached (and trapped) there.
      await Promise.all(all.map((h) => sendDatagrams(lab, h.name, all.filter((o) => o.name !== h.name).flatMap((o) => [...o.ipv4, ...o.publicIpv4, ...o.ipv6]))));
      await new Promise((r) => setTimeout(r, 300));
      last = await establishedSas(lab, hosts);
      const up = new Set(keysUpOnBothEnds(last));
      return expected.every((k) => up.has(k)) ? true : undefined;
    },
    opts.timeoutMs ?? 30_000,
    200,
  );
  if (done !== true) last = await establishedSas(lab, hosts);
  return last;
}

/**
 * This kernel has no ESP, so every CHILD_SA install fails and the kernel's larval "acquire"
 * state (one per trap policy, spi 0) stays for net.core.xfrm_acq_expires: meanwhile the trap
 * raises no new acquire, so an SA closed in that window (peer restarted, SAs terminated) is
 * not renegotiated until it expires. With ESP the installed SA replaces the larval state.
 * charon writes the value at start and on --reload-settings (from its retransmit settings,
 * 26 s with the mesh's drop-in), so a lab drop-in sets 2 s; it is per network namespace.
 */
/**
 * Stack config for tests that count the SSH sessions of a no-change `up` (no push may run):
 * the drift check before every `up` opens one read-only session per host
 * (change-safety.test.ts tests it).
 */
export const NO_DRIFT_CHECK: Readonly<Record<string, string>> = { driftCheck: 'false' };

export const E2E_DROPIN = '/etc/strongswan.d/imlab-e2e.conf';
async function shortenAcquires(lab: Lab): Promise<void> {
  const conf = ['# ipsec-mesh e2e tests: see shortenAcquires in tests/lab/pulumi-support.ts', 'charon {', '    plugins {', '        kernel-netlink {', '            xfrm_acq_expires = 2', '        }', '    }', '}', ''].join('\n');
  await Promise.all(
    lab.hosts.map(async (h) => {
      lab.writeHostFile(h.name, E2E_DROPIN, conf);
      await lab.swanctl(h.name, ['--reload-settings'], { check: true });
    }),
  );
}

/** A lab with the ipsec-mesh stack prepared on it: the inventory is rewritten per step. */
export class E2eMesh {
  private constructor(
    readonly lab: Lab,
    readonly inventoryPath: string,
    private inventoryOptions: LabInventoryOptions,
  ) {}

  /** Brings the lab up and prepares the `lab` stack (inventory, lab SSH key, `config`). */
  static async start(spec: LabSpec, inventory: LabInventoryOptions, config: Readonly<Record<string, string>> = {}): Promise<E2eMesh> {
    const lab = await startLab(spec);
    try {
      await shortenAcquires(lab);
      const path = writeLabInventory(lab, inventory);
      await prepareLabStack(lab, path, config);
      return new E2eMesh(lab, path, inventory);
    } catch (e) {
      await lab.down().catch(() => undefined);
      throw e;
    }
  }

  /** Rewrites the inventory file the stack reads. */
  writeInventory(opts: LabInventoryOptions): void {
    this.inventoryOptions = opts;
    writeLabInventory(this.lab, { ...opts, file: this.inventoryPath });
  }

  get inventoryOpts(): LabInventoryOptions {
    return this.inventoryOptions;
  }

  async inventory(): Promise<Inventory> {
    return loadInventoryFile(this.inventoryPath);
  }

  /** The inventory's pairs, computed by the product's own topology. */
  async pairs(): Promise<{ inventory: Inventory; pairs: HostPairSet; hosts: string[] }> {
    const inventory = await this.inventory();
    return { inventory, pairs: validateMesh(inventory), hosts: inventory.hosts.map((h) => h.name) };
  }

  async setConfig(key: string, value: string): Promise<void> {
    await labPulumi(this.lab, ['config', 'set', `ipsec-mesh:${key}`, value]);
  }

  async removeConfig(key: string): Promise<void> {
    await labPulumi(this.lab, ['config', 'rm', `ipsec-mesh:${key}`]);
  }

  up(args: readonly string[] = [], opts: { readonly allowFailure?: boolean } = {}): Promise<PulumiRun> {
    return labPulumi(this.lab, ['up', '--yes', '--skip-preview', ...args], opts);
  }

  preview(args: readonly string[] = []): Promise<PulumiRun> {
    return labPulumi(this.lab, ['preview', ...args]);
  }

  destroy(): Promise<PulumiRun> {
    return labPulumi(this.lab, ['destroy', '--yes', '--skip-preview']);
  }

  /** The resource changes of the latest update, from `pulumi stack history --json`. */
  async lastChanges(): Promise<Record<string, number>> {
    const r = await labPulumi(this.lab, ['stack', 'history', '--json']);
    const history = JSON.parse(r.stdout) as { resourceChanges?: Record<string, number> }[];
    return history[0]?.resourceChanges ?? {};
  }

  /** Processes the lab started (recorded before teardown, to check none survives it). */
  get processes(): readonly ProcessRecord[] {
    return this.lab.processes;
  }
}

/** Hex serial and SHA-256 fingerprint of a host's mesh certificate, read on the host. */
export function hostCertificate(lab: Lab, host: string, mesh: string): { serial: string; fingerprint: string; pem: string } {
  const pem = lab.readHostFile(host, `/etc/swanctl/x509/ipsec-mesh_${mesh}_${host}.pem`);
  const r = spawnSync('openssl', ['x509', '-noout', '-serial', '-fingerprint', '-sha256'], { input: pem, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl cannot read ${host}'s certificate: ${r.stderr}`);
  const serial = /serial=(\S+)/.exec(r.stdout)?.[1] ?? '';
  const fingerprint = /Fingerprint=(\S+)/i.exec(r.stdout)?.[1] ?? '';
  return { serial, fingerprint, pem };
}

/**
 * Closes every IKE_SA on the listed hosts (what an operator does to move running SAs onto a
 * new configuration: a reload leaves them as they are) and waits until none is left.
 */
export async function terminateAllSas(lab: Lab, hosts: readonly string[]): Promise<void> {
  await Promise.all(
    hosts.map(async (h) => {
      for (const sa of await lab.listSas(h)) {
        await lab.swanctl(h, ['--terminate', '--ike-id', String(sa.uniqueId), '--force']);
      }
    }),
  );
  const gone = await waitFor(async () => ((await anySas(lab, hosts)).length === 0 ? true : undefined), 15_000, 200);
  if (gone !== true) throw new Error(`IKE_SAs still there after --terminate: ${(await anySas(lab, hosts)).map(saIdentity).join(', ')}`);
}

const PEER_KEY = '/etc/ssh/e2e_id_ed25519';
const PEER_KNOWN_HOSTS = '/etc/ssh/e2e_known_hosts';

/** Lets the hosts ssh to each other: the lab key and known_hosts, in each host's private /etc/ssh. */
export function installPeerSsh(lab: Lab): void {
  const key = readFileSync(lab.sshKeyPath, 'utf8');
  const known = readFileSync(lab.knownHostsPath, 'utf8');
  for (const h of lab.hosts) {
    lab.writeHostFile(h.name, PEER_KEY, key, 0o600);
    lab.writeHostFile(h.name, PEER_KNOWN_HOSTS, known, 0o644);
  }
}

/** `ssh root@address echo ok` from inside `from` (host to host, across the mesh policies). */
export async function sshFromHost(lab: Lab, from: string, address: string): Promise<{ ok: boolean; detail: string }> {
  const r = await lab.exec(
    from,
    [
      'ssh', '-F', '/dev/null', '-i', PEER_KEY,
      '-o', 'IdentitiesOnly=yes',
      '-o', `UserKnownHostsFile=${PEER_KNOWN_HOSTS}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=5',
      '-o', 'LogLevel=ERROR',
      `root@${address}`, 'echo', 'ssh-ok',
    ],
    { timeoutMs: 20_000 },
  );
  const ok = r.code === 0 && r.stdout.trim() === 'ssh-ok';
  return { ok, detail: ok ? 'ok' : `exit ${r.code}: ${r.stderr.trim()}` };
}

/**
 * SSH from the operator namespace to every host, and (unless `operatorOnly`) from every host to
 * every address of every other host in `hosts`: returns the attempts that failed (empty = all worked).
 */
export async function sshFailures(lab: Lab, hosts: readonly string[], opts: { readonly operatorOnly?: boolean } = {}): Promise<string[]> {
  const failures: string[] = [];
  await Promise.all(
    hosts.map(async (h) => {
      const r = await lab.ssh(h, ['echo', 'ssh-ok'], { timeoutMs: 20_000 });
      if (r.code !== 0 || r.stdout.trim() !== 'ssh-ok') failures.push(`operator → ${h}: exit ${r.code}: ${r.stderr.trim()}`);
    }),
  );
  if (opts.operatorOnly === true) return failures.sort();
  return [...failures, ...(await hostToHostSshFailures(lab, hosts))].sort();
}

/** SSH from every host in `hosts` to every address of every other: the attempts that failed. */
export async function hostToHostSshFailures(lab: Lab, hosts: readonly string[]): Promise<string[]> {
  const failures: string[] = [];
  const targets = lab.hosts.filter((h) => hosts.includes(h.name));
  await Promise.all(
    targets.flatMap((from) =>
      targets
        .filter((to) => to.name !== from.name)
        .flatMap((to) =>
          [...to.ipv4, ...to.ipv6].map(async (address) => {
            const r = await sshFromHost(lab, from.name, address);
            if (!r.ok) failures.push(`${from.name} → ${to.name} (${address}): ${r.detail}`);
          }),
        ),
    ),
  );
  return failures.sort();
}

/** `nft list table` of the mesh's require backstop on a host; undefined when there is none. */
export async function backstopRuleset(lab: Lab, host: string, mesh: string): Promise<string | undefined> {
  const r = await lab.exec(host, ['nft', 'list', 'table', 'inet', `ipsec-mesh_${mesh}`]);
  return r.code === 0 ? r.stdout : undefined;
}

/** Packets the backstop dropped on a host (sum of its drop counters). */
export function backstopDrops(ruleset: string): number {
  return [...ruleset.matchAll(/counter packets (\d+) bytes \d+ drop/g)].reduce((n, m) => n + Number(m[1]), 0);
}

export interface E2eMeshHooks {
  /** Before the lab: e.g. building another program the file needs. */
  readonly prepare?: () => void | Promise<void>;
  /** After the lab is gone, before the leftovers check. */
  readonly cleanup?: () => void;
  /** beforeAll's limit (default 300 s). */
  readonly setupTimeoutMs?: number;
}

/**
 * A file's shared lab with the stack prepared: started before its tests (a missing
 * prerequisite or a lab that does not come up fails every test, never skips one), destroyed
 * and torn down after them, then checked to have left nothing behind. Returns the running mesh.
 */
export function e2eMeshForFile(
  spec: LabSpec,
  inventory: LabInventoryOptions,
  config: Readonly<Record<string, string>> = {},
  hooks: E2eMeshHooks = {},
): () => E2eMesh {
  let mesh: E2eMesh | undefined;
  let processes: readonly ProcessRecord[] = [];
  let setupError: unknown;
  beforeAll(async () => {
    try {
      requireE2ePrerequisites();
      await hooks.prepare?.();
      mesh = await E2eMesh.start(spec, inventory, config);
      processes = mesh.processes;
    } catch (e) {
      setupError = e;
    }
  }, hooks.setupTimeoutMs ?? 300_000);
  beforeEach(() => {
    if (setupError !== undefined) throw setupError;
  });
  afterAll(async () => {
    if (mesh) {
      await mesh.destroy().catch(() => undefined);
      await mesh.lab.down();
    }
    hooks.cleanup?.();
    expectNothingLeft(spec.name, processes);
  }, 300_000);
  return () => {
    if (mesh === undefined) throw new Error(`lab ${spec.name} is not up`);
    return mesh;
  };
}
