// `netboot agent [flags]`: parses the configuration, runs the Agent until SIGTERM or SIGINT, and
// exits 0 after a clean shutdown, 2 for bad configuration (before touching anything), 1 for a fatal
// error (a mode this kernel cannot run, a node IP that cannot be found).
import { setFlagsFromString } from 'node:v8';
import { InvalidInputError } from '@netboot/core/errors';
import { Agent } from './agent.js';
import { AgentConfigError, HELP, parseAgentArgs } from './config.js';
import { jsonLogger } from './log.js';

/**
 * Keeps V8's young generation at its initial size (two 1 MB semi-spaces) instead of letting it double up
 * to 2 × 16 MB while start-up builds the peer tables: that growth is never given back, and was ~24 MB of
 * an idle agent's RSS at 5,000 peers (bench/agent.ts). The growth factor is read each time new space
 * would grow, so it takes effect from here, unlike --max-semi-space-size (fixed when the heap is made).
 */
const YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1';

export async function agentMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  setFlagsFromString(YOUNG_GENERATION_FLAG);
  const log = jsonLogger();
  let agent: Agent;
  let cniSocket: string | undefined;
  try {
    const config = parseAgentArgs(argv);
    cniSocket = config.cniSocket;
    agent = new Agent(config, { log });
  } catch (e) {
    if (!(e instanceof AgentConfigError)) throw e;
    process.stderr.write(`netboot agent: ${e.message}\n`);
    return 2;
  }
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    log.info('shutting down', { signal });
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // --cni-socket: the CNI plugin's calls answered here, warm (loaded only when asked for).
  let cni: { close(): Promise<void> } | undefined;
  try {
    if (cniSocket !== undefined) cni = await (await import('../cni/server.js')).serveCni({ socket: cniSocket, log: (line) => log.info(`cni server: ${line}`) });
    await agent.run(stop.signal);
    return 0;
  } catch (e) {
    log.error('fatal', { error: e });
    process.stderr.write(`netboot agent: ${(e as Error).message}\n`);
    return e instanceof InvalidInputError ? 2 : 1;
  } finally {
    await cni?.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
