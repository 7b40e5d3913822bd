// Kernel numbers (RTN_*, RT_SCOPE_*, NUD_*) under the lower-case names `ip` prints, looked up both ways.

export class NameTable<N extends string> {
  readonly #byName: ReadonlyMap<string, number>;
  readonly #byNumber: ReadonlyMap<number, N>;

  constructor(readonly entries: readonly (readonly [N, number])[]) {
    this.#byName = new Map(entries);
    this.#byNumber = new Map(entries.map(([name, n]) => [n, name]));
  }

  /** The number for `name`; for anything else, the error `fail` builds from the list of choices. */
  number(name: unknown, fail: (expected: string) => Error): number {
    const n = typeof name === 'string' ? this.#byName.get(name) : undefined;
    if (n === undefined) throw fail(`expected one of ${[...this.#byName.keys()].join(', ')}`);
    return n;
  }

  /** The name for a kernel number, if it has one. */
  name(n: number): N | undefined {
    return this.#byNumber.get(n);
  }
}
