// Reads every host's IKE/CHILD SAs over SSH and builds the pair status matrix.
import type { Inventory } from '../inventory/model.js';
import type { HostPairSet } from '../topology/host-pair-set.js';
import { parseXfrmStat, parseXfrmState } from './liveness-xfrm.js';
import { pairStatusMatrix, type HostSaReport, type PairFamilyStatus } from './pair-status.js';
import { forEachManagedHost, runOverSsh, SSH_FAILED, type HostQueryOptions, type SshRunOptions } from './ssh-runner.js';
import { parseListSas } from './swanctl-status.js';

export interface CollectOptions extends SshRunOptions, HostQueryOptions {
  /**
   * Also read the kernel's view: the SAD (only its `src … dst …` and `proto … spi …` lines —
   * the key lines never leave the host) and /proc/net/xfrm_stat, in the same SSH command.
   */
  readonly kernel?: boolean;
}

const SAD_MARK = '@@ipsec-mesh xfrm state';
const STAT_MARK = '@@ipsec-mesh xfrm_stat';
// One command through the login shell (and sudo for a non-root user): swanctl must succeed;
// the kernel parts are best effort.
const KERNEL_COMMAND =
  `/bin/sh -c 'swanctl --list-sas --pretty || exit $?; echo ${SAD_MARK}; ` +
  `ip xfrm state 2>/dev/null | grep -E "^src |^[[:space:]]+proto "; echo ${STAT_MARK}; cat /proc/net/xfrm_stat 2>/dev/null; exit 0'`;

function splitKernel(stdout: string): { sas: string; sad: string; stat: string } {
  const i = stdout.indexOf(`\n${SAD_MARK}\n`);
  const j = stdout.indexOf(`\n${STAT_MARK}\n`);
  if (i < 0 || j < i) return { sas: stdout, sad: '', stat: '' };
  return { sas: stdout.slice(0, i + 1), sad: stdout.slice(i + SAD_MARK.length + 2, j + 1), stat: stdout.slice(j + STAT_MARK.length + 2) };
}

export async function collectSaReports(inventory: Inventory, opts: CollectOptions): Promise<HostSaReport[]> {
  return forEachManagedHost(inventory, opts, async (host): Promise<HostSaReport> => {
    try {
      const r = await runOverSsh(host, opts.kernel === true ? KERNEL_COMMAND : 'swanctl --list-sas --pretty', opts);
      if (r.code !== 0) {
        const why = r.stderr.trim() || `exit ${r.code}`;
        return { host: host.name, sas: undefined, error: why, ...(r.code === SSH_FAILED ? { unreachable: true } : {}) };
      }
      if (opts.kernel !== true) return { host: host.name, sas: parseListSas(r.stdout) };
      const parts = splitKernel(r.stdout);
      return {
        host: host.name,
        sas: parseListSas(parts.sas),
        sad: parseXfrmState(parts.sad),
        ...(parts.stat.trim() !== '' ? { xfrmStat: parseXfrmStat(parts.stat) } : {}),
      };
    } catch (err) {
      return { host: host.name, sas: undefined, error: (err as Error).message, unreachable: true };
    }
  });
}

export async function collectPairStatus(
  inventory: Inventory,
  pairs: HostPairSet,
  opts: CollectOptions,
): Promise<{ rows: PairFamilyStatus[]; reports: HostSaReport[] }> {
  const reports = await collectSaReports(inventory, opts);
  return { rows: pairStatusMatrix(inventory, pairs.pairs, reports), reports };
}
