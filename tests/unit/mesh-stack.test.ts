// The stack program: config keys → IpsecMesh args (pure), and the real stacks/index.ts run
// under mocks with stack config, as `pulumi up` would run it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import yaml from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { readStackSettings, StackConfigError, type ConfigSource } from '../../stacks/stack-config.js';
import { meshInventory } from './mesh-fixtures.js';
import { SSH_KEY_MARKER, findMarkers, startMocks, unwrap } from './mesh-mocks.js';

function source(values: Record<string, string>, secrets: Record<string, string> = {}): ConfigSource {
  return {
    get: (k) => values[k],
    getSecret: (k) => (k in secrets ? pulumi.secret(secrets[k]!) : undefined),
  };
}

describe('readStackSettings', () => {
  it('needs an inventory and exactly one SSH key source', () => {
    expect(() => readStackSettings(source({}), '/p')).toThrow(/ipsec-mesh:inventory: is required/);
    expect(() => readStackSettings(source({ inventory: 'i.yaml' }), '/p')).toThrow(/ipsec-mesh:sshPrivateKey: is required/);
    expect(() => readStackSettings(source({ inventory: 'i.yaml', sshPrivateKeyFile: 'k' }, { sshPrivateKey: 'x' }), '/p')).toThrow(/not both/);
  });

  it('resolves paths against the project directory', () => {
    const s = readStackSettings(source({ inventory: 'inv/lab.yaml', sshPrivateKeyFile: 'keys/id' }), '/project');
    expect(s.inventoryPath).toBe('/project/inv/lab.yaml');
    expect(s.sshKey).toEqual({ kind: 'file', path: '/project/keys/id' });
    expect(readStackSettings(source({ inventory: '/abs/i.yaml', sshPrivateKeyFile: '/k' }), '/project').inventoryPath).toBe('/abs/i.yaml');
  });

  it('maps every option key to its argument', () => {
    const s = readStackSettings(
      source(
        {
          inventory: 'i.yaml',
          enabled: 'false',
          enforcement: 'use',
          siteEnforcement: '{"ams":"require"}',
          pairEnforcement: '[{"hosts":["a","b"],"enforcement":"off"}]',
          certificateGeneration: '3',
          certificateValidityHours: '100',
          certificateRenewBeforeHours: '10',
          caValidityHours: '1000',
          ca: '{"current":"ca2","previous":"ca1"}',
          installPackages: 'true',
          driftCheck: 'false',
          sshPerDialTimeout: '5',
          sshDialErrorLimit: '2',
        },
        { sshPrivateKey: 'k', sshPrivateKeyPassword: 'p' },
      ),
      '/p',
    );
    expect(s.args).toEqual({
      enabled: false,
      enforcement: 'use',
      siteEnforcement: { ams: 'require' },
      pairEnforcement: [{ hosts: ['a', 'b'], enforcement: 'off' }],
      certificateGeneration: 3,
      certificateValidityHours: 100,
      certificateRenewBeforeHours: 10,
      caValidityHours: 1000,
      ca: { current: 'ca2', previous: 'ca1' },
      installPackages: true,
    });
    expect(s.ssh.perDialTimeout).toBe(5);
    expect(s.ssh.dialErrorLimit).toBe(2);
    expect(pulumi.Output.isInstance(s.ssh.privateKeyPassword)).toBe(true);
    expect(s.sshKey.kind).toBe('secret');
    expect(s.driftCheck).toBe(false);
    expect(readStackSettings(source({ inventory: 'i.yaml' }, { sshPrivateKey: 'k' }), '/p').driftCheck).toBe(true);
  });

  it('names the key of every bad value', () => {
    const bad = (values: Record<string, string>) => () => readStackSettings(source({ inventory: 'i', ...values }, { sshPrivateKey: 'k' }), '/p');
    expect(bad({ enabled: 'yes' })).toThrow(/ipsec-mesh:enabled: must be true or false/);
    expect(bad({ enforcement: 'strict' })).toThrow(/ipsec-mesh:enforcement: must be one of/);
    expect(bad({ certificateGeneration: 'two' })).toThrow(/ipsec-mesh:certificateGeneration: must be a number/);
    expect(bad({ siteEnforcement: '{"ams":"on"}' })).toThrow(/ipsec-mesh:siteEnforcement\.ams/);
    expect(bad({ siteEnforcement: 'ams=use' })).toThrow(/must be JSON/);
    expect(bad({ pairEnforcement: '[{"hosts":"a,b"}]' })).toThrow(/ipsec-mesh:pairEnforcement\[0\]/);
    expect(bad({ ca: '{"current":"a","later":"b"}' })).toThrow(/ipsec-mesh:ca: unknown key "later"/);
    expect(bad({ enabled: 'yes' })).toThrow(StackConfigError);
  });
});

describe('stacks/index.ts under mocks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipsec-mesh-stack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the inventory named in config, builds the mesh and exports summaries and the CA', async () => {
    writeFileSync(join(dir, 'inventory.yaml'), yaml.dump(meshInventory({ name: 'stack' })));
    const keyFile = join(dir, 'id_test');
    writeFileSync(keyFile, SSH_KEY_MARKER);
    const run = await startMocks();
    pulumi.runtime.setAllConfig(
      // driftCheck off: under mocks an `up` reaches no host (the lab tests check drift).
      { 'ipsec-mesh:inventory': join(dir, 'inventory.yaml'), 'ipsec-mesh:sshPrivateKeyFile': keyFile, 'ipsec-mesh:enforcement': 'use', 'ipsec-mesh:driftCheck': 'false' },
      [],
    );
    const stack = await import('../../stacks/index.js');
    await run.settle();
    expect(await new Promise((r) => stack.meshName.apply(r))).toBe('stack');
    const hosts = (await new Promise((r) => stack.hosts.apply(r))) as { name: string; enforcement: Record<string, number> }[];
    expect(hosts.map((h) => h.name)).toEqual(['ams1', 'ams2', 'fra1', 'fra2']);
    expect(hosts[0]!.enforcement).toEqual({ off: 0, use: 3, require: 0 });
    expect(await new Promise((r) => stack.caCertificatePem.apply(r))).toContain('BEGIN CERTIFICATE');
    expect(run.components('ipsec-mesh:index:IpsecMesh').map((c) => c.name)).toEqual(['stack']);
    // The key read from the file is a secret wherever it goes.
    const hits = run.registrations.flatMap((r) => findMarkers(r.inputs, [SSH_KEY_MARKER]));
    expect(hits.length).toBe(4 * 2); // the connection of the host-key command and of the push, per host
    expect(hits.every((h) => h.inSecret)).toBe(true);
    expect(unwrap(run.one('command:remote:Command', 'stack-ams1-push').inputs.connection)).toMatchObject({ privateKey: SSH_KEY_MARKER });
  });
});
