// Retry delays for a datastore that went away: exponential from `initialMs` to `maxMs`, with jitter so
// a cluster's agents do not all come back in the same millisecond after an etcd or API server restart.

export interface BackoffOptions {
  /** First delay; default 200 ms. */
  initialMs?: number;
  /** Largest delay; default 10 s. */
  maxMs?: number;
}

export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  #next: number;

  constructor(opts: BackoffOptions = {}) {
    this.#initial = opts.initialMs ?? 200;
    this.#max = opts.maxMs ?? 10_000;
    this.#next = this.#initial;
  }

  /** The delay before the next attempt (±20 %), doubling each call up to the maximum. */
  next(): number {
    const ms = this.#next;
    this.#next = Math.min(this.#max, this.#next * 2);
    return Math.round(ms * (0.8 + Math.random() * 0.4));
  }

  /** After a success: the next failure waits the initial delay again. */
  reset(): void {
    this.#next = this.#initial;
  }
}

/** Resolves after `ms`, or at once (false) when `signal` aborts first. */
export function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A short human reason for an error from a datastore client. */
export function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
