// The package as another team gets it: build a copy of the package, `npm pack` it, install
// the tarball into a copy of examples/consumer (npm registry only, cache first), then the
// consumer type-checks against the packed declarations and runs its own vitest mock test.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(join(tmpdir(), 'ipsec-mesh-pack-'));
const pkgDir = join(tmp, 'package-src');
const consumerDir = join(tmp, 'consumer');
let tarball = '';

function run(cmd: string, args: string[], cwd: string, timeoutMs = 600_000): { status: number; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function mustRun(cmd: string, args: string[], cwd: string): string {
  const r = run(cmd, args, cwd);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.out}`);
  return r.out;
}

beforeAll(() => {
  // 1. A clean copy of the package sources, built with the package's own build config.
  for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md']) {
    if (existsSync(join(repo, f))) cpSync(join(repo, f), join(pkgDir, f));
  }
  cpSync(join(repo, 'components'), join(pkgDir, 'components'), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(pkgDir, 'node_modules'), 'dir');
  mustRun(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], pkgDir);
  const packed = JSON.parse(mustRun('npm', ['pack', '--json', '--pack-destination', tmp], pkgDir)) as { filename: string }[];
  tarball = join(tmp, packed[0]!.filename);

  // 2. The consumer example, pointed at this tarball, installed like any project.
  cpSync(join(repo, 'examples/consumer'), consumerDir, {
    recursive: true,
    filter: (src) => !/[/\\](node_modules|dist)$/.test(src),
  });
  const manifest = JSON.parse(readFileSync(join(consumerDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  expect(manifest.dependencies['ipsec-mesh']).toMatch(/^file:.*ipsec-mesh-0\.1\.0\.tgz$/);
  manifest.dependencies['ipsec-mesh'] = `file:${tarball}`;
  writeFileSync(join(consumerDir, 'package.json'), JSON.stringify(manifest, null, 2));
  // --ignore-scripts: the provider packages' install scripts only fetch engine plugins,
  // which mocks do not need.
  mustRun('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], consumerDir);
}, 900_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }), 120_000);

describe('the packed package', () => {
  it('holds the built entry point and its declarations — no sources, tests or stacks', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    expect(files).toContain('package/package.json');
    expect(files).toContain('package/dist/components/index.js');
    expect(files).toContain('package/dist/components/index.d.ts');
    expect(files).toContain('package/dist/components/mesh/ipsec-mesh.js');
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /\/(tests|stacks|lab|bench)\//.test(f))).toEqual([]);
  });

  it('installs with a single copy of @pulumi/pulumi (a second copy breaks mocks)', () => {
    const copies: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        const p = join(dir, entry.name);
        if (entry.name === 'node_modules') walk(p);
        else if (entry.name === '@pulumi') {
          if (existsSync(join(p, 'pulumi/package.json'))) copies.push(join(p, 'pulumi'));
          for (const sub of readdirSync(p)) if (existsSync(join(p, sub, 'node_modules'))) walk(join(p, sub, 'node_modules'));
        } else if (existsSync(join(p, 'node_modules'))) walk(join(p, 'node_modules'));
      }
    };
    walk(join(consumerDir, 'node_modules'));
    expect(copies).toEqual([join(consumerDir, 'node_modules/@pulumi/pulumi')]);
    expect(existsSync(join(consumerDir, 'node_modules/ipsec-mesh/dist/components/index.js'))).toBe(true);
  });

  it('type-checks the consumer against the packed declarations', () => {
    const r = run(process.execPath, [join(consumerDir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit'], consumerDir);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  }, 300_000);

  it("runs the consumer's own mock test", () => {
    const r = run(process.execPath, [join(consumerDir, 'node_modules/vitest/vitest.mjs'), 'run'], consumerDir);
    expect(r.out).toMatch(/Tests\s+.*1 passed/);
    expect(r.status, r.out).toBe(0);
  }, 300_000);
});
