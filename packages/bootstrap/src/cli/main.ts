#!/usr/bin/env node
// The `netboot` command: a dispatcher. Each command group lives in a module of its own, loaded only when
// named, so `netboot cni …` never pays for the agent's datastore clients and the reverse.
import { UsageError } from './args.js';

type Command = { summary: string; load: () => Promise<(argv: readonly string[]) => Promise<number>> };

const COMMANDS: Record<string, Command> = {
  agent: { summary: 'run the node agent (routes, egress NAT, lease file)', load: async () => (await import('../agent/main.js')).agentMain },
  cni: { summary: 'build the CNI plugin binary, install it with its conflist', load: async () => (await import('./cni.js')).cniMain },
  init: { summary: 'set up a control-plane node: preflight, kubeadm config, CNI, agent manifests', load: async () => (await import('./init.js')).initMain },
  join: { summary: 'set up a worker: preflight with the cluster’s settings, CNI plugin and conflist', load: async () => (await import('./init.js')).joinMain },
  reset: { summary: 'remove what init/join installed on this node', load: async () => (await import('./init.js')).resetMain },
  doctor: { summary: 'check this node’s pod network end to end and say what is wrong', load: async () => (await import('./doctor.js')).doctorMain },
  ipam: { summary: 'pod IPs: show who holds what, check for leaks, release, gc', load: async () => (await import('./ipam.js')).ipamMain },
  pool: { summary: 'IP pools: list, add, disable, enable, delete (etcd)', load: async () => (await import('./pool.js')).poolMain },
  status: { summary: 'nodes, their pod subnets, node IPs, modes and agent health', load: async () => (await import('./status.js')).statusMain },
  lab: { summary: 'a whole cluster’s pod network in namespaces on this machine: up, check, down', load: async () => (await import('./lab.js')).labMain },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  netboot ${name.padEnd(width)}  ${c.summary}`);
  return `usage: netboot <command> [options]   (netboot <command> --help for each)\n\n${lines.join('\n')}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}\n${usage()}`);
  return (await command.load())(rest);
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const hint = err instanceof UsageError && argv[0] !== undefined && argv[0] in COMMANDS ? `\n(netboot ${argv[0]} --help shows its usage)` : '';
    process.stderr.write(`netboot: ${(err as Error).message}${hint}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
