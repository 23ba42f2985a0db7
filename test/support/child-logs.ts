// The components the suites run as child processes: their log lines and their end.
import type { ChildProcess } from 'node:child_process';

/** Appends each complete stdout/stderr line of a child to `lines` (the components log JSON). */
export function collectLines(child: ChildProcess, lines: string[]): void {
  let buffer = '';
  const collect = (chunk: Buffer): void => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
}

/** A component running as a child process, with its log lines collected as they come. */
export class LoggedChild {
  readonly child: ChildProcess;
  readonly logs: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(child: ChildProcess) {
    this.child = child;
    collectLines(child, this.logs);
    this.exited = new Promise((done) => child.on('exit', (code) => done(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM and wait for the exit (the components shut down in order on it). */
  async stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }

  async kill9(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Log lines parsed as JSON (the components log structured JSON); other lines are left out. */
  jsonLogs(): Record<string, unknown>[] {
    return this.logs.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }
}
