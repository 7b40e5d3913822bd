// The CNI_* environment, read and checked once. Which variables a verb needs follows the spec:
// ADD and CHECK need CONTAINERID, NETNS and IFNAME; DEL needs CONTAINERID and IFNAME (NETNS is
// optional: the namespace may be gone); STATUS, GC and VERSION need none of them.
import { validateContainerId, validateIfname } from '@netboot/ipam';
import { CniCode, CniError } from './errors.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'] as const;
export type Command = (typeof COMMANDS)[number];

/** What the runtime told the plugin through its environment. */
export interface CniEnv {
  command: Command;
  /** CNI_CONTAINERID; '' for verbs that do not take one. */
  containerId: string;
  /** CNI_NETNS: a path such as /run/netns/<name> or /proc/<pid>/ns/net; undefined if not given. */
  netns: string | undefined;
  /** CNI_IFNAME; '' for verbs that do not take one. */
  ifname: string;
  /** CNI_ARGS as key → value (`IgnoreUnknown=1;K8S_POD_NAME=x`). */
  args: Record<string, string>;
  /** CNI_PATH split on ':' (empty entries dropped). */
  path: string[];
}

type Env = Readonly<Record<string, string | undefined>>;

const NEEDS: Record<Command, readonly ('CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME')[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  STATUS: [],
  GC: [],
  VERSION: [],
};

function envError(name: string, why: string): CniError {
  return new CniError(CniCode.InvalidEnvironment, `${name} ${why}`);
}

/** The command alone: error 4 when CNI_COMMAND is missing or not a CNI verb (the reference exits 0). */
export function parseCommand(env: Env): Command {
  const command = env.CNI_COMMAND;
  if (command === undefined || command === '') throw envError('CNI_COMMAND', `is not set; expected one of ${COMMANDS.join(', ')}`);
  if (!(COMMANDS as readonly string[]).includes(command)) throw envError('CNI_COMMAND', `${JSON.stringify(command)} is not one of ${COMMANDS.join(', ')}`);
  return command as Command;
}

/** `K=V;K=V` → record; error 4 naming CNI_ARGS for a pair without '=' or with an empty key. */
function parseArgs(text: string | undefined): Record<string, string> {
  const args: Record<string, string> = {};
  if (text === undefined || text === '') return args;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw envError('CNI_ARGS', `has ${JSON.stringify(pair)}, expected KEY=VALUE pairs separated by ";"`);
    args[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return args;
}

/** Reads and checks every CNI_* variable the command needs. */
export function parseEnv(env: Env): CniEnv {
  const command = parseCommand(env);
  const needs = NEEDS[command];
  for (const name of needs) {
    if (env[name] === undefined || env[name] === '') throw envError(name, `is required for ${command} but not set`);
  }
  const check = (name: string, validate: (v: string) => string): string => {
    const value = env[name];
    if (value === undefined || value === '') return '';
    try {
      return validate(value);
    } catch (err) {
      throw envError(name, `is invalid: ${(err as Error).message}`);
    }
  };
  const netns = env.CNI_NETNS === undefined || env.CNI_NETNS === '' ? undefined : env.CNI_NETNS;
  if (netns !== undefined && !netns.startsWith('/')) throw envError('CNI_NETNS', `must be an absolute path, got ${JSON.stringify(netns)}`);
  return {
    command,
    containerId: check('CNI_CONTAINERID', validateContainerId),
    netns,
    ifname: check('CNI_IFNAME', validateIfname),
    args: parseArgs(env.CNI_ARGS),
    path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
  };
}
