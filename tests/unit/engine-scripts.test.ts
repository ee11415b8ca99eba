// The contract of scripts/build-engine.sh and scripts/engine-env.sh, checked
// against a fake stamped build in a temporary cache: nothing is compiled here
// (the real build and its up/destroy smoke test is `build-engine.sh --check`).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const buildScript = join(root, 'scripts/build-engine.sh');
const envScript = join(root, 'scripts/engine-env.sh');
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
  writeFileSync(join(bin, 'pulumi'), `#!/bin/sh\necho v${pins['@pulumi/pulumi']}\n`);
  writeFileSync(join(bin, 'ipsec-mesh-engine'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(bin, 'pulumi'), 0o755);
  chmodSync(join(bin, 'ipsec-mesh-engine'), 0o755);
  writeFileSync(join(dest, '.complete'), 'fake\n');
  return bin;
}

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'engine-scripts-'));
  mkdirSync(join(tmp, 'nopulumi'));
  // HOME stays the real one: everything the scripts would put there is
  // redirected below, and go's telemetry writes there from a child that can
  // outlive the test (it would re-create a temp HOME after its removal).
  baseEnv = {
    PATH: '',
    HOME: process.env['HOME'],
    IPSEC_MESH_CACHE: join(tmp, 'cache'),
    PULUMI_HOME: join(tmp, 'pulumi-home'),
  };
  baseEnv['PATH'] = cleanPath();
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('build-engine.sh', () => {
  it('keys the build directory on every pinned version', () => {
    const dest = run(buildScript, ['--key']).stdout.trim();
    expect(dest.startsWith(join(tmp, 'cache', 'engine') + '/')).toBe(true);
    for (const name of ['@pulumi/pulumi', '@pulumi/command', '@pulumi/tls', '@pulumi/random']) {
      expect(dest).toContain(`-${pins[name]}-`);
    }
  });

  it('reports a missing build without building', () => {
    const r = run(buildScript, ['--print-dir']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(existsSync(join(tmp, 'cache', 'engine'))).toBe(false);
  });

  it('only prints where a finished build is, and links the providers at their pinned versions', () => {
    const bin = fakeBuild();
    const r = run(buildScript, []);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(bin);
    expect(r.stderr).toContain('up to date');
    for (const name of ['command', 'tls', 'random']) {
      const link = join(tmp, 'pulumi-home', 'plugins', `resource-${name}-v${pins[`@pulumi/${name}`]}`, `pulumi-resource-${name}`);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toBe(join(bin, 'ipsec-mesh-engine'));
    }
  });

  it('never replaces a real plugin already in the plugin cache', () => {
    fakeBuild();
    const dir = join(tmp, 'pulumi-home', 'plugins', `resource-tls-v${pins['@pulumi/tls']}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pulumi-resource-tls'), 'real plugin');
    expect(run(buildScript, []).status).toBe(0);
    expect(lstatSync(join(dir, 'pulumi-resource-tls')).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(dir, 'pulumi-resource-tls'), 'utf8')).toBe('real plugin');
  });

  it('builds nothing on a workstation that has its own pulumi', () => {
    const own = join(tmp, 'own-bin');
    mkdirSync(own);
    writeFileSync(join(own, 'pulumi'), '#!/bin/sh\necho v3.200.0\n');
    chmodSync(join(own, 'pulumi'), 0o755);
    const r = run(buildScript, [], { PATH: `${own}:${cleanPath()}` });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`using the pulumi on PATH: ${join(own, 'pulumi')}`);
    expect(r.stdout).toBe('');
    expect(existsSync(join(tmp, 'cache', 'engine'))).toBe(false);
  });
});

describe('engine-env.sh', () => {
  it('prints offline settings with the built engine first on PATH', () => {
    const bin = fakeBuild();
    const r = run(envScript, []);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`export PATH=${bin}:"$PATH"`);
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
    const r = run('bash', ['-c', `. '${envScript}' && command -v pulumi && pulumi && echo "$PULUMI_SKIP_UPDATE_CHECK"`]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([join(bin, 'pulumi'), `v${pins['@pulumi/pulumi']}`, 'true']);
  });

  it('leaves plugin downloads on for a workstation pulumi when no engine is built', () => {
    const own = join(tmp, 'own-bin');
    mkdirSync(own);
    writeFileSync(join(own, 'pulumi'), '#!/bin/sh\necho v3.200.0\n');
    chmodSync(join(own, 'pulumi'), 0o755);
    const r = run(envScript, [], { PATH: `${own}:${cleanPath()}` });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('PATH=');
    expect(r.stdout).not.toContain('PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION');
    expect(r.stdout).toContain('export PULUMI_SKIP_UPDATE_CHECK=true');
  });

  it('fails clearly with neither an engine nor a pulumi', () => {
    const r = run('bash', ['-c', `. '${envScript}'; echo "rc=$?"`]);
    expect(r.stdout.trim()).toBe('rc=1');
    expect(r.stderr).toContain('run scripts/build-engine.sh first');
  });
});
