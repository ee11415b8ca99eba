import { LabError } from '../netns/lab-errors.js';

/** Base of the vm lab's errors (a LabError: callers of either backend catch one type). */
export class VmLabError extends LabError {
  override readonly name: string = 'VmLabError';
}

/** A guest did not boot, did not answer SSH, or its qemu died; carries its console's last lines. */
export class VmGuestError extends VmLabError {
  override readonly name = 'VmGuestError';
  constructor(message: string, lab: string, readonly host: string, readonly console?: string) {
    super(`${message}${console ? `\n--- last lines of ${host}'s console ---\n${console}` : ''}`, lab);
  }
}
