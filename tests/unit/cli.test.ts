import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivePairPsk } from '../../components/credentials/psk-derivation.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const tsx = join(root, 'node_modules/.bin/tsx');
const cli = join(root, 'components/cli/main.ts');

async function ipsecMesh(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tsx, [cli, ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const pskInventory = `
mesh: { name: lab, auth: psk }
sites:
  - { name: s1, prefixes: [198.51.100.0/25, "2001:db8:1::/64"] }
  - { name: s2, prefixes: [203.0.113.0/25] }
hosts:
  - { name: h1, site: s1, addresses: { ipv4: [198.51.100.11], ipv6: ["2001:db8:1::11"] }, ssh: { hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJRFSAaK3sHJQ06iWk5uO7015oaX8JEDxoxAWdfzR6kC" } }
  - { name: h2, site: s1, addresses: { ipv4: [198.51.100.12], ipv6: ["2001:db8:1::12"] }, ssh: { hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlJHRsRPi0vGwaDdv7r9QKBy48x8IXLFYzAbnqNmjg/" } }
  - { name: h3, site: s2, addresses: { ipv4: [203.0.113.13] }, ssh: { hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBt0T4FrjCfhrEVZM0e48xezPblzPEGgQhaIgNlHYKe0" } }
rules:
  - mesh: { sites: [s1, s2] }
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipsec-mesh-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ipsec-mesh CLI', () => {
  it('validates the example inventories', async () => {
    const files = ['cache-core.yaml', 'clusters.yaml', 'cloud-nat.yaml', 'unmanaged-router.yaml', 'roaming.yaml'];
    const runs = await Promise.all(files.map((f) => ipsecMesh('validate', join(root, 'examples/inventories', f))));
    runs.forEach((r, i) => {
      expect(r.stderr, files[i]).toBe('');
      expect(r.code, files[i]).toBe(0);
      expect(r.stdout).toMatch(/valid — \d+ hosts, \d+ pairs/);
    });
  }, 30_000);

  it('reports every problem with file and path, exit 1', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'mesh: {name: x}\nhosts: [{name: a, site: nope, adresses: {}}]\n');
    const r = await ipsecMesh('validate', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:2: hosts[0].adresses: unknown key "adresses"`);
    expect(r.stderr).toContain(`${bad}:1: sites: required field is missing`);
    expect(r.stderr.trim().split('\n').length).toBeGreaterThanOrEqual(3);
  });

  it('rejects a host without a pinned SSH host key, naming it; the explicit opt-out passes with a warning', async () => {
    const f = join(dir, 'nokey.yaml');
    const unpinned = pskInventory.replace(/, ssh: \{ hostKey: "[^"]+" \}( \}\n  - \{ name: h3)/, '$1');
    expect(unpinned).not.toBe(pskInventory);
    await writeFile(f, unpinned);
    const r = await ipsecMesh('validate', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f}: hosts[1].ssh.hostKey: host "h2" has no pinned SSH host key`);
    expect(r.stderr).toContain('ipsec-mesh hostkeys scan');
    await writeFile(f, unpinned.replace('{ name: h2, site: s1, addresses: { ipv4: [198.51.100.12], ipv6: ["2001:db8:1::12"] } }', '{ name: h2, site: s1, addresses: { ipv4: [198.51.100.12], ipv6: ["2001:db8:1::12"] }, ssh: { insecureAcceptAnyHostKey: true } }'));
    const ok = await ipsecMesh('validate', f);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain('warning:');
    expect(ok.stderr).toContain('host "h2": ssh.insecureAcceptAnyHostKey is true: ANY key presented at 198.51.100.12:22 is accepted');
  });

  it('reports an empty mesh (a topology check) against the inventory file', async () => {
    const f = join(dir, 'empty.yaml');
    await writeFile(f, pskInventory.replace('- mesh: { sites: [s1, s2] }', '- mesh: { sites: [s1] }\n  - exclude: { pairs: [[h1, h2]] }'));
    const r = await ipsecMesh('validate', f);
    expect(r.code).toBe(1);
    expect(r.stderr.startsWith(`${f}: rules: `)).toBe(true);
  });

  it('exits 2 with usage on bad arguments', async () => {
    expect((await ipsecMesh('frobnicate', 'x')).code).toBe(2);
    expect((await ipsecMesh('render', join(root, 'examples/inventories/clusters.yaml'))).stderr).toMatch(/--out/);
  });

  it('renders a certificate mesh host by host under DIR/<host>/ mirroring host paths', async () => {
    const out = join(dir, 'cert');
    const r = await ipsecMesh('render', join(root, 'examples/inventories/cache-core.yaml'), '--out', out);
    expect(r.code).toBe(0);
    const conf = await readFile(join(out, 'cp1001/etc/swanctl/conf.d/ipsec-mesh_dc-mesh.conf'), 'utf8');
    expect(conf).toMatch(/certs = ipsec-mesh_dc-mesh_cp1001\.pem/);
    expect(conf).not.toMatch(/PRIVATE KEY/);
  });

  it('derives PSK secrets from --psk-master exactly as derivePairPsk does, files 0600', async () => {
    const inv = join(dir, 'psk.yaml');
    const master = join(dir, 'master');
    const secret = 'm'.repeat(40);
    await writeFile(inv, pskInventory);
    await writeFile(master, `${secret}\n`);
    const out = join(dir, 'psk');
    const r = await ipsecMesh('render', inv, '--out', out, '--psk-master', master);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const secretsPath = join(out, 'h1/etc/swanctl/conf.d/ipsec-mesh_lab_secrets.conf');
    const secrets = await readFile(secretsPath, 'utf8');
    expect(secrets).toContain(derivePairPsk(secret, 'lab', 'h1', 'h2'));
    expect(secrets).toContain(derivePairPsk(secret, 'lab', 'h3', 'h1'));
    expect(secrets).not.toContain(derivePairPsk(secret, 'lab', 'h2', 'h3'));
    expect((await stat(secretsPath)).mode & 0o777).toBe(0o600);
    // The key never leaks into the connections file or the CLI's output.
    const conf = await readFile(join(out, 'h1/etc/swanctl/conf.d/ipsec-mesh_lab.conf'), 'utf8');
    expect(conf).not.toContain(derivePairPsk(secret, 'lab', 'h1', 'h2'));
    expect(r.stdout).not.toContain('0x');
  });

  it('refuses PSK mode without a master and a short master', async () => {
    const inv = join(dir, 'psk2.yaml');
    await writeFile(inv, pskInventory);
    expect((await ipsecMesh('render', inv, '--out', join(dir, 'x'))).stderr).toMatch(/--psk-master/);
    const short = join(dir, 'short');
    await writeFile(short, 'abc');
    const r = await ipsecMesh('render', inv, '--out', join(dir, 'y'), '--psk-master', short);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/at least 32/);
  });

  it('render --stack reads the stack config the stack program reads (enforcement overrides, off switch)', async () => {
    const project = join(dir, 'project');
    await mkdir(project, { recursive: true });
    await writeFile(join(project, 'psk.yaml'), pskInventory);
    const master = join(dir, 'master-stack');
    await writeFile(master, 'k'.repeat(40));
    await writeFile(
      join(project, 'Pulumi.prod.yaml'),
      [
        'config:',
        '  ipsec-mesh:inventory: psk.yaml',
        '  ipsec-mesh:enforcement: use',
        '  ipsec-mesh:pairEnforcement:',
        '    - { hosts: [h1, h3], enforcement: "off" }',
        '  ipsec-mesh:sshPrivateKey:',
        '    secure: v1:AAAA',
        '  other:key: ignored',
        '',
      ].join('\n'),
    );
    const plain = join(dir, 'stack-plain');
    expect((await ipsecMesh('render', join(project, 'psk.yaml'), '--out', plain, '--psk-master', master)).code).toBe(0);
    const staged = join(dir, 'stack-staged');
    const r = await ipsecMesh('render', '--stack', 'prod', '--project', project, '--out', staged, '--psk-master', master);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const conf = (out: string) => readFile(join(out, 'h1/etc/swanctl/conf.d/ipsec-mesh_lab.conf'), 'utf8');
    expect(await conf(plain)).toContain('lab_h3_v4');
    // pairEnforcement h1~h3 off: no connection; the rest at "use".
    expect(await conf(staged)).not.toContain('lab_h3_v4');
    expect(await conf(staged)).toContain('lab_h2_v4');
    expect(await conf(staged)).not.toEqual(await conf(plain));
    // The same through --config-file (the lab keeps its stack file outside the project).
    const viaFile = join(dir, 'stack-file');
    expect((await ipsecMesh('render', '--config-file', join(project, 'Pulumi.prod.yaml'), '--project', project, '--out', viaFile, '--psk-master', master)).code).toBe(0);
    expect(await conf(viaFile)).toEqual(await conf(staged));
  });

  it('render --stack: a bad key or a secret mesh key is named; INVENTORY and --stack together are a usage error', async () => {
    const project = join(dir, 'project-bad');
    await mkdir(project, { recursive: true });
    await writeFile(join(project, 'Pulumi.a.yaml'), 'config:\n  ipsec-mesh:inventory: x.yaml\n  ipsec-mesh:enforcement: sometimes\n');
    const a = await ipsecMesh('render', '--stack', 'a', '--project', project, '--out', join(dir, 'o1'));
    expect(a.code).toBe(1);
    expect(a.stderr).toContain('ipsec-mesh:enforcement: must be one of off, use, require');
    await writeFile(join(project, 'Pulumi.b.yaml'), 'config:\n  ipsec-mesh:inventory:\n    secure: v1:AAAA\n');
    const b = await ipsecMesh('render', '--stack', 'b', '--project', project, '--out', join(dir, 'o2'));
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('ipsec-mesh:inventory: is a secret in');
    const c = await ipsecMesh('render', 'inv.yaml', '--stack', 'a', '--out', join(dir, 'o3'));
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('give no INVENTORY');
  });
});

describe('ipsec-mesh check (the Nagios/Icinga plugin) before any host is asked', () => {
  it('is UNKNOWN (exit 3) with one plugin line for bad flags, a missing key and an inventory that does not load', async () => {
    const inv = join(dir, 'check.yaml');
    await writeFile(inv, pskInventory);
    for (const [args, line] of [
      [['check', inv], 'IPSEC-MESH UNKNOWN - check needs --ssh-key FILE\n'],
      [['check', inv, '--ssh-key', '/nonexistent', '--expect', 'child'], 'IPSEC-MESH UNKNOWN - --expect takes ike or encrypted\n'],
      [['check', inv, '--ssh-key', '/nonexistent', '--down-critical', '1.5'], 'IPSEC-MESH UNKNOWN - --down-critical takes a whole number of at least 1, got "1.5"\n'],
      [['check', inv, '--ssh-key', '/nonexistent', '--host', 'h9'], `IPSEC-MESH UNKNOWN - --host h9: not a host of ${inv}\n`],
    ] as const) {
      const r = await ipsecMesh(...args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([3, line]);
    }
    const missing = await ipsecMesh('check', join(dir, 'nope.yaml'), '--ssh-key', '/nonexistent');
    expect(missing.code).toBe(3);
    expect(missing.stdout).toMatch(/^IPSEC-MESH UNKNOWN - .*nope\.yaml/);
    expect(missing.stdout.split('\n').filter(Boolean)).toHaveLength(1);
  }, 60_000);
});
