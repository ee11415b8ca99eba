// The package as another team gets it: build a copy of the package, `npm pack` it, install
// the tarball into copies of examples/consumer (ES module) and examples/consumer-cjs
// (CommonJS), then: the ES consumer type-checks against the packed declarations and runs its
// own mock test, and each consumer runs a real `pulumi up` (upstream engine and plugins)
// against a namespace lab, every pair comes up, and `pulumi destroy` leaves the hosts clean.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { labPulumi } from '../../lab/lab-pulumi.js';
import { type Lab, type ProcessRecord, startLab, writeLabInventory } from '../../lab/netns/index.js';
import { validateMesh } from '../../components/cli/validate-mesh.js';
import { loadInventoryFile } from '../../components/inventory/index.js';
import { expectNothingLeft, requireLabPrerequisites, threeHostSpec } from './lab-test-support.js';
import { expectedPairKeys, hostFiles, isMeshPath, keysUpOnBothEnds, negotiate, useEngine } from './pulumi-support.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(join(tmpdir(), 'ipsec-mesh-pack-'));
const pkgDir = join(tmp, 'package-src');
const CONSUMERS = { esm: join(tmp, 'consumer'), cjs: join(tmp, 'consumer-cjs') } as const;
const LAB = 'consumer';
let tarball = '';
let lab: Lab | undefined;
let processes: readonly ProcessRecord[] = [];
let setupError: unknown;

function run(cmd: string, args: string[], cwd: string, timeoutMs = 600_000): { status: number; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function mustRun(cmd: string, args: string[], cwd: string): string {
  const r = run(cmd, args, cwd);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.out}`);
  return r.out;
}

/** A copy of examples/<name> whose ipsec-mesh dependency is the packed tarball, installed and built. */
function installConsumer(example: string, dir: string): void {
  cpSync(join(repo, 'examples', example), dir, { recursive: true, filter: (src) => !/[/\\](node_modules|dist)$/.test(src) });
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  expect(manifest.dependencies['ipsec-mesh']).toMatch(/^file:.*ipsec-mesh-0\.1\.0\.tgz$/);
  manifest.dependencies['ipsec-mesh'] = `file:${tarball}`;
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  // --ignore-scripts: the provider packages' install scripts would fetch plugins; the
  // engine's own PULUMI_HOME already has the upstream builds.
  mustRun('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], dir);
  mustRun(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], dir);
}

beforeAll(async () => {
  try {
    requireLabPrerequisites();
    useEngine();
    // 1. A clean copy of the package sources, built with the package's own build config.
    for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md']) {
      if (existsSync(join(repo, f))) cpSync(join(repo, f), join(pkgDir, f));
    }
    cpSync(join(repo, 'components'), join(pkgDir, 'components'), { recursive: true });
    cpSync(join(repo, 'monitoring'), join(pkgDir, 'monitoring'), { recursive: true });
    cpSync(join(repo, 'docs', 'runbook.md'), join(pkgDir, 'docs', 'runbook.md'));
    cpSync(join(repo, 'scripts/copy-shell-scripts.mjs'), join(pkgDir, 'scripts/copy-shell-scripts.mjs'));
    symlinkSync(join(repo, 'node_modules'), join(pkgDir, 'node_modules'), 'dir');
    // The package's own build: tsc, then the host scripts the library reads at run time.
    mustRun('npm', ['run', '--silent', 'build'], pkgDir);
    const packed = JSON.parse(mustRun('npm', ['pack', '--json', '--pack-destination', tmp], pkgDir)) as { filename: string }[];
    tarball = join(tmp, packed[0]!.filename);
    // 2. Both consumers, installed like any project.
    installConsumer('consumer', CONSUMERS.esm);
    installConsumer('consumer-cjs', CONSUMERS.cjs);
    // 3. The lab they deploy to.
    lab = await startLab(threeHostSpec(LAB));
    processes = lab.processes;
  } catch (e) {
    setupError = e;
  }
}, 900_000);

beforeEach(() => {
  if (setupError !== undefined) throw setupError;
});

afterAll(async () => {
  if (lab) await lab.down();
  rmSync(tmp, { recursive: true, force: true });
  expectNothingLeft(LAB, processes);
}, 120_000);

describe('the packed package', () => {
  it('holds the built entry point and its declarations — no sources, tests or stacks', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    expect(files).toContain('package/package.json');
    expect(files).toContain('package/dist/components/index.js');
    expect(files).toContain('package/dist/components/index.d.ts');
    // What operations teams load into Prometheus and Grafana, and the runbook the alerts link to.
    expect(files).toContain('package/monitoring/prometheus/ipsec-mesh.rules.yml');
    expect(files).toContain('package/monitoring/grafana/ipsec-mesh.dashboard.json');
    expect(files).toContain('package/docs/runbook.md');
    expect(files).toContain('package/dist/components/mesh/ipsec-mesh.js');
    expect(files).toContain('package/dist/components/operations/scripts/rollout-gate.sh');
    expect(files).toContain('package/dist/components/operations/scripts/drift-check.sh');
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /\/(tests|stacks|lab|bench)\//.test(f))).toEqual([]);
  });

  it('installs with a single copy of @pulumi/pulumi (a second copy breaks mocks)', () => {
    for (const dir of Object.values(CONSUMERS)) {
      const copies: string[] = [];
      const walk = (d: string): void => {
        for (const entry of readdirSync(d, { withFileTypes: true })) {
          if (!entry.isDirectory()) continue;
          const p = join(d, entry.name);
          if (entry.name === 'node_modules') walk(p);
          else if (entry.name === '@pulumi') {
            if (existsSync(join(p, 'pulumi/package.json'))) copies.push(join(p, 'pulumi'));
            for (const sub of readdirSync(p)) if (existsSync(join(p, sub, 'node_modules'))) walk(join(p, sub, 'node_modules'));
          } else if (existsSync(join(p, 'node_modules'))) walk(join(p, 'node_modules'));
        }
      };
      walk(join(dir, 'node_modules'));
      expect(copies).toEqual([join(dir, 'node_modules/@pulumi/pulumi')]);
      expect(existsSync(join(dir, 'node_modules/ipsec-mesh/dist/components/index.js'))).toBe(true);
    }
  });

  it('is loaded by require() from CommonJS as well as by import', () => {
    const cjs = run(process.execPath, ['-e', "const m = require('ipsec-mesh'); console.log(typeof m.IpsecMesh, typeof m.loadInventoryYaml)"], CONSUMERS.cjs);
    expect(cjs.out.trim(), cjs.out).toBe('function function');
    // The compiled CommonJS stack really requires it (tsc did not turn it into an import).
    expect(readFileSync(join(CONSUMERS.cjs, 'dist/index.js'), 'utf8')).toContain('require("ipsec-mesh")');
  });

  it('type-checks the ES consumer against the packed declarations', () => {
    const r = run(process.execPath, [join(CONSUMERS.esm, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit'], CONSUMERS.esm);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  }, 300_000);

  it("runs the ES consumer's own mock test", () => {
    const r = run(process.execPath, [join(CONSUMERS.esm, 'node_modules/vitest/vitest.mjs'), 'run'], CONSUMERS.esm);
    // Its two tests: the resource counts, and the typed model equal to its YAML twin.
    expect(r.out).toMatch(/Tests\s+.*2 passed/);
    expect(r.status, r.out).toBe(0);
  }, 300_000);

  for (const [kind, dir] of Object.entries(CONSUMERS)) {
    it(`deploys the mesh from the ${kind === 'esm' ? 'ES module' : 'CommonJS'} consumer with pulumi up, and destroys it`, async () => {
      const l = lab!;
      const inventoryPath = writeLabInventory(l);
      const pairs = validateMesh(await loadInventoryFile(inventoryPath));
      const hosts = l.hosts.map((h) => h.name);
      const pulumi = (args: string[], stdin?: string) => labPulumi(l, args, { project: dir, ...(stdin !== undefined && { stdin }) });
      await pulumi(['stack', 'select', '--create', 'lab']);
      await pulumi(['config', 'set', 'inventory', inventoryPath]);
      await pulumi(['config', 'set', '--secret', 'sshPrivateKey'], readFileSync(l.sshKeyPath, 'utf8'));
      try {
        await pulumi(['up', '--yes', '--skip-preview']);
        const summary = JSON.parse((await pulumi(['stack', 'output', 'hosts', '--json'])).stdout) as { name: string }[];
        expect(summary.map((h) => h.name).sort()).toEqual(hosts);
        const expected = expectedPairKeys(pairs);
        expect(keysUpOnBothEnds(await negotiate(l, hosts, expected))).toEqual(expected);
      } finally {
        await pulumi(['destroy', '--yes', '--skip-preview']);
        await pulumi(['stack', 'rm', '--yes', 'lab']);
      }
      for (const h of hosts) expect([...hostFiles(l, h).keys()].filter(isMeshPath), `mesh files left on ${h}`).toEqual([]);
    }, 300_000);
  }
});
