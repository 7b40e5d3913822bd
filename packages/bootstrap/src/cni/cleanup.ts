// ADD's undo log: each step that changes something pushes how to take it back; if a later step fails,
// the undos run newest first and every one runs even if another fails, so a failed ADD leaves no IP,
// link or rule behind. On success the stack is simply dropped.
import type { Logger } from './log.js';

type Undo = () => unknown;

export class CleanupStack {
  private readonly undos: { what: string; undo: Undo }[] = [];

  /** Records how to take back the step just done (`what` names it in the log if the undo fails). */
  push(what: string, undo: Undo): void {
    this.undos.push({ what, undo });
  }

  /**
   * push(), but the undo runs just after the one pushed as `after` (the newest such; at the top when
   * there is none): a step that must be taken back only once a step done before it is.
   */
  pushUnder(after: string, what: string, undo: Undo): void {
    const at = this.undos.findLastIndex((u) => u.what === after);
    this.undos.splice(at < 0 ? this.undos.length : at, 0, { what, undo });
  }

  /** Drops the undo pushed as `what` (the step turned out not to be this call's to take back). */
  drop(what: string): void {
    const at = this.undos.findLastIndex((u) => u.what === what);
    if (at >= 0) this.undos.splice(at, 1);
  }

  /** Runs every undo, newest first; failures are logged, never thrown (the original error matters). */
  async unwind(log: Logger): Promise<void> {
    for (let step = this.undos.pop(); step !== undefined; step = this.undos.pop()) {
      try {
        await step.undo();
      } catch (err) {
        log.info(`cleanup of ${step.what} failed: ${(err as Error).message}`);
      }
    }
  }
}

/** Runs `fn` with a fresh stack; if it throws, unwinds the stack and rethrows. */
export async function withCleanup<T>(log: Logger, fn: (stack: CleanupStack) => Promise<T>): Promise<T> {
  const stack = new CleanupStack();
  try {
    return await fn(stack);
  } catch (err) {
    await stack.unwind(log);
    throw err;
  }
}
