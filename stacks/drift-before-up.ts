// Before an `up`: which hosts drifted from their last push (a hand-edited file, a changed
// kernel setting)? They are pushed again by this `up`. A host the check cannot reach is
// reported and left alone: its push runs only if the configuration changed, as always.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import type { Inventory } from '../components/inventory/model.js';
import { checkDrift } from '../components/operations/drift-check.js';

export async function driftedHosts(inventory: Inventory, privateKey: string): Promise<string[]> {
  // ssh takes the key from a file: a private one, 0600, removed right after.
  const dir = await mkdtemp(join(tmpdir(), 'ipsec-mesh-drift-'));
  try {
    const identityFile = join(dir, 'key');
    await writeFile(identityFile, privateKey.endsWith('\n') ? privateKey : `${privateKey}\n`, { mode: 0o600 });
    const reports = await checkDrift(inventory, { identityFile });
    const drifted: string[] = [];
    for (const r of reports) {
      if (r.error !== undefined) {
        pulumi.log.warn(`drift check of ${r.host} failed (${r.error}); it is pushed only if its configuration changed`);
      } else if (r.drifted.length > 0) {
        pulumi.log.warn(`${r.host} drifted from its last push, pushed again by this up: ${r.drifted.join('; ')}`);
        drifted.push(r.host);
      }
    }
    return drifted;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
