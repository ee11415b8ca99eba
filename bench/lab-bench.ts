// Benchmark: the 100-host lab of issue 18 (bench/scale-lab.ts has the scenario). Needs root
// and the engine (scripts/engine-env.sh):
//   npm run bench:lab                                   # 100 hosts, compactSelectors: site-prefixes
//   npm run bench:lab -- --selectors peer-addresses     # the inventory's default selectors instead
//   npm run bench:lab -- --hosts 30 --parallel 32       # another size; `pulumi up --parallel`
//   npm run bench:lab -- --sweep-parallel 8,16,64       # only the first `up` (and destroy) at each --parallel
//   npm run bench:lab -- --fast-setup                   # first up and destroy without per-step checkpoints
// Results go to stdout as markdown (docs/benchmarks.md, "The 100-host lab", records them).
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { loadAverage, removeProgramSnapshot, snapshotProgram } from './bench-support.js';
import { type CompactSelectors, type LabMemory, type ScaleLabReport, type UpFigures, runScaleLabScenario, sweepFirstUp } from './scale-lab.js';

const say = (line: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

function selectorsArg(v: string): CompactSelectors {
  if (v === 'peer-addresses' || v === 'site-prefixes') return v;
  throw new Error(`--selectors must be peer-addresses or site-prefixes, got ${v}`);
}

function positive(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a whole number ≥ 1, got ${v}`);
  return n;
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

function memoryLines(label: string, m: LabMemory): string {
  return `| ${label} | ${mib(m.pssKiB.charon)} (${mib(m.rssKiB.charon)}) | ${mib(m.pssKiB.sshd)} (${mib(m.rssKiB.sshd)}) | ${mib(m.pssKiB.holder)} (${mib(m.rssKiB.holder)}) | ${m.charonThreads} | ${m.memAvailableMiB} | ${m.load} |`;
}

/** `h101: create push, create host-key` per host; `none` when nothing ran. */
function perHost(up: UpFigures): string {
  const hosts = Object.entries(up.remoteByHost);
  if (hosts.length === 0) return 'none';
  const shown = hosts.slice(0, 6).map(([h, steps]) => `${h}: ${steps.map((s) => `${s.op} ${s.name.slice(s.name.lastIndexOf('-') + 1)}`).join(', ')}`);
  return `${shown.join('; ')}${hosts.length > shown.length ? `; … (${hosts.length} hosts)` : ''}`;
}

function printReport(r: ScaleLabReport, command: string): void {
  console.log(`\n${new Date().toISOString().slice(0, 10)}, \`${command}\`, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ${r.hosts} hosts in 4 sites (+1 added), compact, certificate auth, require, dual-stack; selectors: ${r.selectors}; --parallel: ${r.parallel}${r.fastSetup ? '; first `up` and `destroy` with PULUMI_SKIP_CHECKPOINTS=true (†)' : ''}. Lab up in ${r.labStartSeconds.toFixed(1)} s.\n`);
  console.log('| step | seconds | remote commands run (not `same`) | SSH sessions | load (1/5/15 min) after |');
  console.log('|---|---:|---:|---:|---|');
  console.log(`| first \`up\` from nothing | ${r.firstUp.seconds.toFixed(1)}${r.fastSetup ? ' †' : ''} | ${r.firstUp.remoteTotal} | ${r.firstUp.sshSessions} | ${r.firstUp.load} |`);
  console.log(`| traffic until every pair's IKE_SA is up on both ends (${r.establish.established}/${r.establish.expected} pair/family keys, ${r.establish.trafficRounds} round(s) of datagrams; the charons used ${r.establish.charonCpuSeconds.toFixed(0)} CPU s) | ${r.establish.seconds.toFixed(1)} | – | – | ${r.establish.load} |`);
  console.log(`| **total: nothing → every IKE_SA** | **${(r.firstUp.seconds + r.establish.seconds).toFixed(1)}**${r.fastSetup ? ' †' : ''} | | | |`);
  console.log(`| no-change \`up\` (drift check on, the default) | ${r.noChange.seconds.toFixed(1)} | ${r.noChange.remoteTotal} | ${r.noChange.sshSessions} | ${r.noChange.load} |`);
  console.log(`| no-change \`up\`, \`driftCheck: false\` | ${r.noChangeNoDrift.seconds.toFixed(1)} | ${r.noChangeNoDrift.remoteTotal} | ${r.noChangeNoDrift.sshSessions} | ${r.noChangeNoDrift.load} |`);
  console.log(`| add ${r.addHost.addedHost} | ${r.addHost.seconds.toFixed(1)} | ${r.addHost.remoteTotal} on ${Object.keys(r.addHost.remoteByHost).length} host(s) | ${r.addHost.sshSessions} | ${r.addHost.load} |`);
  console.log(`| \`destroy\` | ${r.destroySeconds.toFixed(1)}${r.fastSetup ? ' †' : ''} | | | |`);
  console.log(`\nSSH dials the command provider retried: first up ${r.firstUp.dialRetries}, no-change ${r.noChange.dialRetries}, add host ${r.addHost.dialRetries}.`);
  console.log(`Remote commands of the added host's \`up\`, by host: ${perHost(r.addHost)}.`);
  console.log(`Missing IKE_SAs: ${r.establish.missing.length === 0 ? 'none' : r.establish.missing.slice(0, 20).join(', ')}. Left behind: ${r.leftovers.length === 0 ? 'nothing' : r.leftovers.join('; ')}.`);
  console.log('\nMemory per host, MiB: PSS (RSS); MemAvailable of the machine, MiB.\n');
  console.log('| when | charon | sshd (listener) | namespace holder | charon threads | MemAvailable | load |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  console.log(memoryLines('lab up, no mesh', r.memory));
  console.log(memoryLines('every IKE_SA up', r.memoryWithSas));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '100' },
      selectors: { type: 'string', default: 'site-prefixes' },
      parallel: { type: 'string' },
      'sweep-parallel': { type: 'string' },
      'fast-setup': { type: 'boolean', default: false },
    },
  });
  const hosts = positive(values.hosts!, '--hosts');
  const selectors = selectorsArg(values.selectors!);
  const parallel = values.parallel === undefined ? undefined : positive(values.parallel, '--parallel');
  const command = `npm run bench:lab${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const programDir = snapshotProgram();
  say(`load before: ${loadAverage()}`);
  try {
    const options = { name: `scale${hosts}`, hosts, programDir, onProgress: say, fastSetup: values['fast-setup'] === true, selectors, ...(parallel !== undefined && { parallel }) };
    if (values['sweep-parallel'] !== undefined) {
      const parallels = values['sweep-parallel'].split(',').map((v) => positive(v, '--sweep-parallel'));
      const rows = await sweepFirstUp(options, parallels);
      console.log(`\n${new Date().toISOString().slice(0, 10)}, \`${command}\`, ${cpus().length} cores; ${hosts} hosts, compact, certificate auth, selectors: ${selectors}${values['fast-setup'] ? ', PULUMI_SKIP_CHECKPOINTS=true' : ''}.\n`);
      console.log('| `--parallel` | first `up` s | remote commands | SSH dials retried | `destroy` s | load after `up` |');
      console.log('|---:|---:|---:|---:|---:|---|');
      for (const r of rows) console.log(`| ${r.parallel} | ${r.up.seconds.toFixed(1)} | ${r.up.remoteTotal} | ${r.up.dialRetries} | ${r.destroySeconds.toFixed(1)} | ${r.up.load} |`);
      return;
    }
    const report = await runScaleLabScenario(options);
    console.error(JSON.stringify(report));
    printReport(report, command);
    if (report.leftovers.length > 0 || report.establish.missing.length > 0) process.exitCode = 1;
  } finally {
    removeProgramSnapshot(programDir);
  }
}

await main();
