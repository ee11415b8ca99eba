// Staged rollout: the wave plan (pure) and how the component wires it — each wave's pushes
// depend on every gate of the wave before, a gate follows each push, nothing is gated
// without a rollout, and no secret reaches a gate.
import { describe, expect, it } from 'vitest';
import { decodePayload } from '../../components/delivery/delivery-payload.js';
import { payloadDigest } from '../../components/delivery/rollout-gate.js';
import { parseInventory } from '../../components/inventory/parse-inventory.js';
import { IpsecMesh } from '../../components/mesh/ipsec-mesh.js';
import { MeshArgsError } from '../../components/mesh/mesh-error.js';
import { planRollout } from '../../components/mesh/rollout-plan.js';
import { readMeshSettings } from '../../components/mesh/stack-settings.js';
import { meshInventory } from './mesh-fixtures.js';
import { PSK_MASTER_MARKER, SSH_KEY_MARKER, findMarkers, isSecretWrapper, startMocks, unwrap } from './mesh-mocks.js';

const inventory = parseInventory(meshInventory({ perSite: 3 })); // ams1..3, fra1..3
const names = inventory.hosts.map((h) => h.name);

describe('planRollout', () => {
  it('defaults to a one-host canary, then everyone else in one wave, gating on CHILD_SAs for 120 s', () => {
    const p = planRollout(inventory, {});
    expect(p.waves).toEqual([[names[0]], names.slice(1)]);
    expect(p.gate).toBe('child');
    expect(p.timeoutSeconds).toBe(120);
    expect(p.waveOf.get(names[3]!)).toBe(1);
  });

  it('takes canary hosts, explicit waves, then the rest in waves of waveSize (inventory order)', () => {
    const p = planRollout(inventory, { canaryHosts: ['fra2'], waves: [['ams1', 'fra1']], waveSize: 2, gate: 'ike', gateTimeoutSeconds: 30 });
    expect(p.waves).toEqual([['fra2'], ['ams1', 'fra1'], ['ams2', 'ams3'], ['fra3']]);
    expect(p.gate).toBe('ike');
    expect(planRollout(inventory, { canaryCount: 2, waves: [['ams1']] }).waves).toEqual([['ams2', 'ams3'], ['ams1'], ['fra1', 'fra2', 'fra3']]);
  });

  it('names the field at fault', () => {
    const bad: [object, string][] = [
      [{ canaryHosts: ['nope'] }, 'rollout.canaryHosts[0]: "nope" is not a host of the inventory'],
      [{ canaryHosts: ['ams1'], waves: [['ams2', 'ams1']] }, 'rollout.waves[0][1]: ams1 is already in wave 0 (the canary)'],
      [{ canaryHosts: ['ams1'], canaryCount: 1 }, 'rollout.canaryCount: give canaryHosts or canaryCount, not both'],
      [{ waves: [[]] }, 'rollout.waves[0]: must be a non-empty list'],
      [{ waveSize: 0 }, 'rollout.waveSize: must be a whole number from 1'],
      [{ gate: 'esp' }, 'rollout.gate: must be ike or child'],
      [{ gateTimeoutSeconds: 1 }, 'rollout.gateTimeoutSeconds: must be a whole number from 5 to 3600'],
      [{ canary: ['ams1'] }, 'rollout.canary: is not a rollout setting'],
    ];
    for (const [args, message] of bad) {
      expect(() => planRollout(inventory, args), message).toThrow(MeshArgsError);
      expect(() => planRollout(inventory, args), message).toThrow(message);
    }
  });

  it('leaves revoked hosts out of every wave and refuses to name one', () => {
    const withRevoked = parseInventory({ ...meshInventory({ perSite: 3 }), hosts: meshInventory({ perSite: 3 }).hosts.map((h) => (h.name === 'ams2' ? { ...h, revoked: true } : h)) });
    expect(planRollout(withRevoked, {}).waves.flat()).not.toContain('ams2');
    expect(() => planRollout(withRevoked, { canaryHosts: ['ams2'] })).toThrow('ams2 is revoked');
  });

  it('is read from stack config as JSON', () => {
    const source = { get: (k: string) => ({ inventory: 'x.yaml', rollout: '{"canaryHosts":["ams1"],"gate":"ike"}' })[k], getSecret: () => undefined };
    expect(readMeshSettings(source, '/p').args.rollout).toEqual({ canaryHosts: ['ams1'], gate: 'ike' });
  });
});

describe('IpsecMesh with a rollout', () => {
  async function build(auth: 'certificate' | 'psk', rollout?: object) {
    const run = await startMocks();
    new IpsecMesh('m', { inventory: meshInventory({ perSite: 3, auth }), ssh: { privateKey: SSH_KEY_MARKER }, ...(rollout ? { rollout } : {}) }, { transformations: [run.transformation] });
    await run.settle();
    return run;
  }
  const construction = (run: Awaited<ReturnType<typeof build>>, name: string) => run.constructions.find((c) => c.name === name)!;

  it('makes each wave\'s pushes wait for every gate of the wave before, and only those', async () => {
    const run = await build('certificate', { canaryHosts: ['ams1'], waves: [['ams2', 'fra1']], gate: 'ike', gateTimeoutSeconds: 30 });
    const gate = (h: string) => construction(run, `m-${h}-gate`).resource;
    expect(construction(run, 'm-ams1-push').dependsOn).not.toContain(gate('ams1'));
    for (const h of ['ams2', 'fra1']) {
      expect(construction(run, `m-${h}-push`).dependsOn).toContain(gate('ams1'));
    }
    for (const h of ['ams3', 'fra2', 'fra3']) {
      const deps = construction(run, `m-${h}-push`).dependsOn;
      expect(deps).toContain(gate('ams2'));
      expect(deps).toContain(gate('fra1'));
      expect(deps).not.toContain(gate('ams1'));
    }
    expect(construction(run, 'm-ams1-gate').dependsOn).toContain(construction(run, 'm-ams1-push').resource);
  });

  it('gives each gate the host\'s targets, the level and timeout, and the push payload digest', async () => {
    const run = await build('certificate', { canaryHosts: ['ams1'], gate: 'ike', gateTimeoutSeconds: 30 });
    const gate = run.one('command:remote:Command', 'm-ams1-gate');
    const stdin = unwrap(gate.inputs.stdin) as string;
    const push = unwrap(run.one('command:remote:Command', 'm-ams1-push').inputs.stdin) as string;
    expect(stdin).toContain(`L ike\nW 30\nP ${payloadDigest(push)}\n`);
    expect(stdin).toContain('T fra1 ipv4 lab_fra1_v4 ');
    expect(stdin).toMatch(/ per-peer later\n/);
    expect(unwrap(gate.inputs.create)).toBe(unwrap(gate.inputs.update));
    expect(decodePayload(push).host).toBe('ams1');
  });

  it('PSK mode: the gate input is not secret and carries no key', async () => {
    const run = await build('psk', {});
    for (const h of names) {
      const gate = run.one('command:remote:Command', `m-${h}-gate`);
      expect(isSecretWrapper(gate.inputs.stdin)).toBe(false);
      expect(findMarkers(gate.inputs, [PSK_MASTER_MARKER, SSH_KEY_MARKER]).filter((o) => !o.inSecret)).toEqual([]);
    }
  });

  it('has no gate and no extra dependency without a rollout', async () => {
    const run = await build('certificate');
    expect(run.custom('command:remote:Command').filter((r) => r.name.endsWith('-gate'))).toEqual([]);
    expect(construction(run, 'm-fra3-push').dependsOn).toEqual([]);
  });
});

describe('drift repair', () => {
  it('repair() after construction adds one repair command per drifted host: the push again, same stdin, after the push', async () => {
    const run = await startMocks();
    const mesh = new IpsecMesh('m', { inventory: meshInventory({ perSite: 3, auth: 'psk' }), ssh: { privateKey: SSH_KEY_MARKER } }, { transformations: [run.transformation] });
    mesh.repair(['ams2']);
    mesh.repair(['ams2']); // idempotent
    expect(() => mesh.repair(['nope'])).toThrow(MeshArgsError);
    await run.settle();
    const repairs = run.custom('command:remote:Command').filter((r) => r.name.endsWith('-repair'));
    expect(repairs.map((r) => r.name)).toEqual(['m-ams2-repair']);
    const push = run.one('command:remote:Command', 'm-ams2-push');
    expect(unwrap(repairs[0]!.inputs.stdin)).toBe(unwrap(push.inputs.stdin));
    expect(isSecretWrapper(repairs[0]!.inputs.stdin)).toBe(true);
    expect(unwrap(repairs[0]!.inputs.create)).toBe(unwrap(push.inputs.update));
    expect(repairs[0]!.inputs.delete).toBeUndefined();
    // This run's mark as its trigger: the same drift found by the next up repairs again.
    expect(unwrap(repairs[0]!.inputs.triggers)).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT/)]);
    expect(run.constructions.find((c) => c.name === 'm-ams2-repair')!.dependsOn).toContain(run.constructions.find((c) => c.name === 'm-ams2-push')!.resource);
  });

  it('repairHosts up front does the same, and a gate then waits for the repair too', async () => {
    const run = await startMocks();
    new IpsecMesh('m', { inventory: meshInventory({ perSite: 3 }), ssh: { privateKey: SSH_KEY_MARKER }, repairHosts: ['fra1'], rollout: { gate: 'ike' } }, { transformations: [run.transformation] });
    await run.settle();
    const repair = run.constructions.find((c) => c.name === 'm-fra1-repair')!;
    expect(run.constructions.find((c) => c.name === 'm-fra1-gate')!.dependsOn).toContain(repair.resource);
  });
});
