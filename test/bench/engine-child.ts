// The store benchmarks run each engine in a child process of its own, under the operator image's
// V8 flags, so the RSS a child reports is that engine's alone. The child is the same script with
// BENCH_ROLE=engine; it prints its figures as the last line of its stdout.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { nodeEntrypoint } from '../support/dockerfile.ts';

export const isEngineChild = process.env.BENCH_ROLE === 'engine';
export const operatorNodeFlags = (): string[] => nodeEntrypoint('operator/Dockerfile').flags;

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

export function machine(): Record<string, unknown> {
  const cpu = os.cpus();
  return {
    cpu: cpu[0]?.model,
    cores: cpu.length,
    memGiB: round(os.totalmem() / 1024 ** 3, 1),
    kernel: os.release(),
    node: process.version,
    operatorNodeFlags: operatorNodeFlags().join(' '),
    niceness: os.getPriority(),
    loadAverage: os.loadavg().map((x) => round(x, 2)),
  };
}

const MiB = 1024 * 1024;

/**
 * The peak RSS of this process within a phase: `start` resets the kernel's high-water mark
 * (VmHWM, by writing 5 to /proc/self/clear_refs), `peakMiB` reads it. Exact, unlike sampling,
 * which misses what a synchronous statement allocates between two samples.
 */
export const phaseRss = {
  start(): void {
    writeFileSync('/proc/self/clear_refs', '5');
  },
  peakMiB(): number {
    const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kib === undefined) throw new Error('no VmHWM in /proc/self/status');
    return round((Number(kib) * 1024) / MiB, 1);
  },
};

/** Runs this script as the child for `engine` and returns the figures it printed. */
export async function runEngineChild(
  engine: string,
  extraFlags: readonly string[],
  env: Record<string, string>,
): Promise<unknown> {
  const flags = [...operatorNodeFlags(), ...extraFlags];
  const child = spawn(process.execPath, [...flags, process.argv[1] as string], {
    env: { ...process.env, ...env, BENCH_ROLE: 'engine', BENCH_ENGINE: engine },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number>((done) => child.once('exit', (c) => done(c ?? 1)));
  if (code !== 0) throw new Error(`${engine}: child exited ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}
