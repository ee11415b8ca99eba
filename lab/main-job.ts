// The main job: a local lab of namespace hosts, `pulumi up` of the ipsec-mesh stack on it,
// and the per-pair status matrix read back from every host. Run by scripts/lab.sh (which
// installs what is missing first):
//   npm run lab                       # up: 3 hosts, 2 sites, pulumi up, status matrix
//   npm run lab -- up --hosts 10      # bigger
//   npm run lab -- status             # the matrix again
//   npm run lab -- pulumi stack output
//   npm run lab:down                  # pulumi destroy, then the lab goes
//   npm run lab -- up --backend vm    # qemu guests with Debian's kernel: real ESP (docs/vm-lab.md)
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadInventoryFile } from '../components/inventory/index.js';
import { validateMesh } from '../components/cli/validate-mesh.js';
import { collectPairStatus, formatPairStatusMatrix, summarisePairStatus } from '../components/operations/index.js';
import { labLayout } from './lab-layout.js';
import { labPulumi, labPulumiShellLines, prepareLabStack } from './lab-pulumi.js';
import { sendPairTraffic } from './pair-traffic.js';
import { attachLab, labStateRoot, LabError, startLab, stopLab, writeLabInventory, type Lab } from './netns/index.js';
import { attachVmLab, isVmLab, startVmLab, stopVmLab, VmLab } from './vm/index.js';
import { espProof, formatEspProof } from './vm/esp-proof.js';

const USAGE = `usage: npm run lab -- [up] [--hosts N] [--sites K] [--enforcement off|use|require] [--name NAME] [--backend netns|vm]
       npm run lab -- status [--name NAME]
       npm run lab -- pulumi ARGS… [--name NAME]
       npm run lab -- down [--name NAME]`;
const DEFAULT_NAME = 'lab';

const t0 = Date.now();
const step = (m: string): void => console.log(`\n==> [${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);

/** Either backend: namespace hosts, or qemu guests (lab/vm) reached the same way. */
type AnyLab = Lab | VmLab;
const attachAny = (name: string): AnyLab => (isVmLab(name) ? attachVmLab(name) : attachLab(name));

async function statusMatrix(lab: AnyLab): Promise<boolean> {
  const inventory = await loadInventoryFile(`${lab.stateRoot}/inventory.yaml`);
  const pairs = validateMesh(inventory);
  // ssh runs from the operator namespace, like the engine: the hosts are routed only there.
  const { rows, reports } = await collectPairStatus(inventory, pairs, {
    identityFile: lab.sshKeyPath,
    wrapper: ['ip', 'netns', 'exec', lab.operator.netns],
  });
  for (const r of reports) if (r.error) console.error(`  ${r.host}: cannot read SAs: ${r.error}`);
  console.log(formatPairStatusMatrix(rows));
  const s = summarisePairStatus(rows);
  console.log(`\n${s.rows} pair/family rows: ${Object.entries(s.byHealth).filter(([, n]) => n > 0).map(([h, n]) => `${n} ${h}`).join(', ')}`);
  return reports.every((r) => r.error === undefined);
}

/** Under `require` nothing negotiates until a packet hits a trap policy: send one per peer. */
async function pairTraffic(lab: AnyLab): Promise<void> {
  const inventory = await loadInventoryFile(`${lab.stateRoot}/inventory.yaml`);
  await sendPairTraffic(lab, inventory, validateMesh(inventory));
  await new Promise((r) => setTimeout(r, 2000)); // IKE_SA_INIT + IKE_AUTH round trips
}

/**
 * `pulumi ARGS…` passes ARGS through untouched (flags included: `up --yes` must reach
 * pulumi, not be parsed as ours); only `--name NAME` is the lab's.
 */
function splitPulumiArgs(argv: readonly string[]): { ours: string[]; pulumi: string[] | undefined } {
  const valued = new Set(['--hosts', '--sites', '--name', '--enforcement', '--backend']);
  const at = argv.findIndex((a, i) => a === 'pulumi' && !valued.has(argv[i - 1] ?? ''));
  if (at < 0) return { ours: [...argv], pulumi: undefined };
  const ours = argv.slice(0, at);
  const pulumi: string[] = [];
  const rest = argv.slice(at + 1);
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--name' && i + 1 < rest.length) ours.push(a, rest[++i]!);
    else if (a.startsWith('--name=')) ours.push(a);
    else pulumi.push(a);
  }
  return { ours: [...ours, 'pulumi'], pulumi };
}

async function main(argv: string[]): Promise<number> {
  const split = splitPulumiArgs(argv);
  const { positionals, values } = parseArgs({
    args: split.ours,
    allowPositionals: true,
    strict: false,
    options: {
      hosts: { type: 'string' },
      sites: { type: 'string' },
      name: { type: 'string' },
      enforcement: { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const name = typeof values.name === 'string' ? values.name : DEFAULT_NAME;
  const [command = 'up', ...rest] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  switch (command) {
    case 'up': {
      if (existsSync(labStateRoot(name))) {
        console.error(`lab "${name}" is already up: \`npm run lab -- status\` shows it, \`npm run lab:down\` removes it`);
        return 1;
      }
      const backend = values.backend ?? 'netns';
      if (backend !== 'netns' && backend !== 'vm') {
        console.error(`--backend must be netns or vm, got ${String(backend)}`);
        return 2;
      }
      const hosts = Number(values.hosts ?? 3);
      const sites = values.sites === undefined ? undefined : Number(values.sites);
      const spec = labLayout(name, hosts, sites);
      const onProgress = (m: string): void => console.log(`    ${m}`);
      let lab: AnyLab;
      if (backend === 'vm') {
        step(`lab "${name}": ${hosts} qemu guests (Debian's kernel, real ESP) in ${spec.sites.length} sites`);
        lab = await startVmLab(spec, { onProgress });
      } else {
        step(`lab "${name}": ${hosts} hosts in ${spec.sites.length} sites (network namespaces, charon + sshd each)`);
        lab = await startLab(spec, { onProgress });
      }
      const inventory = writeLabInventory(lab);
      console.log(`    inventory: ${inventory}`);
      step('pulumi stack "lab" (local file backend in the lab state)');
      const config: Record<string, string> = {};
      if (typeof values.enforcement === 'string') config.enforcement = values.enforcement;
      await prepareLabStack(lab, inventory, config);
      step('pulumi up');
      const up = await labPulumi(lab, ['up', '--yes', '--skip-preview'], { stream: true, allowFailure: true });
      step('traffic: one UDP datagram from every host to every peer (trap policies turn it into IKE)');
      await pairTraffic(lab);
      step('status of every pair (read over SSH from each host)');
      await statusMatrix(lab);
      if (lab instanceof VmLab) {
        step('on the wire: SAs, kernel state and a payload captured on the bridge');
        const proof = await espProof(lab);
        console.log(formatEspProof(proof));
        printNext(lab);
        return up.code !== 0 ? up.code : proof.ok ? 0 : 1;
      }
      console.log(
        '\nThis kernel has no ESP: IKE_SAs are real, CHILD_SAs cannot be installed (ike-only is the expected best here).' +
          '\nSee README "What the lab proves".',
      );
      printNext(lab);
      return up.code;
    }
    case 'status': {
      const lab = attachAny(name);
      return (await statusMatrix(lab)) ? 0 : 1;
    }
    case 'pulumi': {
      const lab = attachAny(name);
      const r = await labPulumi(lab, split.pulumi ?? rest, { stream: true, allowFailure: true });
      return r.code;
    }
    case 'down': {
      if (!existsSync(labStateRoot(name))) {
        console.log(`lab "${name}" is not up`);
        return 0;
      }
      const lab = attachAny(name);
      step('pulumi destroy (removes ipsec-mesh from every host)');
      const d = await labPulumi(lab, ['destroy', '--yes', '--skip-preview'], { stream: true, allowFailure: true });
      if (d.code !== 0) console.error('pulumi destroy failed; the lab is removed anyway');
      step(`lab "${name}" down`);
      const r = lab instanceof VmLab ? await stopVmLab(name) : await stopLab(name);
      console.log(`    ${r.stopped.length} process(es) stopped, ${r.netnsDeleted.length} namespace(s) deleted`);
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

function printNext(lab: AnyLab): void {
  console.log('\nNext: `npm run lab -- status`, `npm run lab -- pulumi stack output`, `npm run lab:down`.');
  console.log('Pulumi by hand on the lab stack (the lab\'s own engine and PULUMI_HOME, not ~/.pulumi):');
  for (const line of labPulumiShellLines(lab)) console.log(`    ${line}`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof LabError || (e instanceof Error && e.name.endsWith('Error')) ? e.message : e);
    process.exit(1);
  },
);
