// A queue of events pushed by callbacks (an etcd watcher, a Kubernetes watch stream) and read with
// `for await`; it ends when the signal aborts. Unbounded on purpose: the consumer (the agent) only
// folds events into a map, so it never falls far behind.
/**
 * A Channel fed by `produce` until `signal` aborts (produce closes it when it returns; when it throws,
 * the reader's next read throws that error).
 */
export function produced<T>(signal: AbortSignal, produce: (out: Channel<T>, signal: AbortSignal) => Promise<void>): AsyncIterable<T> {
  const out = new Channel<T>(signal);
  produce(out, signal).then(
    () => out.close(),
    (e: unknown) => out.fail(e),
  );
  return out;
}

export class Channel<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #error: { error: unknown } | undefined;

  constructor(signal: AbortSignal) {
    if (signal.aborted) this.#closed = true;
    else signal.addEventListener('abort', () => this.close(), { once: true });
  }

  push(item: T): void {
    if (this.#closed) return;
    this.#items.push(item);
    this.#wake?.();
  }

  /** Ends the channel once the queued items are read. */
  close(): void {
    this.#closed = true;
    this.#wake?.();
  }

  /** Ends it with `error`: reading past the queued items throws it (unless it was closed already). */
  fail(error: unknown): void {
    if (!this.#closed) this.#error = { error };
    this.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#error !== undefined) throw this.#error.error;
      if (this.#closed) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
