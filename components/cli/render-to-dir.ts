// `ipsec-mesh render`: every host's files under DIR/<host>/, mirroring the host paths, so a
// pull request can show exactly what each host will receive.
import { mkdir, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { derivePairPsk } from '../credentials/psk-derivation.js';
import type { Inventory } from '../inventory/model.js';
import { renderHostConfig, renderPskSecrets, type RenderedFile } from '../render/index.js';
import { pairsForHost, type HostPairSet } from '../topology/index.js';

export interface RenderToDirOptions {
  readonly outDir: string;
  /** PSK mode: the master secret (bytes of the file given with --psk-master). */
  readonly pskMaster?: Uint8Array;
}

export interface RenderToDirSummary {
  readonly hosts: number;
  readonly files: number;
  readonly bytes: number;
}

export class RenderOptionsError extends Error {
  override readonly name = 'RenderOptionsError';
}

/** Renders host by host (never every host's files at once) and writes them under `outDir`. */
export async function renderToDir(inventory: Inventory, pairs: HostPairSet, opts: RenderToDirOptions): Promise<RenderToDirSummary> {
  const psk = inventory.mesh.auth === 'psk';
  if (psk && opts.pskMaster === undefined) {
    throw new RenderOptionsError(`${inventory.source}: mesh "${inventory.mesh.name}" uses PSK auth: pass --psk-master FILE`);
  }
  if (!psk && opts.pskMaster !== undefined) {
    throw new RenderOptionsError(`${inventory.source}: mesh "${inventory.mesh.name}" uses certificates: --psk-master does not apply`);
  }
  let files = 0;
  let bytes = 0;
  for (const host of inventory.hosts) {
    const hostPairs = pairsForHost(pairs, host.name);
    const rendered: RenderedFile[] = renderHostConfig({ inventory, host, pairs: hostPairs });
    if (psk && opts.pskMaster !== undefined) {
      const master = opts.pskMaster;
      rendered.push(
        renderPskSecrets({ inventory, host, pairs: hostPairs, pskFor: (p) => derivePairPsk(master, inventory.mesh.name, p.a, p.b) }),
      );
    }
    for (const file of rendered) {
      const target = join(opts.outDir, host.name, file.path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.content, { mode: file.mode });
      await chmod(target, file.mode); // writeFile's mode is masked by the umask
      files += 1;
      bytes += Buffer.byteLength(file.content);
    }
  }
  return { hosts: inventory.hosts.length, files, bytes };
}
