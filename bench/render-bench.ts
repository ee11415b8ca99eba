// Benchmark: validate + compute pairs + render every host's files for dual-stack full meshes.
// Each (size, layout) runs in a fresh child process so peak RSS belongs to that case alone.
//   npm run bench                 # every case
//   node dist/bench/render-bench.js --case 500 per-peer
// Addresses are data only (nothing is sent): IPv4 from 198.18.0.0/15 (RFC 2544, reserved for
// benchmarks — the documentation ranges hold too few addresses for 1000 hosts), IPv6 from 2001:db8::/32.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchInventory, type BenchVariant } from './bench-inventory.js';
import { parseInventory } from '../components/inventory/index.js';
import { renderHostConfig } from '../components/render/index.js';
import { renderMonitorFiles } from '../components/render/monitor-files.js';
import { computeHostPairs, pairsForHost } from '../components/topology/index.js';

interface CaseResult {
  hosts: number;
  layout: BenchVariant;
  pairs: number;
  connections: number;
  validateMs: number;
  pairsMs: number;
  renderMs: number;
  /** Of renderMs: the liveness monitor's files (a per-peer target list in every host's script). */
  monitorMs: number;
  totalMs: number;
  bytesPerHostAvg: number;
  bytesPerHostMax: number;
  peakRssMiB: number;
}

function runCase(hosts: number, layout: BenchVariant): CaseResult {
  const input = benchInventory(hosts, layout, hosts > 1000 ? LARGE_SHAPE : {});
  const t0 = performance.now();
  const inventory = parseInventory(input, `<bench ${hosts} ${layout}>`);
  const t1 = performance.now();
  const set = computeHostPairs(inventory);
  const t2 = performance.now();
  let bytes = 0;
  let maxBytes = 0;
  let connections = 0;
  let monitorMs = 0;
  // Host by host: each host's files are dropped before the next is rendered. The same files
  // renderHostConfig delivers by default, timed in two parts: strongSwan + kernel, and monitor.
  for (const host of inventory.hosts) {
    const pairs = pairsForHost(set, host.name);
    const files = renderHostConfig({ inventory, host, pairs, monitor: false });
    const m0 = performance.now();
    files.push(...renderMonitorFiles({ inventory, host, pairs }));
    monitorMs += performance.now() - m0;
    let hostBytes = 0;
    for (const f of files) {
      hostBytes += Buffer.byteLength(f.content);
      if (f.path.includes('/swanctl/conf.d/')) connections += (f.content.match(/^\t[^\t#].* : ipsec-mesh_bench_conn \{$/gm) ?? []).length;
    }
    bytes += hostBytes;
    maxBytes = Math.max(maxBytes, hostBytes);
  }
  const t3 = performance.now();
  return {
    hosts,
    layout,
    pairs: set.pairs.length,
    connections,
    validateMs: t1 - t0,
    pairsMs: t2 - t1,
    renderMs: t3 - t2,
    monitorMs,
    totalMs: t3 - t0,
    bytesPerHostAvg: Math.round(bytes / hosts),
    bytesPerHostMax: maxBytes,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

const SIZES = [10, 100, 500, 1000];
const LAYOUTS: BenchVariant[] = ['compact', 'compact-site-prefixes', 'per-peer'];
// 10,000 hosts in 32 sites, one full mesh per 4 sites (8 clusters of 1,250 hosts, 6.2 million
// pairs): a full mesh of 10,000 (50 million pairs, each host with 9,999 IKE_SAs) is neither a
// deployment nor something the materialised pairs fit in memory for.
const LARGE: readonly [number, BenchVariant][] = [
  [10_000, 'compact-site-prefixes'],
  [10_000, 'compact'],
];
const LARGE_SHAPE = { sites: 32, sitesPerCluster: 4 };

function main(argv: string[]): void {
  if (argv[0] === '--case') {
    const result = runCase(Number(argv[1]), argv[2] as BenchVariant);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const rows: CaseResult[] = [];
  const cases: [number, BenchVariant][] = [...LAYOUTS.flatMap((l) => SIZES.map((n): [number, BenchVariant] => [n, l])), ...LARGE];
  for (const [hosts, layout] of cases) {
    const out = execFileSync(process.execPath, [self, '--case', String(hosts), layout], { encoding: 'utf8', maxBuffer: 1 << 20 });
    const r = JSON.parse(out) as CaseResult;
    rows.push(r);
    process.stderr.write(`${layout} ${hosts} hosts: ${r.totalMs.toFixed(0)} ms, peak ${r.peakRssMiB.toFixed(0)} MiB\n`);
  }
  const f = (n: number): string => n.toFixed(0);
  console.log('| layout | hosts | pairs | connections (all hosts) | validate ms | pairs ms | render ms (of it: monitor) | total ms | bytes/host avg | bytes/host max | peak RSS MiB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.layout} | ${r.hosts} | ${r.pairs} | ${r.connections} | ${f(r.validateMs)} | ${f(r.pairsMs)} | ${f(r.renderMs)} (${f(r.monitorMs)}) | ${f(r.totalMs)} | ${r.bytesPerHostAvg} | ${r.bytesPerHostMax} | ${f(r.peakRssMiB)} |`,
    );
  }
}

main(process.argv.slice(2));
