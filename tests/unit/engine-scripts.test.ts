// The contract of scripts/build-engine.sh and scripts/engine-env.sh, checked against a fake
// stamped build in a temporary cache: nothing is compiled here (the real build, its plugin
// checks and its up/destroy smoke test run in `npm test` as `build-engine.sh --check` and
// tests/lab/engine-upstream.test.ts).
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const buildScript = join(root, 'scripts/build-engine.sh');
const envScript = join(root, 'scripts/engine-env.sh');
const upstream = resolve(root, '../shared/upstream');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const pins = { ...pkg.dependencies, ...pkg.devDependencies };

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

let tmp: string;
let baseEnv: NodeJS.ProcessEnv;

/** PATH with node, go and coreutils but never a pulumi from the machine. */
function cleanPath(): string {
  const dirs = (process.env['PATH'] ?? '').split(':').filter((d) => d && !existsSync(join(d, 'pulumi')));
  return [join(tmp, 'nopulumi'), ...dirs].join(':');
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(cmd, args, { env: { ...baseEnv, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A stamped build where the real one would be, with a fake pulumi in it. */
function fakeBuild(): string {
  const dest = run(buildScript, ['--key']).stdout.trim();
  const bin = join(dest, 'bin');
  mkdirSync(bin, { recursive: true });
  mkdirSync(join(dest, 'home'), { recursive: true });
  writeFileSync(join(bin, 'pulumi'), `#!/bin/sh\necho v${pins['@pulumi/pulumi']}\n`);
  chmodSync(join(bin, 'pulumi'), 0o755);
  writeFileSync(join(dest, '.complete'), 'fake\n');
  return bin;
}

function ownPulumi(): string {
  const own = join(tmp, 'own-bin');
  mkdirSync(own, { recursive: true });
  writeFileSync(join(own, 'pulumi'), '#!/bin/sh\necho v3.200.0\n');
  chmodSync(join(own, 'pulumi'), 0o755);
  return own;
}

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'engine-scripts-'));
  mkdirSync(join(tmp, 'nopulumi'));
  mkdirSync(join(tmp, 'home'));
  // HOME is a fresh directory, so a write to ~/.pulumi would show; go's telemetry config
  // (written by `go env` from a child that can outlive the test) stays in the real one.
  baseEnv = {
    PATH: '',
    HOME: join(tmp, 'home'),
    XDG_CONFIG_HOME: process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'),
    GOCACHE: spawnSync('go', ['env', 'GOCACHE'], { encoding: 'utf8' }).stdout.trim(),
    IPSEC_MESH_CACHE: join(tmp, 'cache'),
    IPSEC_MESH_UPSTREAM: upstream,
  };
  baseEnv['PATH'] = cleanPath();
});

afterEach(() => {
  // Nothing of ours in the user's plugin home, whatever the test did.
  expect(existsSync(join(tmp, 'home', '.pulumi'))).toBe(false);
  rmSync(tmp, { recursive: true, force: true });
});

describe('build-engine.sh', () => {
  it('keys the build directory on every pinned version and on the upstream sources', () => {
    const dest = run(buildScript, ['--key']).stdout.trim();
    expect(dest.startsWith(join(tmp, 'cache', 'engine') + '/')).toBe(true);
    for (const name of ['@pulumi/pulumi', '@pulumi/command', '@pulumi/tls', '@pulumi/random']) {
      expect(dest).toContain(`-${pins[name]}-`);
    }
    // Another build.sh is another build.
    const copy = join(tmp, 'upstream');
    mkdirSync(copy);
    for (const f of readdirSync(upstream).filter((f) => f.startsWith('pulumi-') || f.startsWith('terraform-'))) writeFileSync(join(copy, f), '');
    writeFileSync(join(copy, 'build.sh'), '#!/bin/sh\n');
    const other = run(buildScript, ['--key'], { IPSEC_MESH_UPSTREAM: copy }).stdout.trim();
    expect(other).not.toBe(dest);
  });

  it('pins exactly the provider versions the upstream archives hold', () => {
    for (const name of ['command', 'tls', 'random']) {
      expect(existsSync(join(upstream, `pulumi-${name}-v${pins[`@pulumi/${name}`]}.tar.gz`)), `@pulumi/${name} ${pins[`@pulumi/${name}`]}`).toBe(true);
    }
    expect(existsSync(join(upstream, `pulumi-language-hosts-v${pins['@pulumi/pulumi']}.tar.gz`))).toBe(true);
  });

  it('reports a missing build without building', () => {
    const r = run(buildScript, ['--print-dir']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(existsSync(join(tmp, 'cache', 'engine'))).toBe(false);
  });

  it('only prints where a finished build is', () => {
    const bin = fakeBuild();
    const r = run(buildScript, []);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(bin);
    expect(r.stderr).toContain('up to date');
  });

  it('refuses, before building anything, upstream sources of other versions than package.json pins', () => {
    const other = join(tmp, 'upstream-other');
    cpSync(join(upstream, 'build.sh'), join(other, 'build.sh'));
    writeFileSync(join(other, 'pulumi-command-v9.9.9.tar.gz'), '');
    const r = run(buildScript, [], { IPSEC_MESH_UPSTREAM: other });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`package.json pins @pulumi/command ${pins['@pulumi/command']} but ${other} has pulumi-command-v9.9.9.tar.gz`);
    expect(existsSync(join(tmp, 'cache', 'engine'))).toBe(false);
  });

  it('says where to point it when the upstream sources are missing', () => {
    const r = run(buildScript, [], { IPSEC_MESH_UPSTREAM: join(tmp, 'nowhere') });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no upstream plugin sources at');
    expect(r.stderr).toContain('IPSEC_MESH_UPSTREAM');
  });

  it('builds nothing on a workstation that has its own pulumi', () => {
    const own = ownPulumi();
    const r = run(buildScript, [], { PATH: `${own}:${cleanPath()}` });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`using the pulumi on PATH: ${join(own, 'pulumi')}`);
    expect(r.stdout).toBe('');
    expect(existsSync(join(tmp, 'cache', 'engine'))).toBe(false);
  });
});

describe('engine-env.sh', () => {
  it("prints offline settings with the built engine first on PATH and the build's own PULUMI_HOME", () => {
    const bin = fakeBuild();
    // Even a PULUMI_HOME the user set is not where the lab's plugins and stacks go.
    const r = run(envScript, [], { PULUMI_HOME: join(tmp, 'home', '.pulumi-user') });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`export PATH=${bin}:"$PATH"`);
    expect(r.stdout).toContain(`export PULUMI_HOME=${join(dirname(bin), 'home')}\n`);
    expect(r.stdout).toContain('export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true');
    expect(r.stdout).toContain('export PULUMI_SKIP_UPDATE_CHECK=true');
    expect(r.stdout).toContain('export PULUMI_CONFIG_PASSPHRASE=');
  });

  it('keeps a passphrase the user already set, even an empty one', () => {
    fakeBuild();
    expect(run(envScript, [], { PULUMI_CONFIG_PASSPHRASE: '' }).stdout).not.toContain('PULUMI_CONFIG_PASSPHRASE');
    expect(run(envScript, [], { PULUMI_CONFIG_PASSPHRASE_FILE: '/x' }).stdout).not.toContain('PULUMI_CONFIG_PASSPHRASE=');
  });

  it('changes the calling shell when sourced', () => {
    const bin = fakeBuild();
    const r = run('bash', ['-c', `. '${envScript}' && command -v pulumi && pulumi && echo "$PULUMI_SKIP_UPDATE_CHECK" && echo "$PULUMI_HOME"`]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([join(bin, 'pulumi'), `v${pins['@pulumi/pulumi']}`, 'true', join(dirname(bin), 'home')]);
  });

  it('gives a workstation pulumi a private PULUMI_HOME and leaves its plugin downloads on', () => {
    const own = ownPulumi();
    const r = run(envScript, [], { PATH: `${own}:${cleanPath()}` });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('PATH=');
    expect(r.stdout).toContain(`export PULUMI_HOME=${join(tmp, 'cache', 'pulumi-home')}\n`);
    expect(r.stdout).not.toContain('PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION');
    expect(r.stdout).toContain('export PULUMI_SKIP_UPDATE_CHECK=true');
  });

  it('fails clearly with neither an engine nor a pulumi', () => {
    const r = run('bash', ['-c', `. '${envScript}'; echo "rc=$?"`]);
    expect(r.stdout.trim()).toBe('rc=1');
    expect(r.stderr).toContain('run scripts/build-engine.sh first');
  });
});

describe('the repository', () => {
  it('holds no Go source: every plugin is the upstream build', () => {
    const r = spawnSync('git', ['ls-files', '*.go', '**/go.mod'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('');
  });
});
