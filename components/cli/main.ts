#!/usr/bin/env node
// The `ipsec-mesh` command: validate an inventory, or render every host's files to a folder.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InventoryError, insecureHostKeyWarnings, loadInventoryFile, type Inventory } from '../inventory/index.js';
import { PskDerivationError } from '../credentials/psk-derivation.js';
import { RenderError } from '../render/index.js';
import { renderToDir, RenderOptionsError } from './render-to-dir.js';
import { validateMesh } from './validate-mesh.js';
import { readStackConfigFile, StackConfigFileError } from './stack-config-file.js';
import { readMeshSettings, StackConfigError, type MeshSettings } from '../mesh/stack-settings.js';
import { resolveMeshSettings, type MeshOptions } from '../mesh/mesh-options.js';
import { formatPeerSheet, planPeerSheet } from '../render/peer-sheet.js';
import { pairsForHost } from '../topology/host-pair-set.js';
import { MeshArgsError } from '../mesh/mesh-error.js';
import { CredentialsError } from '../credentials/credentials-error.js';
import { formatHostKeySnippets, scanHostKeys } from '../operations/host-key-scan.js';
import { collectCertificateExpiry, formatCertificateExpiry } from '../operations/certificate-expiry.js';
import { checkDrift, formatDrift } from '../operations/drift-check.js';
import {
  collectPairStatus,
  DEFAULT_CHECK_THRESHOLDS,
  evaluateMeshCheck,
  formatMeshCheck,
  formatPairStatusMatrix,
  meshCheckUnknown,
  summarisePairStatus,
  type HostSaReport,
  type MatrixSummary,
  type MeshCheckThresholds,
} from '../operations/index.js';
import { managedHosts } from '../inventory/managed-hosts.js';
import { startProgressLine } from './progress-line.js';
import { DRIFT_JSON_SCHEMA, rowsBelowExpect, statusJson } from './status-json.js';

const USAGE = `usage:
  ipsec-mesh validate INVENTORY
  ipsec-mesh hostkeys scan INVENTORY [--type ed25519|ecdsa|rsa]
  ipsec-mesh render INVENTORY --out DIR [--psk-master FILE [--psk-accept-master FILE]]
  ipsec-mesh render --stack NAME [--project DIR] --out DIR [--psk-master FILE …]
  ipsec-mesh render --config-file FILE [--project DIR] --out DIR [--psk-master FILE …]
  ipsec-mesh status INVENTORY --ssh-key FILE [--json] [--expect ike|encrypted] [--kernel] [--certificates]
  ipsec-mesh status INVENTORY --ssh-key FILE --drift [--json]
  ipsec-mesh check INVENTORY --ssh-key FILE [--host NAME] [--expect ike|encrypted]
        [--down-warning N] [--down-critical N] [--cert-warning DAYS] [--cert-critical DAYS]
  ipsec-mesh peer-sheet INVENTORY HOST [--json]
  ipsec-mesh peer-sheet HOST (--stack NAME [--project DIR] | --config-file FILE) [--json]`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === 'hostkeys') return hostKeys(rest);
  if (command === 'check') return check(rest);
  const { values, positionals } = parseArgs({
    args: [...rest],
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      'psk-master': { type: 'string' },
      'psk-accept-master': { type: 'string' },
      stack: { type: 'string' },
      'config-file': { type: 'string' },
      project: { type: 'string' },
      'ssh-key': { type: 'string' },
      json: { type: 'boolean' },
      expect: { type: 'string' },
      kernel: { type: 'boolean' },
      certificates: { type: 'boolean' },
      drift: { type: 'boolean' },
    },
  });
  if (command === 'render') return render(values, positionals);
  if (command === 'peer-sheet') return peerSheet(values, positionals);
  const [inventoryPath, ...extra] = positionals;
  if (inventoryPath === undefined || extra.length > 0) throw new UsageError(`${command}: expected exactly one INVENTORY`);

  if (command === 'validate') {
    if (Object.keys(values).length > 0) throw new UsageError('validate takes no options');
    const inventory = await loadChecked(inventoryPath);
    const pairs = validateMesh(inventory);
    process.stdout.write(`${inventoryPath}: valid — ${inventory.hosts.length} hosts, ${pairs.pairs.length} pairs\n`);
    return 0;
  }
  if (command === 'status') {
    const key = values['ssh-key'];
    if (key === undefined) throw new UsageError('status needs --ssh-key FILE');
    const expect = values.expect;
    if (expect !== undefined && expect !== 'ike' && expect !== 'encrypted') throw new UsageError('--expect takes ike or encrypted');
    const inventory = await loadChecked(inventoryPath);
    const hostCount = managedHosts(inventory).length;
    if (values.drift === true) {
      if (expect !== undefined || values.kernel === true || values.certificates === true) throw new UsageError('--drift goes alone (with --json at most)');
      // Files and kernel settings against what the last push installed; exit 1 on any drift.
      const progress = startProgressLine('drift', managedHosts(inventory).filter((h) => h.revoked !== true).length);
      const reports = await checkDrift(inventory, { identityFile: key, onHostDone: progress.hostDone });
      progress.finish();
      const json = { schema: DRIFT_JSON_SCHEMA, mesh: inventory.mesh.name, generatedAt: new Date().toISOString(), hosts: reports };
      process.stdout.write(values.json === true ? `${JSON.stringify(json, null, 2)}\n` : `drift (against the last push):\n${formatDrift(reports)}\n`);
      return reports.every((r) => r.error === undefined && r.drifted.length === 0) ? 0 : 1;
    }
    const pairs = validateMesh(inventory);
    const kernel = values.kernel === true;
    const progress = startProgressLine('status', hostCount, { readsPerHost: values.certificates === true ? 2 : 1 });
    const { rows, reports } = await collectPairStatus(inventory, pairs, { identityFile: key, kernel, onHostDone: progress.hostDone });
    // What charon holds, read over SSH: each host certificate's and each CA's expiry.
    const certificates = values.certificates === true ? await collectCertificateExpiry(inventory, { identityFile: key, onHostDone: progress.hostDone }) : undefined;
    progress.finish();
    for (const r of reports) if (r.error !== undefined) process.stderr.write(`ipsec-mesh: ${r.host}: cannot read SAs: ${r.error}\n`);
    if (values.json === true) {
      const json = statusJson({ mesh: inventory.mesh.name, expect, rows, reports, kernel, ...(certificates ? { certificates } : {}) });
      process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    } else {
      process.stdout.write(`${formatPairStatusMatrix(rows)}\n\n${formatSummary(summarisePairStatus(rows))}\n`);
      if (kernel) process.stdout.write(`${formatKernelCounters(reports)}\n`);
      if (certificates) process.stdout.write(`${formatCertificateExpiry(certificates)}\n`);
    }
    const bad = rowsBelowExpect(rows, expect);
    if (bad.length > 0) process.stderr.write(`ipsec-mesh: ${bad.length} pair/family row(s) below "${expect}"\n`);
    return bad.length === 0 ? 0 : 1;
  }
  throw new UsageError(`unknown command "${command}"`);
}

interface RenderFlags {
  readonly out?: string | undefined;
  readonly 'psk-master'?: string | undefined;
  readonly 'psk-accept-master'?: string | undefined;
  readonly stack?: string | undefined;
  readonly 'config-file'?: string | undefined;
  readonly project?: string | undefined;
}

/**
 * `render`: every host's files, from an inventory alone or from a stack's config (the same
 * keys the stack program reads: enforcement overrides, the off switch, CA labels …), so what
 * it writes is byte for byte what `up` pushes.
 */
async function render(values: RenderFlags, positionals: readonly string[]): Promise<number> {
  if (values.out === undefined) throw new UsageError('render needs --out DIR');
  const options = await meshOptionsFrom('render', values, positionals);
  const master = values['psk-master'] === undefined ? undefined : await readMaster('--psk-master', values['psk-master']);
  const acceptMaster = values['psk-accept-master'] === undefined ? undefined : await readMaster('--psk-accept-master', values['psk-accept-master']);
  const summary = await renderToDir(options, { outDir: values.out, ...(master ? { pskMaster: master } : {}), ...(acceptMaster ? { pskAcceptMaster: acceptMaster } : {}) });
  process.stdout.write(`rendered ${summary.files} files (${summary.bytes} bytes) for ${summary.hosts} hosts into ${values.out}\n`);
  return 0;
}

/**
 * The mesh as `up` sees it, from an inventory alone (`INVENTORY` first in `positionals`) or
 * from a stack's config; `positionals` must hold exactly `extra` more (e.g. a host name).
 */
async function meshOptionsFrom(command: string, values: RenderFlags, positionals: readonly string[], extra = 0): Promise<MeshOptions> {
  const fromStack = values.stack !== undefined || values['config-file'] !== undefined;
  if (values.stack !== undefined && values['config-file'] !== undefined) throw new UsageError(`${command}: give --stack or --config-file, not both`);
  if (fromStack ? positionals.length !== extra : positionals.length !== 1 + extra) {
    throw new UsageError(fromStack ? `${command}: the stack config names the inventory; give no INVENTORY` : `${command}: expected exactly one INVENTORY (or --stack NAME)`);
  }
  if (!fromStack && values.project !== undefined) throw new UsageError(`${command}: --project goes with --stack or --config-file`);
  let settings: MeshSettings;
  if (fromStack) {
    const project = resolve(values.project ?? '.');
    const file = values['config-file'] ?? join(project, `Pulumi.${values.stack ?? ''}.yaml`);
    settings = readMeshSettings(await readStackConfigFile(file), project);
  } else {
    settings = { inventoryPath: positionals[0] ?? '', args: {} };
  }
  const inventory = await loadChecked(settings.inventoryPath);
  return resolveMeshSettings({ inventory, ...settings.args });
}

/** `peer-sheet`: what an unmanaged host's side must be configured with; never a key. */
async function peerSheet(values: RenderFlags & { readonly json?: boolean | undefined }, positionals: readonly string[]): Promise<number> {
  const options = await meshOptionsFrom('peer-sheet', values, positionals, 1);
  const name = positionals[positionals.length - 1]!;
  const host = options.inventory.hosts.find((h) => h.name === name);
  if (host === undefined) throw new UsageError(`peer-sheet: "${name}" is not a host of ${options.inventory.source}`);
  if (host.unmanaged !== true) throw new UsageError(`peer-sheet: "${name}" is managed by ipsec-mesh (no managed: false); its configuration is pushed, not typed in`);
  const sheet = planPeerSheet(options.inventory, host, pairsForHost(options.pairs, name));
  process.stdout.write(values.json === true ? `${JSON.stringify(sheet, null, 2)}\n` : formatPeerSheet(sheet));
  return 0;
}

/** `hostkeys scan INVENTORY`: every host's key as an inventory snippet; exit 1 when one is missing. */
async function hostKeys(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { type: { type: 'string' } } });
  const [sub, inventoryPath, ...extra] = positionals;
  if (sub !== 'scan' || inventoryPath === undefined || extra.length > 0) throw new UsageError('hostkeys: expected `hostkeys scan INVENTORY`');
  const type = values.type ?? 'ed25519';
  if (!['ed25519', 'ecdsa', 'rsa'].includes(type)) throw new UsageError('--type takes ed25519, ecdsa or rsa');
  // Loaded without the trust check: an inventory without keys is what this is for.
  const inventory = await loadInventoryFile(inventoryPath);
  let progress: ReturnType<typeof startProgressLine> | undefined;
  const keys = await scanHostKeys(inventory, { type, onJobs: (n) => (progress = startProgressLine('hostkeys scan', n)), onHostDone: (h) => progress?.hostDone(h) });
  progress?.finish();
  process.stdout.write(formatHostKeySnippets(inventoryPath, keys, new Date()));
  const missing = keys.filter((k) => k.key === undefined);
  for (const k of missing) process.stderr.write(`ipsec-mesh: ${k.name} (${k.address}:${k.port}): no ${type} key: ${k.error ?? ''}\n`);
  return missing.length === 0 ? 0 : 1;
}

/**
 * `check`: a Nagios/Icinga plugin (docs/operations.md, *The check*). Every failure, bad flags
 * included, is UNKNOWN (exit 3) with one line on stdout, as the plugin guidelines ask.
 */
async function check(args: readonly string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        'ssh-key': { type: 'string' },
        host: { type: 'string' },
        expect: { type: 'string' },
        'down-warning': { type: 'string' },
        'down-critical': { type: 'string' },
        'cert-warning': { type: 'string' },
        'cert-critical': { type: 'string' },
      },
    });
    const [inventoryPath, ...extra] = positionals;
    if (inventoryPath === undefined || extra.length > 0) throw new UsageError('check: expected exactly one INVENTORY');
    const key = values['ssh-key'];
    if (key === undefined) throw new UsageError('check needs --ssh-key FILE');
    const expect = values.expect ?? DEFAULT_CHECK_THRESHOLDS.expect;
    if (expect !== 'ike' && expect !== 'encrypted') throw new UsageError('--expect takes ike or encrypted');
    const count = (flag: string, v: string | undefined, d: number, min: number, whole = false): number => {
      if (v === undefined) return d;
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < min || (whole && !Number.isInteger(n))) {
        throw new UsageError(`${flag} takes a ${whole ? 'whole ' : ''}number of at least ${min}, got "${v}"`);
      }
      return n;
    };
    const thresholds: MeshCheckThresholds = {
      expect,
      downWarning: count('--down-warning', values['down-warning'], DEFAULT_CHECK_THRESHOLDS.downWarning, 1, true),
      downCritical: count('--down-critical', values['down-critical'], DEFAULT_CHECK_THRESHOLDS.downCritical, 1, true),
      certWarningDays: count('--cert-warning', values['cert-warning'], DEFAULT_CHECK_THRESHOLDS.certWarningDays, 0),
      certCriticalDays: count('--cert-critical', values['cert-critical'], DEFAULT_CHECK_THRESHOLDS.certCriticalDays, 0),
    };
    // The scheduler reads stdout only; the host-key warnings still go to stderr, as everywhere.
    const inventory = await loadChecked(inventoryPath);
    const pairs = validateMesh(inventory);
    const host = values.host;
    let only: string[] | undefined;
    if (host !== undefined) {
      const h = inventory.hosts.find((x) => x.name === host);
      if (h === undefined) throw new UsageError(`--host ${host}: not a host of ${inventory.source}`);
      if (h.unmanaged === true) throw new UsageError(`--host ${host}: unmanaged (managed: false); check its managed peers instead`);
      // The host and its peers: a pair is judged from both of its ends.
      only = [...new Set([host, ...pairs.pairs.filter((p) => p.a === host || p.b === host).flatMap((p) => [p.a, p.b])])];
    }
    const certMode = inventory.mesh.auth === 'certificate';
    const hosts = managedHosts(inventory).filter((h) => only === undefined || only.includes(h.name)).length;
    const progress = startProgressLine('check', hosts, { readsPerHost: certMode ? 2 : 1 });
    const ssh = { identityFile: key, onHostDone: progress.hostDone, ...(only ? { hosts: only } : {}) };
    const [{ rows, reports }, certificates] = await Promise.all([
      collectPairStatus(inventory, pairs, ssh),
      certMode ? collectCertificateExpiry(inventory, ssh) : Promise.resolve(undefined),
    ]);
    progress.finish();
    const result = evaluateMeshCheck({ mesh: inventory.mesh.name, rows, reports, thresholds, ...(certificates ? { certificates } : {}), ...(host ? { host } : {}) });
    process.stdout.write(formatMeshCheck(result));
    return result.exitCode;
  } catch (err) {
    const why = err instanceof InventoryError ? err.format() : err instanceof Error ? err.message : String(err);
    process.stdout.write(meshCheckUnknown(why));
    return 3;
  }
}

/** Loads an inventory and prints, on every run, a warning per host that accepts any SSH host key. */
async function loadChecked(path: string): Promise<Inventory> {
  const inventory = await loadInventoryFile(path);
  for (const w of insecureHostKeyWarnings(inventory)) process.stderr.write(`ipsec-mesh: warning: ${w}\n`);
  return inventory;
}

/** Non-zero /proc/net/xfrm_stat error counters per host (XfrmInNoStates: ESP for an SA this host lacks). */
function formatKernelCounters(reports: readonly HostSaReport[]): string {
  const lines = reports.map((r) => {
    if (r.xfrmStat === undefined) return `  ${r.host}: not read`;
    const bad = [...r.xfrmStat].filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`);
    return `  ${r.host}: ${bad.length > 0 ? bad.join(', ') : 'no xfrm errors'}`;
  });
  return `kernel xfrm_stat:\n${lines.join('\n')}`;
}

function formatSummary(s: MatrixSummary): string {
  const parts = Object.entries(s.byHealth)
    .filter(([, n]) => n > 0)
    .map(([h, n]) => `${n} ${h}`);
  return `${s.rows} pair/family rows: ${parts.join(', ')}${s.cleartext > 0 ? ` — ${s.cleartext} sending CLEARTEXT (enforcement use)` : ''}`;
}

async function readMaster(flag: string, path: string): Promise<string> {
  try {
    // A trailing newline from `echo`/editors is not part of the secret.
    return (await readFile(path)).toString('utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new RenderOptionsError(`${flag} ${path}: ${(err as Error).message}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof InventoryError) {
      process.stderr.write(`${err.format()}\n`);
    } else if (err instanceof UsageError) {
      process.stderr.write(`ipsec-mesh: ${err.message}\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    } else if (
      err instanceof RenderError ||
      err instanceof RenderOptionsError ||
      err instanceof PskDerivationError ||
      err instanceof StackConfigError ||
      err instanceof StackConfigFileError ||
      err instanceof MeshArgsError ||
      err instanceof CredentialsError
    ) {
      process.stderr.write(`ipsec-mesh: ${err.message}\n`);
    } else if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ipsec-mesh: ${err.message}\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    } else {
      process.stderr.write(`ipsec-mesh: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exitCode = 1;
  },
);
