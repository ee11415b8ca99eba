// Runs delivery command strings on lab hosts exactly as remote.Command does: one SSH exec
// request carrying the command string, the payload on stdin. OpenSSH client from the
// operator namespace, the lab key, host keys pinned (StrictHostKeyChecking=yes), BatchMode.
import { statSync } from 'node:fs';
import type { ExecResult, Lab } from '../../lab/netns/index.js';
import { run } from '../../lab/netns/run-command.js';

export function sshCommandArgv(lab: Lab, host: string, command: string, user = 'root'): string[] {
  const argv = lab.sshArgv(host, []);
  const target = argv.findIndex((a) => a.startsWith('root@'));
  // sshArgv ends with `root@<address> -- <remote words>`: swap in the user and the command verbatim.
  if (target < 0 || argv[target + 1] !== '--' || argv.length !== target + 3) throw new Error(`unexpected ssh argv: ${argv.join(' ')}`);
  argv[target] = `${user}@${argv[target]!.slice('root@'.length)}`;
  argv[target + 2] = command;
  for (const opt of ['StrictHostKeyChecking=yes', 'BatchMode=yes']) if (!argv.includes(opt)) throw new Error(`ssh argv lacks ${opt}`);
  return argv;
}

export function sshRun(lab: Lab, host: string, command: string, stdin = '', user = 'root'): Promise<ExecResult> {
  return run(sshCommandArgv(lab, host, command, user), { stdin, timeoutMs: 120_000, context: `ssh ${user}@${host}` });
}

/** Mode bits, owner and inode of a file on a lab host (through its state directory). */
export function hostStat(lab: Lab, host: string, path: string): { mode: number; uid: number; gid: number; ino: number } {
  const s = statSync(lab.hostFile(host, path));
  return { mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, ino: s.ino };
}
