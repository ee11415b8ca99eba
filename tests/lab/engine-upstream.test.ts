// The engine the lab and every end-to-end test run on is upstream, all of it (docs/engine.md):
// the providers in the engine's own PULUMI_HOME are the upstream builds at the versions
// package.json pins, both language hosts load, and nothing lives in the user's ~/.pulumi.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_DIR } from '../../lab/lab-pulumi.js';
import { useEngine } from './pulumi-support.js';

const pkg = JSON.parse(readFileSync(join(PROJECT_DIR, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
const pins = { ...pkg.dependencies, ...pkg.devDependencies };
/** Each provider's upstream Go packages: in the binary only if it was built from that source. */
const UPSTREAM_PACKAGES: Record<string, readonly string[]> = {
  command: ['github.com/pulumi/pulumi-command/provider/pkg/provider/remote', 'github.com/pulumi/pulumi-go-provider'],
  tls: ['github.com/pulumi/pulumi-tls/provider/v5', 'github.com/hashicorp/terraform-provider-tls/internal/provider'],
  random: ['github.com/pulumi/pulumi-random/provider/v4', 'github.com/terraform-providers/terraform-provider-random/internal/provider'],
};

interface PluginInfo {
  readonly name: string;
  readonly kind: string;
  readonly version: string;
  readonly path?: string;
}

function pulumi(args: string[], cwd: string): { status: number; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'engine-upstream-state-'));
  try {
    const r = spawnSync('pulumi', args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, PULUMI_BACKEND_URL: `file://${dir}` } });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let home = '';
let setupError: unknown;
beforeAll(() => {
  try {
    useEngine();
    home = process.env.PULUMI_HOME ?? '';
  } catch (e) {
    setupError = e;
  }
});

describe('the upstream engine', () => {
  it('runs with its own PULUMI_HOME, never the user\'s ~/.pulumi', () => {
    if (setupError) throw setupError;
    expect(home).not.toBe('');
    expect(realpathSync(home).startsWith(realpathSync(homedir()) + '/.pulumi')).toBe(false);
    expect(home).toContain('/ipsec-mesh/engine/');
  });

  it('has the three upstream providers at the pinned versions in that home', () => {
    if (setupError) throw setupError;
    const r = pulumi(['plugin', 'ls', '--json'], PROJECT_DIR);
    expect(r.status, r.stderr).toBe(0);
    const plugins = (JSON.parse(r.stdout) as PluginInfo[]).filter((p) => p.kind === 'resource');
    expect(plugins.map((p) => `${p.name} ${p.version}`).sort()).toEqual(['command', 'random', 'tls'].map((n) => `${n} ${pins[`@pulumi/${n}`]}`));
    for (const [name, packages] of Object.entries(UPSTREAM_PACKAGES)) {
      const binary = readFileSync(join(home, 'plugins', `resource-${name}-v${pins[`@pulumi/${name}`]}`, `pulumi-resource-${name}`));
      for (const p of packages) expect(binary.includes(p), `pulumi-resource-${name} contains ${p}`).toBe(true);
    }
  });

  it('lists them in `pulumi about` (the Node.js language host reads the dependencies next to the program)', () => {
    if (setupError) throw setupError;
    // Upstream's Node.js host looks for node_modules in the program's directory; this repo's
    // main is dist/stacks/index.js, so a project whose main sits beside node_modules is used.
    const project = mkdtempSync(join(tmpdir(), 'engine-about-'));
    try {
      writeFileSync(join(project, 'Pulumi.yaml'), 'name: about-check\nruntime: nodejs\n');
      writeFileSync(join(project, 'package.json'), '{ "name": "about-check", "main": "index.js" }\n');
      writeFileSync(join(project, 'index.js'), '\n');
      symlinkSync(join(PROJECT_DIR, 'node_modules'), join(project, 'node_modules'), 'dir');
      const r = pulumi(['about', '--json'], project);
      const about = JSON.parse(r.stdout) as { plugins: { name: string; version: string; kind: string }[] };
      expect(about.plugins.map((p) => `${p.kind} ${p.name} ${p.version}`).sort(), r.stderr).toEqual(
        [...['command', 'random', 'tls'].map((n) => `resource ${n} ${pins[`@pulumi/${n}`]}`), `language nodejs ${pins['@pulumi/pulumi']}`].sort(),
      );
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it('has both language hosts next to pulumi: upstream builds of the pinned release', () => {
    if (setupError) throw setupError;
    const bin = process.env.IPSEC_MESH_ENGINE_BIN!;
    for (const lang of ['nodejs', 'python']) {
      const host = join(bin, `pulumi-language-${lang}`);
      expect(readFileSync(host).includes(`github.com/pulumi/pulumi/sdk/${lang}/cmd/pulumi-language-${lang}`), `pulumi-language-${lang}`).toBe(true);
      const v = spawnSync(host, ['-version'], { encoding: 'utf8' });
      expect(v.stdout.trim(), v.stderr).toBe(`v${pins['@pulumi/pulumi']}`);
    }
  });
});
