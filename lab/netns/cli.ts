#!/usr/bin/env node
// Small front end to the namespace lab: `up --spec FILE`, `down --name NAME`, `status`.
// Run as root: npx tsx lab/netns/cli.ts up --spec lab/specs/demo.yaml
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import yaml from 'js-yaml';
import { LabError } from './lab-errors.js';
import { DEFAULT_STATE_BASE, isLabNetns } from './lab-names.js';
import { listNetns } from './lab-network.js';
import { isRunning, readState } from './lab-state.js';
import { writeLabInventory } from './lab-inventory.js';
import { attachLab, labStateRoot, startLab, stopLab } from './lab.js';

const USAGE = `usage: cli.ts up --spec FILE [--state-root DIR] [--no-charon] [--no-sshd]
       cli.ts down (--name NAME | --spec FILE) [--state-root DIR]
       cli.ts status [--name NAME] [--state-root DIR]`;

function specName(file: string): { spec: unknown; name: string } {
  const spec = yaml.load(readFileSync(file, 'utf8'));
  const name = (spec as { name?: unknown } | null)?.name;
  if (typeof name !== 'string') throw new LabError(`${file}: the spec has no "name"`);
  return { spec, name };
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      spec: { type: 'string' },
      name: { type: 'string' },
      'state-root': { type: 'string' },
      'no-charon': { type: 'boolean' },
      'no-sshd': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command] = positionals;
  const stateRoot = values['state-root'];
  const loc = stateRoot ? { stateRoot } : {};
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  switch (command) {
    case 'up': {
      if (!values.spec) throw new LabError('up needs --spec FILE');
      const { spec } = specName(values.spec);
      const t0 = Date.now();
      const lab = await startLab(spec as Parameters<typeof startLab>[0], {
        ...loc,
        charon: !values['no-charon'],
        sshd: !values['no-sshd'],
        onProgress: (m) => console.log(`==> ${m}`),
      });
      console.log(`lab "${lab.name}" is up in ${Date.now() - t0} ms (state ${lab.stateRoot})`);
      for (const h of lab.hosts) console.log(`  ${h.name.padEnd(12)} ${h.site.padEnd(10)} ${[...h.ipv4, ...h.ipv6].join(' ')}`);
      try {
        console.log(`inventory: ${writeLabInventory(lab)}`);
      } catch (e) {
        // The lab is up either way; an inventory needs a pairable mesh (e.g. two hosts).
        console.error(`no inventory written: ${e instanceof Error ? e.message : String(e)}`);
      }
      console.log(`ssh: ${lab.sshArgv(lab.hosts[0]!.name, ['true']).slice(0, -3).join(' ')} root@ADDRESS`);
      return 0;
    }
    case 'down': {
      const name = values.name ?? (values.spec ? specName(values.spec).name : undefined);
      if (!name) throw new LabError('down needs --name NAME or --spec FILE');
      const r = await stopLab(name, loc);
      console.log(
        `lab "${name}" is down: ${r.stopped.length} process(es) stopped, ${r.strays.length} stray(s), ` +
          `${r.netnsDeleted.length} namespace(s) deleted${r.stateRemoved ? ', state removed' : ''}`,
      );
      return 0;
    }
    case 'status': {
      const names = values.name
        ? [values.name]
        : existsSync(stateRoot ?? DEFAULT_STATE_BASE) && !stateRoot
          ? readdirSync(DEFAULT_STATE_BASE)
          : [];
      if (names.length === 0) console.log('no lab is up');
      for (const name of names) {
        const root = labStateRoot(name, stateRoot);
        const state = readState(root);
        const ns = listNetns().filter((n) => isLabNetns(name, n));
        if (!state) {
          console.log(`lab "${name}": no state at ${root}${ns.length ? `; namespaces left: ${ns.join(' ')} (run down)` : ''}`);
          continue;
        }
        const lab = attachLab(name, loc);
        console.log(`lab "${name}" (${state.phase}, since ${state.createdAt}), state ${root}, ${ns.length} namespace(s)`);
        for (const h of lab.hosts) {
          const procs = state.processes.filter((p) => p.host === h.name);
          const show = (role: string): string => {
            const p = procs.find((x) => x.role === role);
            return p ? `${role} ${p.pid}${isRunning(p) ? '' : ' (dead)'}` : `${role} -`;
          };
          console.log(`  ${h.name.padEnd(12)} ${[...h.ipv4, ...h.ipv6].join(' ').padEnd(40)} ${show('charon')}, ${show('sshd')}`);
        }
      }
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof LabError ? e.message : e);
    process.exit(1);
  },
);
