// Runs nvidia-smi with a hard timeout and a bounded output. nvidia-smi is known to hang (no
// persistence mode, busy multi-GPU chassis, driver trouble), so a call is never awaited without
// a deadline, and a hung child that ignores SIGKILL (stuck in the driver) blocks new calls
// instead of piling up.
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { excerpt } from './errors.ts';

export type NvidiaSmiExecCode =
  'not_found' | 'timeout' | 'still_running' | 'exit_code' | 'driver' | 'output_too_large';

export class NvidiaSmiExecError extends Error {
  override readonly name = 'NvidiaSmiExecError';
  readonly code: NvidiaSmiExecCode;
  readonly args: readonly string[];
  readonly exitCode: number | null;
  /** Excerpt of stderr (or stdout, where nvidia-smi prints its errors). */
  readonly output: string;

  constructor(
    code: NvidiaSmiExecCode,
    args: readonly string[],
    detail: string,
    exitCode: number | null = null,
    output = '',
  ) {
    super(`nvidia-smi ${args.join(' ')}: ${code}: ${detail}`);
    this.code = code;
    this.args = args;
    this.exitCode = exitCode;
    this.output = output;
  }
}

export interface NvidiaSmiExecOptions {
  /** Path or name looked up on PATH. */
  binary?: string;
  timeoutMs?: number;
  /** Bound on stdout and on stderr, each. */
  maxBufferBytes?: number;
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_NVIDIA_SMI_TIMEOUT_MS = 10_000;
export const DEFAULT_NVIDIA_SMI_MAX_BUFFER = 4 * 1024 * 1024;
const LINGER_GRACE_MS = 500;

// What nvidia-smi prints when the driver is absent, mismatched or wedged (exit codes 9, 12, 255…).
const DRIVER_FAILURE =
  /NVIDIA-SMI has failed|couldn't communicate with the NVIDIA driver|No devices were found|Driver\/library version mismatch|Unable to determine the device handle/i;

export class NvidiaSmiRunner {
  readonly binary: string;
  readonly timeoutMs: number;
  readonly maxBufferBytes: number;
  readonly #env: NodeJS.ProcessEnv | undefined;
  /** Children killed at the timeout that have not exited yet. */
  readonly #lingering = new Set<ChildProcess>();

  constructor(opts: NvidiaSmiExecOptions = {}) {
    this.binary = opts.binary ?? 'nvidia-smi';
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_NVIDIA_SMI_TIMEOUT_MS;
    this.maxBufferBytes = opts.maxBufferBytes ?? DEFAULT_NVIDIA_SMI_MAX_BUFFER;
    this.#env = opts.env;
  }

  /** Children killed at the timeout that are still alive (a gauge worth exporting). */
  get lingering(): number {
    return this.#lingering.size;
  }

  /** Resolves with stdout; rejects with {@link NvidiaSmiExecError} only. */
  async run(args: readonly string[]): Promise<string> {
    if (this.#lingering.size > 0) {
      // A SIGKILLed child normally exits within milliseconds; one stuck in the driver does not.
      await Promise.race([
        Promise.all([...this.#lingering].map((c) => new Promise((r) => c.once('exit', r)))),
        new Promise((r) => setTimeout(r, LINGER_GRACE_MS).unref()),
      ]);
      if (this.#lingering.size > 0) {
        throw new NvidiaSmiExecError(
          'still_running',
          args,
          'a timed-out nvidia-smi has not exited yet',
        );
      }
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const child = execFile(
        this.binary,
        [...args],
        {
          encoding: 'utf8',
          maxBuffer: this.maxBufferBytes,
          windowsHide: true,
          env: this.#env,
        },
        (err, stdout, stderr) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          if (err === null) resolve(stdout);
          else reject(classify(err, args, String(stdout), String(stderr)));
        },
      );
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        if (child.exitCode === null && child.signalCode === null) {
          this.#lingering.add(child);
          child.once('exit', () => this.#lingering.delete(child));
        }
        child.kill('SIGKILL');
        // nvidia-smi does not fork, but a wrapper script might: closing our ends of the pipes
        // means a surviving grandchild cannot keep this call open.
        child.stdout?.destroy();
        child.stderr?.destroy();
        reject(
          new NvidiaSmiExecError('timeout', args, `killed after ${this.timeoutMs} ms`, null, ''),
        );
      }, this.timeoutMs);
    });
  }
}

interface ExecFailure {
  code?: unknown;
  signal?: unknown;
}

function classify(
  err: Error & ExecFailure,
  args: readonly string[],
  stdout: string,
  stderr: string,
): NvidiaSmiExecError {
  if (err.code === 'ENOENT') return new NvidiaSmiExecError('not_found', args, 'binary not found');
  if (err.code === 'EACCES') {
    return new NvidiaSmiExecError('not_found', args, 'binary not executable');
  }
  if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER' || /maxBuffer/.test(err.message)) {
    return new NvidiaSmiExecError('output_too_large', args, 'output exceeded the bound');
  }
  const exitCode = typeof err.code === 'number' ? err.code : null;
  // nvidia-smi prints most of its failures on stdout, not stderr.
  const text = `${stderr}\n${stdout}`;
  const out = excerpt(text);
  if (DRIVER_FAILURE.test(text)) {
    return new NvidiaSmiExecError(
      'driver',
      args,
      `driver error (exit ${exitCode}): ${out}`,
      exitCode,
      out,
    );
  }
  const how = exitCode === null ? `signal ${String(err.signal)}` : `exit ${exitCode}`;
  return new NvidiaSmiExecError('exit_code', args, `${how}: ${out}`, exitCode, out);
}
