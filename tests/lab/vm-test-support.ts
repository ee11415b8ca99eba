// One booted vm lab per test file with the ipsec-mesh stack pushed on it: prerequisites that
// fail the file with a message (never a skip), the lab, its inventory, one `pulumi up`, and a
// teardown that checks nothing is left. For the vm files with a spec of their own.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { validateMesh } from '../../components/cli/validate-mesh.js';
import { loadInventoryFile, type Inventory } from '../../components/inventory/index.js';
import { collectPairStatus, type PairFamilyStatus } from '../../components/operations/index.js';
import type { HostPairSet } from '../../components/topology/index.js';
import { PROJECT_DIR, labPulumi, prepareLabStack } from '../../lab/lab-pulumi.js';
import { type LabInventoryOptions, type LabSpec, type ProcessRecord, isLabNetns, isProcessRunning, labStateRoot, writeLabInventory } from '../../lab/netns/index.js';
import { listNetns } from '../../lab/netns/lab-network.js';
import { type VmLab, ensureGuestImage, missingVmPrerequisites, startVmLab, stopVmLab } from '../../lab/vm/index.js';
import { useEngine } from './pulumi-support.js';

export interface VmMeshFile {
  readonly lab: VmLab;
  readonly inventoryPath: string;
}

export interface VmMeshHooks {
  /** Right after the guests are up, before the stack is pushed (e.g. read a counter's start value). */
  readonly afterStart?: (lab: VmLab) => Promise<void>;
}

/** Registers the file's beforeAll/afterAll; the getter gives the lab once beforeAll ran. */
export function vmMeshForFile(label: string, spec: LabSpec, inventory: LabInventoryOptions, hooks: VmMeshHooks = {}): () => VmMeshFile {
  const t0 = Date.now();
  let file: VmMeshFile | undefined;
  let processes: readonly ProcessRecord[] = [];
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('the vm tier needs root (network namespaces, tap devices, the image build)');
    const image = await ensureGuestImage({ onProgress: (l) => console.log(l) });
    const missing = missingVmPrerequisites();
    if (missing.length) throw new Error(`the vm tier cannot run here:\n  - ${missing.join('\n  - ')}`);
    if (!existsSync(join(PROJECT_DIR, 'dist', 'stacks', 'index.js'))) throw new Error('dist/stacks/index.js is missing: run `npm run build` first');
    useEngine();
    await stopVmLab(spec.name).catch(() => undefined); // what an interrupted run left
    const tBoot = Date.now();
    const lab = await startVmLab(spec, { image, onProgress: (m) => console.log(m) });
    await hooks.afterStart?.(lab);
    const tUp = Date.now();
    const inventoryPath = writeLabInventory(lab, inventory);
    file = { lab, inventoryPath };
    await prepareLabStack(lab, inventoryPath);
    await labPulumi(lab, ['up', '--yes', '--skip-preview']);
    console.log(`${label}: lab up in ${((tUp - tBoot) / 1000).toFixed(1)} s, pulumi up in ${((Date.now() - tUp) / 1000).toFixed(1)} s`);
  }, 900_000);

  afterAll(async () => {
    if (file === undefined) return;
    processes = file.lab.processes;
    const report = await stopVmLab(spec.name);
    console.log(`${label}: the whole file took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(report.stateRemoved).toBe(true);
    expect(listNetns().filter((n) => isLabNetns(spec.name, n)), 'lab namespaces left behind').toEqual([]);
    expect(processes.filter(isProcessRunning).map((p) => `${p.role} ${p.pid}`), 'lab processes still running').toEqual([]);
    expect(existsSync(labStateRoot(spec.name)), 'lab state left behind').toBe(false);
  }, 120_000);

  return () => {
    if (file === undefined) throw new Error(`vm lab ${spec.name} is not up (its beforeAll failed)`);
    return file;
  };
}

/** The inventory the stack reads and its pairs, by the product's own topology. */
export async function vmMesh(file: VmMeshFile): Promise<{ inventory: Inventory; pairs: HostPairSet }> {
  const inventory = await loadInventoryFile(file.inventoryPath);
  return { inventory, pairs: validateMesh(inventory) };
}

/** The status matrix, read over SSH from the operator namespace. */
export async function vmMatrix(file: VmMeshFile): Promise<PairFamilyStatus[]> {
  const { inventory, pairs } = await vmMesh(file);
  const { rows } = await collectPairStatus(inventory, pairs, { identityFile: file.lab.sshKeyPath, wrapper: ['ip', 'netns', 'exec', file.lab.operator.netns] });
  return rows;
}
