// The node agent process: flags → logger → buildAgent → start; SIGTERM or SIGINT stops it in
// order (agent/agent.ts) within --shutdown-timeout, or exits 1.
import { buildAgent } from './agent/build-agent.ts';
import type { Agent } from './agent/agent.ts';
import { ConfigError, configUsage, parseConfig, type AgentConfig } from './config.ts';
import { createLogger, type Logger } from './log.ts';

const USAGE = `Usage: node node-agent/src/main.ts [flags]

agentmeter node agent: meters every pod on this node from its cgroups, writes a hash-chained
ledger and serves /metrics, /healthz, /readyz and /v1/ledger.

Flags (each also settable by its environment variable; flags win):
`;

/** Stops the agent in order, or exits 1 once --shutdown-timeout has passed. */
function stopWithin(agent: Agent, config: AgentConfig, log: Logger): Promise<void> {
  setTimeout(() => {
    log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out');
    process.exit(1);
  }, config.shutdownTimeoutMs).unref();
  return agent.stop();
}

/** Resolves once SIGTERM or SIGINT has stopped the agent. */
function stopOnSignal(agent: Agent, config: AgentConfig, log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const shutdown = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      void stopWithin(agent, config, log).then(resolve);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}${configUsage()}\n`);
    return;
  }
  let config: AgentConfig;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`agentmeter node-agent: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, component: 'node-agent' });
  let agent: Agent;
  try {
    agent = await buildAgent(config, log);
  } catch (err) {
    log.fatal({ err }, 'node agent failed');
    process.exit(1);
  }
  const stopped = stopOnSignal(agent, config, log);
  try {
    await agent.start();
  } catch (err) {
    log.fatal({ err }, 'node agent failed');
    await stopWithin(agent, config, log);
    process.exit(1);
  }
  await stopped;
  log.info('stopped');
}

await main();
