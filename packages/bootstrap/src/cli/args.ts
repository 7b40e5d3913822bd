// What every `netboot` subcommand shares: the option parser, the usage error (exit 2) and output
// helpers (`--json` for scripts, progress lines on stderr for people). A small hand-written parser: the
// CLI is never on the plugin's path, but it has no reason to carry a framework either.
import { InvalidInputError } from '@netboot/core/errors';

/** Bad arguments: the command exits 2 and prints its usage. */
export class UsageError extends InvalidInputError {}

/** A parsed command line: `--key value` options (repeated keys accumulate) and `--flag` switches. */
export class Options {
  readonly #values: Map<string, string[]>;

  private constructor(values: Map<string, string[]>) {
    this.#values = values;
  }

  /**
   * Parses `argv`. `flags` take no value; `allowed` (when given) lists every accepted key, so a typo is
   * an error rather than silently ignored. Positional arguments are refused.
   */
  static parse(argv: readonly string[], spec: { flags?: readonly string[]; allowed?: readonly string[] } = {}): Options {
    const flags = spec.flags ?? [];
    const values = new Map<string, string[]>();
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
      const eq = arg.indexOf('=');
      const key = arg.slice(2, eq === -1 ? undefined : eq);
      if (spec.allowed !== undefined && !spec.allowed.includes(key) && !flags.includes(key)) throw new UsageError(`unknown option --${key}`);
      if (flags.includes(key)) {
        if (eq !== -1) throw new UsageError(`--${key} takes no value`);
        values.set(key, ['true']);
        continue;
      }
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined) throw new UsageError(`--${key} needs a value`);
      values.set(key, [...(values.get(key) ?? []), value]);
    }
    return new Options(values);
  }

  has(key: string): boolean {
    return this.#values.has(key);
  }

  /** The last value given for `key`. */
  get(key: string): string | undefined {
    return this.#values.get(key)?.at(-1);
  }

  /** Every value given for `key` (empty when none). */
  all(key: string): string[] {
    return this.#values.get(key) ?? [];
  }

  /** `--key N` as an integer in [min, max], or undefined when absent. */
  int(key: string, min: number, max: number): number | undefined {
    const text = this.get(key);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${key} ${text} is not an integer in ${min}..${max}`);
    return n;
  }

  /** `--key` must be one of `choices`; `fallback` when absent. */
  choice<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const v = this.get(key) ?? fallback;
    if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${key} ${v}: expected ${choices.join(' | ')}`);
    return v as T;
  }
}

/**
 * The subcommand of a command group (`netboot GROUP SUB ARGS…`) and its arguments; or, with none given
 * or with `--help`/`help`, `usage` printed on stdout and the exit code to return (2 without one, else 0).
 */
export function subcommand(argv: readonly string[], usage: string): { command: string; rest: string[] } | { exit: number } {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === 'help' || rest.includes('--help')) {
    process.stdout.write(`${usage}\n`);
    return { exit: command === undefined ? 2 : 0 };
  }
  return { command, rest };
}

/** What `Options.parse` accepts for subcommand `command` of `group`; a usage error naming the others when it has none. */
export function specOf<S>(group: string, command: string, specs: Readonly<Record<string, S>>): S {
  if (!Object.hasOwn(specs, command)) throw new UsageError(`unknown command ${group} ${command}: expected ${Object.keys(specs).join(' | ')}`);
  return specs[command]!;
}

/** Where a command writes: results on stdout (JSON with `--json`), progress lines on stderr. */
export interface Output {
  readonly json: boolean;
  /** A progress line for a person watching (stderr; quiet with --json). */
  progress(line: string): void;
  /** The command's result: `value` as JSON with --json, else `text` (defaults to the JSON). */
  result(value: unknown, text?: string): void;
}

export function output(json: boolean, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Output {
  return {
    json,
    progress(line) {
      if (!json) err.write(`${line}\n`);
    },
    result(value, text) {
      if (json) out.write(`${JSON.stringify(value, null, 2)}\n`);
      else out.write(text === undefined ? `${JSON.stringify(value, null, 2)}\n` : text.endsWith('\n') ? text : `${text}\n`);
    },
  };
}
