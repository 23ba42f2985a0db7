import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NvidiaSmiExecError, NvidiaSmiRunner } from './nvidia-smi-exec.ts';
import { QUERY_GPU_ARGS } from './parse-csv.ts';
import { FAKE_NVIDIA_SMI_BIN, pidsEnv, scenarioDir } from './test-helpers.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'nvsmi-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function runner(
  scenario: string,
  extra: Partial<ConstructorParameters<typeof NvidiaSmiRunner>[0]> = {},
): NvidiaSmiRunner {
  return new NvidiaSmiRunner({
    timeoutMs: 5_000,
    env: {
      ...process.env,
      PATH: `${FAKE_NVIDIA_SMI_BIN}:${process.env.PATH ?? ''}`,
      FAKE_NVIDIA_SMI_SCENARIO: scenarioDir(scenario),
      FAKE_NVIDIA_SMI_LOG: path.join(dir, `${scenario}.log`),
      FAKE_NVIDIA_SMI_PIDS: pidsEnv({
        podA: 11,
        ...Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`p${i}`, 100 + i])),
      }),
    },
    ...extra,
  });
}

async function failure(p: Promise<unknown>): Promise<NvidiaSmiExecError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NvidiaSmiExecError);
  return err as NvidiaSmiExecError;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('NvidiaSmiRunner', () => {
  it('runs nvidia-smi from PATH and returns stdout', async () => {
    expect(await runner('t4-single').run(QUERY_GPU_ARGS)).toMatch(
      /^0, GPU-5e2b7f0c-.*Tesla T4, 35,/,
    );
  });

  it('reports a missing binary as not_found', async () => {
    const err = await failure(
      runner('t4-single', { binary: path.join(dir, 'no-such-nvidia-smi') }).run(['-L']),
    );
    expect(err.code).toBe('not_found');
  });

  it('reports the driver failure message as driver, with its exit code', async () => {
    const err = await failure(runner('driver-error').run(['-L']));
    expect(err.code).toBe('driver');
    expect(err.exitCode).toBe(9);
    expect(err.output).toMatch(/couldn't communicate with the NVIDIA driver/);
  });

  it('reports other failures as exit_code with an output excerpt', async () => {
    const err = await failure(
      runner('t4-single').run(['--query-gpu=bogus', '--format=csv,noheader,nounits']),
    );
    expect(err.code).toBe('exit_code');
    expect(err.output).toMatch(/not a valid field/);
  });

  it('bounds the output', async () => {
    // -q -x of eight GPUs is about 90 KB.
    const err = await failure(runner('8x-a100', { maxBufferBytes: 4096 }).run(['-q', '-x']));
    expect(err.code).toBe('output_too_large');
  });

  it('kills a hung nvidia-smi at the timeout', async () => {
    // Long enough for the stand-in (a Node script) to start and log its PID on a loaded machine.
    const r = runner('hang', { timeoutMs: 1_500 });
    const started = Date.now();
    const err = await failure(r.run(['-L']));
    expect(err.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(4_000);
    const [line] = (await readFile(path.join(dir, 'hang.log'), 'utf8')).trim().split('\n');
    const pid = Number(line?.split(' ')[0]);
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((res) => setTimeout(res, 20));
    expect(alive(pid)).toBe(false);
    expect(r.lingering).toBe(0);
  });
});
