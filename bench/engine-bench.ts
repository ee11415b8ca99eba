// Benchmark: the real Pulumi engine on a namespace lab — resources, state bytes, `pulumi up`
// and no-change `up` times for full meshes of 10 and 100 hosts in both layouts (certificate
// auth, enforcement require). Needs root and the engine (scripts/engine-env.sh):
//   npm run bench:engine                                  # 10 and 100 hosts, both layouts
//   npm run bench:engine -- --hosts 10 --layout compact   # one case
//   npm run bench:engine -- --fast-setup                  # first up and destroy without per-step checkpoints
//   npm run bench:engine -- --state-only --layout compact-site-prefixes   # state bytes only (no no-change runs)
// Results go to stdout as a markdown table (docs/benchmarks.md records them).
import { parseArgs } from 'node:util';
import type { BenchVariant } from './bench-inventory.js';
import { labLayout } from '../lab/lab-layout.js';
import { labPulumi, prepareLabStack } from '../lab/lab-pulumi.js';
import { startLab, stopLab, writeLabInventory, type Lab } from '../lab/netns/index.js';
import { checkpointBytes, median, removeProgramSnapshot, snapshotProgram, timed, withoutCheckpoints } from './bench-support.js';

interface Row {
  hosts: number;
  layout: BenchVariant;
  resources: number;
  components: number;
  byType: Record<string, number>;
  /** Bytes of `pulumi stack export` JSON per resource type (what each kind costs in state). */
  exportBytesByType: Record<string, number>;
  stateBytes: number;
  upSeconds: number;
  /** Every no-change `up`, in run order (the table shows their median): the default, with the drift check. */
  noChangeUpSeconds: number[];
  /** The same with `driftCheck: false` (no SSH at all). */
  noChangeUpNoDriftSeconds: number[];
  destroySeconds: number;
  /** The first `up` and the `destroy` ran with PULUMI_SKIP_CHECKPOINTS (the no-change runs never do). */
  fastSetup: boolean;
}

const NO_CHANGE_RUNS = 3;

/** Bytes of each top-level input and output property per resource type, over the export. */
function bytesByProperty(resources: readonly ExportedResource[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of resources) {
    for (const [side, props] of [['in', r.inputs], ['out', r.outputs]] as const) {
      for (const [k, v] of Object.entries(props ?? {})) {
        const key = `${r.type} ${side}.${k}`;
        out[key] = (out[key] ?? 0) + JSON.stringify(v).length;
      }
    }
  }
  return out;
}

interface ExportedResource {
  type: string;
  custom?: boolean;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

async function runLayout(lab: Lab, hosts: number, layout: BenchVariant, programDir: string, fastSetup: boolean, stateOnly: boolean): Promise<Row> {
  writeLabInventory(lab, { mesh: layout === 'compact-site-prefixes' ? { layout: 'compact', compactSelectors: 'site-prefixes' } : { layout } });
  const up = ['up', '--yes', '--skip-preview'];
  const pulumi = (args: string[]) => labPulumi(lab, args, { programDir });
  const [, upSeconds] = await withoutCheckpoints(fastSetup, () => timed(() => pulumi(up)));
  const noChangeUpSeconds: number[] = [];
  const runs = stateOnly ? 0 : NO_CHANGE_RUNS;
  for (let i = 0; i < runs; i++) noChangeUpSeconds.push((await timed(() => pulumi([...up, '--expect-no-changes'])))[1]);
  // The drift check (one read-only SSH session per host) off: what the engine alone costs.
  await pulumi(['config', 'set', 'ipsec-mesh:driftCheck', 'false']);
  const noChangeUpNoDriftSeconds: number[] = [];
  for (let i = 0; i < runs; i++) noChangeUpNoDriftSeconds.push((await timed(() => pulumi([...up, '--expect-no-changes'])))[1]);
  await pulumi(['config', 'rm', 'ipsec-mesh:driftCheck']);
  console.error(
    `${layout} ${hosts}: up ${upSeconds.toFixed(1)} s, no-change up ${noChangeUpSeconds.map((x) => x.toFixed(1)).join(' / ')} s, without the drift check ${noChangeUpNoDriftSeconds.map((x) => x.toFixed(1)).join(' / ')} s`,
  );
  // Secrets as the checkpoint holds them (ciphertext).
  const exported = JSON.parse((await pulumi(['stack', 'export'])).stdout) as { deployment: { resources?: ExportedResource[] } };
  const resources = exported.deployment.resources ?? [];
  const byType: Record<string, number> = {};
  const exportBytesByType: Record<string, number> = {};
  for (const r of resources) {
    byType[r.type] = (byType[r.type] ?? 0) + 1;
    exportBytesByType[r.type] = (exportBytesByType[r.type] ?? 0) + JSON.stringify(r).length;
  }
  const stateBytes = checkpointBytes(lab);
  console.error(`${layout} ${hosts}: ${resources.length} resources, ${stateBytes} state bytes, export bytes by type ${JSON.stringify(exportBytesByType)}`);
  const byProperty = Object.entries(bytesByProperty(resources)).sort((a, b) => b[1] - a[1]).slice(0, 20);
  console.error(`${layout} ${hosts}: largest properties (export bytes, all resources): ${byProperty.map(([k, v]) => `${k} ${v}`).join('; ')}`);
  const [, destroySeconds] = await withoutCheckpoints(fastSetup, () => timed(() => pulumi(['destroy', '--yes', '--skip-preview'])));
  return {
    hosts,
    layout,
    resources: resources.length,
    components: resources.filter((r) => r.custom !== true).length,
    byType,
    exportBytesByType,
    stateBytes,
    upSeconds,
    noChangeUpSeconds,
    noChangeUpNoDriftSeconds,
    destroySeconds,
    fastSetup,
  };
}

/** "median (run, run, run)", or — when the runs were skipped (--state-only). */
function runsText(xs: readonly number[]): string {
  return xs.length === 0 ? '—' : `${median(xs).toFixed(1)} (${xs.map((x) => x.toFixed(1)).join(', ')})`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', multiple: true },
      layout: { type: 'string', multiple: true },
      'fast-setup': { type: 'boolean', default: false },
      // The first up, the state and destroy only: no no-change runs.
      'state-only': { type: 'boolean', default: false },
    },
  });
  const fastSetup = values['fast-setup'] === true;
  const sizes = (values.hosts ?? ['10', '100']).map(Number);
  const layouts = (values.layout ?? ['per-peer', 'compact']) as BenchVariant[];
  const stateOnly = values['state-only'] === true;
  const rows: Row[] = [];
  const programDir = snapshotProgram();
  try {
    for (const n of sizes) {
      const name = `bench${n}`;
      await stopLab(name).catch(() => undefined);
      const t0 = Date.now();
      const lab = await startLab(labLayout(name, n, 4));
      console.error(`lab ${name}: ${n} hosts up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      try {
        await prepareLabStack(lab, writeLabInventory(lab));
        for (const layout of layouts) {
          const row = await runLayout(lab, n, layout, programDir, fastSetup, stateOnly);
          console.error(JSON.stringify(row));
          rows.push(row);
        }
      } finally {
        await stopLab(name);
      }
    }
  } finally {
    removeProgramSnapshot(programDir);
  }
  console.log('| layout | hosts | pairs | resources (of them components) | HostPair / SitePair | state bytes | `up` s | no-change `up` s, median (runs) | the same, `driftCheck: false` | `destroy` s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const pairs = (r.hosts * (r.hosts - 1)) / 2;
    const model = r.layout === 'per-peer' ? r.byType['ipsec-mesh:index:HostPair'] ?? 0 : r.byType['ipsec-mesh:index:SitePair'] ?? 0;
    console.log(
      `| ${r.layout} | ${r.hosts} | ${pairs} | ${r.resources} (${r.components}) | ${model} | ${r.stateBytes} | ${r.upSeconds.toFixed(1)}${r.fastSetup ? ' †' : ''} | ${runsText(r.noChangeUpSeconds)} | ${runsText(r.noChangeUpNoDriftSeconds)} | ${r.destroySeconds.toFixed(1)}${r.fastSetup ? ' †' : ''} |`,
    );
  }
  if (rows.some((r) => r.fastSetup)) console.log('\n† with PULUMI_SKIP_CHECKPOINTS=true (only the final checkpoint written); the no-change runs write checkpoints as usual.');
}

await main();
