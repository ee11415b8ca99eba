import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import { CredentialsError } from '../../components/credentials/credentials-error.js';
import { InventoryError } from '../../components/inventory/inventory-error.js';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import { insecureHostKeyWarnings } from '../../components/inventory/host-trust.js';
import { applyEnforcementOverrides } from '../../components/mesh/enforcement-overrides.js';
import type { IpsecMeshArgs } from '../../components/mesh/mesh-args.js';
import { MeshArgsError } from '../../components/mesh/mesh-error.js';
import { ARGS_INVENTORY_SOURCE, resolveMeshOptions } from '../../components/mesh/mesh-options.js';
import { hostConnection } from '../../components/mesh/ssh-connection.js';
import { FIXTURE_JUMP_HOST_KEY, fixtureHostKey, meshInventory } from './mesh-fixtures.js';

const ssh = { privateKey: 'not-a-real-key' };

describe('resolveMeshOptions', () => {
  it('parses an object inventory and accepts an already parsed one', () => {
    const fromInput = resolveMeshOptions({ inventory: meshInventory(), ssh });
    expect(fromInput.inventory.source).toBe(ARGS_INVENTORY_SOURCE);
    expect(fromInput.pairs.pairs).toHaveLength(6);
    const parsed = parseInventory(meshInventory(), 'lab.yaml');
    const fromParsed = resolveMeshOptions({ inventory: parsed, ssh });
    expect(fromParsed.inventory).toBe(parsed); // no overrides: the same object, not a copy
  });

  it('applies certificate-mode defaults', () => {
    const o = resolveMeshOptions({ inventory: meshInventory(), ssh });
    expect(o.enabled).toBe(true);
    expect(o.installPackages).toBe(false);
    expect(o.psk).toBeUndefined();
    expect(o.certificates).toEqual({ generation: 0, validityHours: 8760, renewBeforeHours: 720, caValidityHours: 87600, ca: { issuer: 'ca1', trusted: ['ca1'] } });
  });

  it('carries PSK settings and rejects certificate-only settings in PSK mode (and the reverse)', () => {
    const psk = resolveMeshOptions({ inventory: meshInventory({ auth: 'psk' }), ssh, pskGeneration: 2 });
    expect(psk.psk).toEqual({ generation: 2 });
    expect(psk.certificates).toBeUndefined();
    expect(() => resolveMeshOptions({ inventory: meshInventory({ auth: 'psk' }), ssh, certificateGeneration: 1 })).toThrow(
      /certificateGeneration: applies to certificate authentication/,
    );
    expect(() => resolveMeshOptions({ inventory: meshInventory({ auth: 'psk' }), ssh, ca: { current: 'x' } })).toThrow(MeshArgsError);
    expect(() => resolveMeshOptions({ inventory: meshInventory(), ssh, pskGeneration: 1 })).toThrow(/pskGeneration: applies to psk/);
  });

  it('PSK rotation: an accepted generation beside the signing one, never the same one, PSK mode only', () => {
    const inventory = meshInventory({ auth: 'psk' });
    expect(resolveMeshOptions({ inventory, ssh, pskAcceptGeneration: 1 }).psk).toEqual({ generation: 0, acceptGeneration: 1 });
    expect(resolveMeshOptions({ inventory, ssh, pskGeneration: 1, pskAcceptGeneration: 0 }).psk).toEqual({ generation: 1, acceptGeneration: 0 });
    expect(() => resolveMeshOptions({ inventory, ssh, pskGeneration: 2, pskAcceptGeneration: 2 })).toThrow(/pskAcceptGeneration: is the generation hosts already sign with/);
    expect(() => resolveMeshOptions({ inventory, ssh, pskAcceptGeneration: -1 })).toThrow(/pskAcceptGeneration: must be a whole number/);
    expect(() => resolveMeshOptions({ inventory: meshInventory(), ssh, pskAcceptGeneration: 1 })).toThrow(/pskAcceptGeneration: applies to psk/);
  });

  it('renewal window: 720 h by default, a quarter of a short validity, and never as long as the validity', () => {
    const cert = (extra: Partial<IpsecMeshArgs>) => resolveMeshOptions({ inventory: meshInventory(), ssh, ...extra }).certificates!;
    expect(cert({}).renewBeforeHours).toBe(720);
    expect(cert({ certificateValidityHours: 100 }).renewBeforeHours).toBe(25);
    expect(cert({ certificateValidityHours: 2 }).renewBeforeHours).toBe(1);
    expect(cert({ certificateValidityHours: 48, certificateRenewBeforeHours: 47 }).renewBeforeHours).toBe(47);
    expect(() => cert({ certificateValidityHours: 48, certificateRenewBeforeHours: 48 })).toThrow(/certificateRenewBeforeHours: 48 h is not shorter than certificateValidityHours \(48 h\): every up would renew/);
    expect(() => cert({ certificateRenewBeforeHours: 0 })).toThrow(CredentialsError);
    expect(() => cert({ certificateRenewBeforeHours: 1.5 })).toThrow(/whole number of hours/);
    expect(() => resolveMeshOptions({ inventory: meshInventory({ auth: 'psk' }), ssh, certificateRenewBeforeHours: 10 })).toThrow(
      /certificateRenewBeforeHours: applies to certificate authentication/,
    );
  });

  it('rejects a host certificate that would outlive its CA', () => {
    expect(() =>
      resolveMeshOptions({ inventory: meshInventory(), ssh, certificateValidityHours: 100, caValidityHours: 50 }),
    ).toThrow(CredentialsError);
  });

  it('refuses Outputs inside the inventory: they would make the resource count unknowable', () => {
    const input = meshInventory();
    const hosts = input.hosts.map((h, i) => (i === 0 ? { ...h, name: pulumi.output('ams1') } : h));
    const args = { inventory: { ...input, hosts }, ssh } as unknown as IpsecMeshArgs;
    expect(() => resolveMeshOptions(args)).toThrow(/inventory\.hosts\[0\]\.name: must be plain data/);
  });

  it('refuses a host whose SSH host key is not pinned (named), unless the inventory opts out explicitly', () => {
    const input = meshInventory();
    const unpinned = { ...input, hosts: input.hosts.map((h, i) => (i === 1 ? { ...h, ssh: {} } : h)) };
    expect(() => resolveMeshOptions({ inventory: unpinned, ssh })).toThrow(InventoryError);
    expect(() => resolveMeshOptions({ inventory: unpinned, ssh })).toThrow(/hosts\[1\]\.ssh\.hostKey: host "ams2" has no pinned SSH host key/);
    const optOut = { ...input, hosts: input.hosts.map((h, i) => (i === 1 ? { ...h, ssh: { insecureAcceptAnyHostKey: true } } : h)) };
    const o = resolveMeshOptions({ inventory: optOut, ssh });
    expect(insecureHostKeyWarnings(o.inventory)).toEqual([expect.stringContaining('host "ams2": ssh.insecureAcceptAnyHostKey is true: ANY key presented')]);
    expect(insecureHostKeyWarnings(resolveMeshOptions({ inventory: input, ssh }).inventory)).toEqual([]);
  });

  it('reports inventory problems as the inventory layer does, and missing ssh / wrong types clearly', () => {
    expect(() => resolveMeshOptions({ inventory: { ...meshInventory(), hosts: [] }, ssh })).toThrow();
    const bad = { ...meshInventory(), mesh: { name: 'Not A Label' } };
    expect(() => resolveMeshOptions({ inventory: bad, ssh })).toThrow(InventoryError);
    expect(() => resolveMeshOptions({ inventory: meshInventory() } as unknown as IpsecMeshArgs)).toThrow(/ssh\.privateKey: is required/);
    expect(() => resolveMeshOptions({ inventory: meshInventory(), ssh, enabled: 'no' } as unknown as IpsecMeshArgs)).toThrow(
      /enabled: must be true or false/,
    );
    expect(() => resolveMeshOptions({ inventory: meshInventory(), ssh, enforcement: 'strict' } as unknown as IpsecMeshArgs)).toThrow(
      /enforcement: must be one of off, use, require/,
    );
  });
});

describe('enforcement overrides', () => {
  const levels = (args: Partial<IpsecMeshArgs>): Record<string, string> => {
    const o = resolveMeshOptions({ inventory: meshInventory(), ssh, ...args });
    return Object.fromEntries(o.pairs.pairs.map((p) => [p.key, p.enforcement]));
  };

  it('replaces the mesh level', () => {
    expect(new Set(Object.values(levels({})))).toEqual(new Set(['require']));
    expect(new Set(Object.values(levels({ enforcement: 'use' })))).toEqual(new Set(['use']));
  });

  it('stages a rollout per site (the weaker end decides) and per pair (the pair wins)', () => {
    const l = levels({ enforcement: 'use', siteEnforcement: { ams: 'require', fra: 'require' }, pairEnforcement: [{ hosts: ['fra2', 'ams1'], enforcement: 'off' }] });
    expect(l['ams1~ams2']).toBe('require');
    expect(l['ams1~fra1']).toBe('require');
    expect(l['ams1~fra2']).toBe('off');
    const s = levels({ enforcement: 'use', siteEnforcement: { ams: 'require' } });
    expect(s['ams1~ams2']).toBe('require');
    expect(s['ams1~fra1']).toBe('use');
    expect(s['fra1~fra2']).toBe('use');
  });

  it('names unknown sites and hosts and bad pairs', () => {
    expect(() => levels({ siteEnforcement: { nyc: 'use' } })).toThrow(/siteEnforcement\.nyc: no site "nyc"/);
    expect(() => levels({ pairEnforcement: [{ hosts: ['ams1', 'zzz'], enforcement: 'use' }] })).toThrow(/pairEnforcement\[0\]\.hosts: no host "zzz"/);
    expect(() => levels({ pairEnforcement: [{ hosts: ['ams1', 'ams1'], enforcement: 'use' }] })).toThrow(/two different hosts/);
  });

  it('returns the inventory untouched without overrides', () => {
    const inv = parseInventory(meshInventory());
    expect(applyEnforcementOverrides(inv, {})).toBe(inv);
  });
});

describe('hostConnection', () => {
  const resolve = <T>(o: pulumi.Input<T> | undefined): Promise<{ value: T | undefined; secret: boolean }> =>
    new Promise((res) => {
      const out = pulumi.output(o);
      void pulumi.isSecret(out).then((secret) => out.apply((value) => res({ value: value as T | undefined, secret })));
    });

  it('takes address, user, port, pinned host key and jump host from the inventory; keys are secret', async () => {
    const inv = parseInventory(meshInventory({ sshExtras: true }));
    const conn = hostConnection(inv.hosts[0]!.ssh, { privateKey: 'KEY', perDialTimeout: 5 });
    expect(conn.host).toBe('198.51.100.1');
    expect(conn.user).toBe('deploy');
    expect(conn.port).toBe(2222);
    expect(conn.hostKey).toMatch(/^ssh-ed25519 /);
    expect(conn.perDialTimeout).toBe(5);
    expect(await resolve(conn.privateKey)).toEqual({ value: 'KEY', secret: true });
    const proxy = await resolve(conn.proxy);
    expect(proxy.value).toMatchObject({ host: '198.51.100.250', port: 22, user: 'jump', hostKey: FIXTURE_JUMP_HOST_KEY });
    const plain = hostConnection(inv.hosts[1]!.ssh, { privateKey: 'KEY' });
    expect(plain.proxy).toBeUndefined();
    expect(plain.hostKey).toBe(fixtureHostKey(2));
    expect(plain.user).toBe('root');
    // The explicit opt-out: no key pinned, so the provider accepts any (warned: host-trust tests).
    const optOut = parseInventory({ ...meshInventory(), hosts: meshInventory().hosts.map((h) => ({ ...h, ssh: { insecureAcceptAnyHostKey: true } })) });
    expect(hostConnection(optOut.hosts[0]!.ssh, { privateKey: 'KEY' }).hostKey).toBeUndefined();
  });
});
