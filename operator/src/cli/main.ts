// Entry point of the `agentmeter` CLI and the `kubectl-agentmeter` plugin.
import { runReport, USAGE, UsageError } from './report.ts';
import { runSession } from './session.ts';
import { runSessions } from './sessions.ts';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const commands: Record<string, (argv: string[], out: (s: string) => void) => Promise<void>> = {
    report: runReport,
    sessions: runSessions,
    session: runSession,
  };
  const run = command === undefined ? undefined : commands[command];
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
