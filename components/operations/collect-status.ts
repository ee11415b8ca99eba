// Reads every host's IKE/CHILD SAs over SSH and builds the pair status matrix.
import type { Inventory } from '../inventory/model.js';
import type { HostPairSet } from '../topology/host-pair-set.js';
import { pairStatusMatrix, type HostSaReport, type PairFamilyStatus } from './pair-status.js';
import { mapLimited, runOverSsh, type SshRunOptions } from './ssh-runner.js';
import { parseListSas } from './swanctl-status.js';

export async function collectSaReports(inventory: Inventory, opts: SshRunOptions & { readonly parallel?: number }): Promise<HostSaReport[]> {
  return mapLimited(inventory.hosts, opts.parallel ?? 16, async (host): Promise<HostSaReport> => {
    try {
      const r = await runOverSsh(host, 'swanctl --list-sas --pretty', opts);
      if (r.code !== 0) {
        const why = r.stderr.trim() || `exit ${r.code}`;
        return { host: host.name, sas: undefined, error: why };
      }
      return { host: host.name, sas: parseListSas(r.stdout) };
    } catch (err) {
      return { host: host.name, sas: undefined, error: (err as Error).message };
    }
  });
}

export async function collectPairStatus(
  inventory: Inventory,
  pairs: HostPairSet,
  opts: SshRunOptions & { readonly parallel?: number },
): Promise<{ rows: PairFamilyStatus[]; reports: HostSaReport[] }> {
  const reports = await collectSaReports(inventory, opts);
  return { rows: pairStatusMatrix(inventory, pairs.pairs, reports), reports };
}
