// `ipsec-mesh render`: every host's files under DIR/<host>/, mirroring the host paths, so a
// pull request can show exactly what each host will receive. The files come from the same
// function the MeshHost pushes from (mesh-files.ts).
import { mkdir, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { meshHostFiles } from '../mesh/mesh-files.js';
import type { MeshOptions } from '../mesh/mesh-options.js';

export interface RenderToDirOptions {
  readonly outDir: string;
  /** PSK mode: the master secret (the text of the file given with --psk-master). */
  readonly pskMaster?: string;
  /** PSK mode during a rotation: the accepted generation's master (--psk-accept-master). */
  readonly pskAcceptMaster?: string;
}

export interface RenderToDirSummary {
  readonly hosts: number;
  readonly files: number;
  readonly bytes: number;
}

export class RenderOptionsError extends Error {
  override readonly name = 'RenderOptionsError';
}

/** Renders host by host and writes them under `outDir`. */
export async function renderToDir(options: MeshOptions, opts: RenderToDirOptions): Promise<RenderToDirSummary> {
  const { inventory } = options;
  const psk = inventory.mesh.auth === 'psk';
  if (psk && opts.pskMaster === undefined) {
    throw new RenderOptionsError(`${inventory.source}: mesh "${inventory.mesh.name}" uses PSK auth: pass --psk-master FILE`);
  }
  if (!psk && (opts.pskMaster !== undefined || opts.pskAcceptMaster !== undefined)) {
    throw new RenderOptionsError(`${inventory.source}: mesh "${inventory.mesh.name}" uses certificates: --psk-master does not apply`);
  }
  if ((options.psk?.acceptGeneration === undefined) !== (opts.pskAcceptMaster === undefined) && psk) {
    throw new RenderOptionsError(
      options.psk?.acceptGeneration === undefined
        ? '--psk-accept-master applies only during a rotation (pskAcceptGeneration set)'
        : `pskAcceptGeneration ${options.psk.acceptGeneration} is set: pass that generation's master with --psk-accept-master FILE`,
    );
  }
  const masters = opts.pskMaster === undefined ? undefined : { master: opts.pskMaster, ...(opts.pskAcceptMaster === undefined ? {} : { acceptMaster: opts.pskAcceptMaster }) };
  let files = 0;
  let bytes = 0;
  for (const { host, files: rendered } of meshHostFiles(options, masters)) {
    for (const file of rendered) {
      const target = join(opts.outDir, host, file.path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.content, { mode: file.mode });
      await chmod(target, file.mode); // writeFile's mode is masked by the umask
      files += 1;
      bytes += Buffer.byteLength(file.content);
    }
  }
  return { hosts: inventory.hosts.length, files, bytes };
}
