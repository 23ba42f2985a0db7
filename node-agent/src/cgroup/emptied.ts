// Waits for a pod's cgroup to hold no process any more. A pod that has ended still runs its
// sandbox (and, when deleted, its containers for their grace period); its last usage is in the
// pod cgroup's counters only once they have all exited, and the kubelet removes that cgroup soon
// after. The agent takes a pod's final sample in between.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export type EmptiedOutcome = 'emptied' | 'vanished' | 'timeout';

export interface EmptiedOptions {
  /** How often to look (default 20 ms). */
  readonly pollMs?: number;
  /** Give up after this long (default 30 s, a pod's usual grace period). */
  readonly timeoutMs?: number;
}

/** Processes in `dir` and every cgroup below it; undefined when `dir` is gone. */
async function processCount(dir: string): Promise<number | undefined> {
  const procs = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => undefined);
  if (procs === undefined) return undefined;
  let count = procs.split('\n').filter((l) => l.trim() !== '').length;
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const child of children) {
    if (!child.isDirectory()) continue;
    count += (await processCount(path.join(dir, child.name))) ?? 0;
  }
  return count;
}

/** Resolves once the cgroup at `dir` holds no process, is gone, or the timeout passed. */
export async function whenCgroupEmptied(
  dir: string,
  options: EmptiedOptions = {},
): Promise<EmptiedOutcome> {
  const pollMs = options.pollMs ?? 20;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const count = await processCount(dir);
    if (count === undefined) return 'vanished';
    if (count === 0) return 'emptied';
    if (Date.now() >= deadline) return 'timeout';
    await new Promise((done) => setTimeout(done, pollMs));
  }
}
