// Starting, probing and stopping the daemons of the test control plane and the real test node.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';

/** A daemon that would not start or stop; names the component and where its log is. */
export class ComponentError extends Error {
  readonly component: string;
  readonly logFile: string | undefined;
  constructor(component: string, message: string, logFile?: string) {
    super(`${component}: ${message}${logFile ? ` (log: ${logFile})` : ''}`);
    this.name = 'ComponentError';
    this.component = component;
    this.logFile = logFile;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** A TCP port nobody listens on at `host` right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

export interface Probe {
  status: number;
  body: string;
}

/** One GET; rejects on a network error or after two seconds. */
export function probe(
  url: string,
  options: { ca?: Buffer; token?: string; insecure?: boolean } = {},
): Promise<Probe> {
  return new Promise((done, fail) => {
    const headers = options.token ? { authorization: `Bearer ${options.token}` } : undefined;
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    };
    const req = url.startsWith('https:')
      ? httpsRequest(
          url,
          {
            ca: options.ca,
            headers,
            timeout: 2000,
            rejectUnauthorized: options.insecure !== true,
          },
          onResponse,
        )
      : httpRequest(url, { headers, timeout: 2000 }, onResponse);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end();
  });
}

export interface Running {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
}

export interface LaunchOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Open descriptors handed to the child as fd 3, 4, ... (the real node's lock). */
  readonly extraFds?: readonly number[];
}

/**
 * Starts a daemon in its own process group, writing its output straight into `logFile`, so it
 * keeps running and logging if this process exits (a node left up with --keep).
 */
export function launch(
  name: string,
  binary: string,
  args: readonly string[],
  logFile: string,
  options: LaunchOptions = {},
): Running {
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, args, {
      stdio: ['ignore', out, out, ...(options.extraFds ?? [])],
      detached: true,
      env: options.env ?? process.env,
    });
  } finally {
    closeSync(out);
  }
  const exited = new Promise<number | null>((done) => {
    child.on('exit', (code, signal) => done(code ?? (signal ? -1 : null)));
    child.on('error', () => done(-1));
  });
  return { name, child, logFile, exited };
}

/** SIGTERM to the daemon's process group, SIGKILL after `timeoutMs`; resolves once it exited. */
export async function terminate(running: Running | undefined, timeoutMs = 10_000): Promise<void> {
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  const pid = running.child.pid;
  if (pid === undefined) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // The group is already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), timeoutMs);
  await running.exited;
  clearTimeout(timer);
}

/** The last lines of a log, for error messages. */
export async function logTail(logFile: string, lines = 15): Promise<string> {
  return (await readFile(logFile, 'utf8').catch(() => ''))
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}

/** Polls `check` until it holds; fails with the log's tail if the daemon exits first. */
export async function waitReady(
  running: Running,
  timeoutMs: number,
  check: () => Promise<boolean>,
  what = 'ready',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void running.exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) {
      throw new ComponentError(
        running.name,
        `exited with ${exitCode} while starting:\n${await logTail(running.logFile)}`,
        running.logFile,
      );
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new ComponentError(
        running.name,
        `not ${what} after ${timeoutMs} ms:\n${await logTail(running.logFile)}`,
        running.logFile,
      );
    }
    await sleep(200);
  }
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion, never rejecting: the caller decides what a failure means. */
export function run(
  binary: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((done) => {
    const child = execFile(
      binary,
      args,
      {
        maxBuffer: 64 * 1024 * 1024,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 0,
        cwd: options.cwd,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        done({ code, stdout, stderr: err && !stderr ? err.message : stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Like run(), but a non-zero exit is an error that quotes the command and its stderr. */
export async function runChecked(
  binary: string,
  args: readonly string[],
  options: Parameters<typeof run>[2] = {},
): Promise<string> {
  const res = await run(binary, args, options);
  if (res.code !== 0) {
    throw new Error(`${binary} ${args.join(' ')} exited with ${res.code}: ${res.stderr.trim()}`);
  }
  return res.stdout;
}

/**
 * Runs one of the hack/ build scripts, passing its progress lines (stderr) to `log` as they come,
 * and returns its stdout. A failure quotes the end of its stderr.
 */
export function runScript(
  script: string,
  args: readonly string[],
  component: string,
  log: (line: string) => void,
): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderrTail = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderrTail = (stderrTail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim()) log(line.replace(/^\[[\w-]+\] /, ''));
    });
    child.on('error', (err) =>
      fail(new ComponentError(component, `cannot run ${script}: ${err.message}`)),
    );
    child.on('close', (code) => {
      if (code === 0) done(stdout);
      else fail(new ComponentError(component, `${script} exited with ${code}:\n${stderrTail}`));
    });
  });
}
