// `netboot agent [flags]`: parses the configuration, runs the Agent until SIGTERM or SIGINT, and
// exits 0 after a clean shutdown, 2 for bad configuration (before touching anything), 1 for a fatal
// error (a mode this kernel cannot run, a node IP that cannot be found).
import { InvalidInputError } from '@netboot/core/errors';
import { Agent } from './agent.js';
import { AgentConfigError, parseAgentArgs, USAGE } from './config.js';
import { jsonLogger } from './log.js';

export async function agentMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = jsonLogger();
  let agent: Agent;
  try {
    agent = new Agent(parseAgentArgs(argv), { log });
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
  try {
    await agent.run(stop.signal);
    return 0;
  } catch (e) {
    log.error('fatal', { error: e });
    process.stderr.write(`netboot agent: ${(e as Error).message}\n`);
    return e instanceof InvalidInputError ? 2 : 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
