// Entry point of the `agentmeter` CLI and the `kubectl-agentmeter` plugin.
import { runReport, USAGE, UsageError } from './report.ts';
import { runSessions } from './sessions.ts';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const run = command === 'report' ? runReport : command === 'sessions' ? runSessions : undefined;
  if (run === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return command === undefined || command === '--help' ? 0 : 2;
  }
  try {
    await run(rest, (s) => process.stdout.write(s));
    return 0;
  } catch (err) {
    process.stderr.write(`agentmeter: ${(err as Error).message}\n`);
    return err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      ? 2
      : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
