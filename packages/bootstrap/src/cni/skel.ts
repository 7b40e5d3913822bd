// The dispatcher: reads the environment and stdin once, checks them, and calls one verb with a typed
// request; writes the verb's reply, or the spec's error JSON (always with a cniVersion), to stdout and
// returns the exit code. I/O is injected so tests can drive it in-process exactly as a runtime would.
import { parseCommand, parseEnv, type CniEnv, type Command } from './env.js';
import { CniCode, CniError, toCniError } from './errors.js';
import { decodeConfig, parseConfig, type NetConf } from './config.js';
import { createLogger, type Logger } from './log.js';
import { isSupportedVersion, LATEST_VERSION, versionAtLeast } from './versions.js';

/** What the plugin reads and writes: a process's env/stdin/stdout/stderr, or a test's strings. */
export interface CniIo {
  env: Readonly<Record<string, string | undefined>>;
  /** The whole of stdin. */
  readStdin(): string;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** One invocation: the checked environment, the parsed config, and a logger. */
export interface CniRequest {
  env: CniEnv;
  /** The environment as received, for delegated plugins (they get the same one). */
  rawEnv: Readonly<Record<string, string | undefined>>;
  conf: NetConf;
  log: Logger;
}

/** A verb's JSON reply (printed on stdout), or nothing (DEL, CHECK, STATUS, GC succeed silently). */
export type Reply = Record<string, unknown> | undefined;

export interface Verbs {
  add(req: CniRequest): Promise<Reply>;
  del(req: CniRequest): Promise<Reply>;
  check(req: CniRequest): Promise<Reply>;
  status(req: CniRequest): Promise<Reply>;
  gc(req: CniRequest): Promise<Reply>;
  /** VERSION needs no config: the runtime may send an empty one. */
  version(): Reply;
}

/** Verbs younger than the oldest version we speak: CHECK came with 0.4.0, STATUS and GC with 1.1.0. */
const SINCE: Partial<Record<Command, string>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };

const HANDLER: Record<Exclude<Command, 'VERSION'>, keyof Omit<Verbs, 'version'>> = {
  ADD: 'add',
  DEL: 'del',
  CHECK: 'check',
  STATUS: 'status',
  GC: 'gc',
};

/**
 * The last config read, by its stdin text: a warm server (server.ts) is sent the same conflist entry
 * for every pod of a network, and decoding and checking it again cost ~0.1 ms of a served ADD. Reused
 * only for the very same text; parseConfig reads nothing but it, and no verb changes a NetConf.
 */
let lastConfig: { stdin: string; conf: NetConf } | undefined;

/** Runs one plugin invocation; returns the process exit code (0, or 1 after printing an error). */
export async function dispatch(io: CniIo, verbs: Verbs): Promise<number> {
  let errorVersion: string = LATEST_VERSION;
  let env: CniEnv | undefined;
  const log = createLogger(io.stderr, () => (env ? `${env.command} ${env.containerId}/${env.ifname}` : (io.env.CNI_COMMAND ?? '?')));
  try {
    const stdin = io.readStdin();
    const known = stdin === lastConfig?.stdin ? lastConfig : undefined;
    // The error reply uses the config's version when there is a usable one, so read it first.
    const raw = known !== undefined ? known.conf.raw : stdin.trim() === '' ? undefined : safeDecode(stdin);
    if (raw !== undefined && isSupportedVersion(raw.cniVersion)) errorVersion = raw.cniVersion;
    if (parseCommand(io.env) === 'VERSION') return write(io, verbs.version());
    env = parseEnv(io.env);
    const conf = known?.conf ?? parseConfig(raw ?? decodeConfig(stdin));
    lastConfig = { stdin, conf };
    if (conf.logFile !== undefined) log.toFile(conf.logFile);
    const since = SINCE[env.command];
    if (since !== undefined && !versionAtLeast(conf.cniVersion, since)) {
      throw new CniError(CniCode.IncompatibleVersion, `${env.command} needs cniVersion ${since} or later; the config has ${conf.cniVersion}`);
    }
    const reply = await verbs[HANDLER[env.command as Exclude<Command, 'VERSION'>]]({ env, rawEnv: io.env, conf, log });
    return write(io, reply);
  } catch (err) {
    const error = toCniError(err);
    log.info(`error ${error.code}: ${error.message}${error.code === 999 && err instanceof Error && err.stack ? `\n${err.stack}` : ''}`);
    io.stdout(`${JSON.stringify(error.toJSON(errorVersion))}\n`);
    return 1;
  }
}

function safeDecode(stdin: string): Record<string, unknown> | undefined {
  try {
    return decodeConfig(stdin);
  } catch {
    return undefined; // reported (as error 6) only by verbs that need a config
  }
}

function write(io: CniIo, reply: Reply): number {
  if (reply !== undefined) io.stdout(`${JSON.stringify(reply)}\n`);
  return 0;
}
