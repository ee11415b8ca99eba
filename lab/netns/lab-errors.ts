import type { ExecResult } from './run-command.js';

/** Base of every error the lab raises; `lab` names the lab it concerns when known. */
export class LabError extends Error {
  override readonly name: string = 'LabError';
  constructor(message: string, readonly lab?: string) {
    super(message);
  }
}

/** One problem found in a lab spec, at a path such as `hosts[2].ipv6[0]`. */
export interface LabSpecIssue {
  readonly path: string;
  readonly message: string;
}

/** The spec is invalid; every problem is listed, not only the first. */
export class LabSpecError extends LabError {
  override readonly name = 'LabSpecError';
  constructor(readonly issues: readonly LabSpecIssue[], lab?: string) {
    super(`invalid lab spec:\n${issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`, lab);
  }
}

/** A command run by the lab (on the machine or inside a host) failed. */
export class LabCommandError extends LabError {
  override readonly name = 'LabCommandError';
  constructor(message: string, readonly result: ExecResult) {
    super(message);
  }
  static fromResult(result: ExecResult, context?: string): LabCommandError {
    const how = result.code === null ? `killed by ${result.signal ?? 'a signal'}` : `exit ${result.code}`;
    const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-20).join('\n');
    return new LabCommandError(
      `${context ? `${context}: ` : ''}\`${result.argv.join(' ')}\` failed (${how})${detail ? `:\n${detail}` : ''}`,
      result,
    );
  }
}

/** A lab of this name is already up (its state or namespaces exist). */
export class LabAlreadyUpError extends LabError {
  override readonly name = 'LabAlreadyUpError';
  constructor(lab: string, readonly stateRoot: string, readonly leftovers: readonly string[]) {
    super(
      `lab "${lab}" is still up (${leftovers.join(', ')}); bring it down first: ` +
        `\`npx tsx lab/netns/cli.ts down --name ${lab}\` or stopLab("${lab}")`,
      lab,
    );
  }
}

/** No lab of this name is up. */
export class LabNotFoundError extends LabError {
  override readonly name = 'LabNotFoundError';
  constructor(lab: string, readonly stateRoot: string) {
    super(`no lab "${lab}" is up (no state at ${stateRoot})`, lab);
  }
}

/** The machine lacks something the lab needs (root, a binary, a kernel feature). */
export class LabPrerequisiteError extends LabError {
  override readonly name = 'LabPrerequisiteError';
  constructor(readonly missing: readonly string[]) {
    super(`the lab cannot run here:\n${missing.map((m) => `  - ${m}`).join('\n')}\n(run scripts/install-system-deps.sh as root)`);
  }
}

/** A daemon (charon, sshd) did not come up or did not stop. */
export class LabDaemonError extends LabError {
  override readonly name = 'LabDaemonError';
  constructor(message: string, lab: string, readonly host: string, readonly daemon: string, readonly log?: string) {
    super(`${message}${log ? `\n--- last lines of its log ---\n${log}` : ''}`, lab);
  }
}
