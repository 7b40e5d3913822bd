// What init, join and reset throw. Each is a NetbootError, so the CLI maps it to an exit code by kind.
import { InvalidInputError, NetbootError } from '@netboot/core/errors';
import type { Check } from './types.js';

/** A bad option (a CIDR, a mask, a mode): nothing was changed. */
export class InitOptionError extends InvalidInputError {}

/** The user's kubeadm config says something else than the flags (the mismatch netboot exists to prevent). */
export class KubeadmConfigConflictError extends NetbootError {
  readonly kind = 'conflict' as const;
}

/** apply was given a plan whose preflight failed: nothing was changed. */
export class PreflightFailedError extends NetbootError {
  readonly kind = 'conflict' as const;
  readonly failed: Check[];

  constructor(failed: Check[]) {
    super(`preflight failed, nothing was changed:\n${failed.map((c) => `  ✗ ${c.message}${c.fix ? `\n      fix: ${c.fix}` : ''}`).join('\n')}`);
    this.failed = failed;
  }
}

/** kubeadm or kubectl exited non-zero; its output is in the message. */
export class CommandFailedError extends NetbootError {
  readonly kind = 'internal' as const;
}
