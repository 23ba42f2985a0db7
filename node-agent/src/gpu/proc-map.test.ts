import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcPodMap } from './proc-map.ts';
import { writeFakeProc } from './test-helpers.ts';

const POD_A = '2c9f8a79-5391-454b-88cb-86190881cb96';
const POD_B = '7922aa99-d4aa-4885-a953-82976860b23a';

describe('ProcPodMap', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'proc-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('maps PIDs to pods, host processes to null and omits exited ones', async () => {
    await writeFakeProc(root, 100, 5000n, POD_A);
    await writeFakeProc(root, 101, 5001n, null);
    const map = new ProcPodMap({ procRoot: root });
    const r = await map.resolve([100, 101, 102]);
    expect([...r.pods].sort(([a], [b]) => a - b)).toEqual([
      [100, POD_A],
      [101, null],
    ]);
    expect(r.errors).toEqual([]);
  });

  it('serves a known (pid, starttime) from the cache and re-resolves a reused PID', async () => {
    await writeFakeProc(root, 4242, 7000n, POD_A);
    const map = new ProcPodMap({ procRoot: root });
    expect((await map.resolve([4242])).pods.get(4242)).toBe(POD_A);
    expect((await map.resolve([4242])).pods.get(4242)).toBe(POD_A);
    expect(map.stats).toEqual({ hits: 1, misses: 1 });

    // The process exits and the kernel hands PID 4242 to a process of another pod.
    await rm(path.join(root, '4242'), { recursive: true });
    await writeFakeProc(root, 4242, 9100n, POD_B);
    expect((await map.resolve([4242])).pods.get(4242)).toBe(POD_B);
    expect(map.stats).toEqual({ hits: 1, misses: 2 });
  });

  it('evicts PIDs no longer reported', async () => {
    await writeFakeProc(root, 7, 1n, POD_A);
    const map = new ProcPodMap({ procRoot: root });
    await map.resolve([7]);
    await map.resolve([]);
    await map.resolve([7]);
    expect(map.stats).toEqual({ hits: 0, misses: 2 });
  });

  it('reports unreadable or garbled files', async () => {
    await writeFakeProc(root, 9, 1n, POD_A);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(root, '9', 'stat'), 'garbage');
    const r = await new ProcPodMap({ procRoot: root }).resolve([9]);
    expect(r.pods.size).toBe(0);
    expect(r.errors[0]).toMatch(/pid 9/);
  });
});
