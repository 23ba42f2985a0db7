import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { whenCgroupEmptied } from './emptied.ts';

describe('whenCgroupEmptied', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  /** A pod cgroup as cgroupfs shows it: its own cgroup.procs and one per container. */
  async function pod(containers: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'emptied-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'cgroup.procs'), '');
    for (const [name, procs] of Object.entries(containers)) {
      await mkdir(path.join(dir, name));
      await writeFile(path.join(dir, name, 'cgroup.procs'), procs);
    }
    return dir;
  }

  it('waits while a container (the sandbox) still has a process, then says emptied', async () => {
    const dir = await pod({ pause: '41\n', work: '' });
    const outcome = whenCgroupEmptied(dir, { pollMs: 5, timeoutMs: 5_000 });
    let settled = false;
    void outcome.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    await writeFile(path.join(dir, 'pause', 'cgroup.procs'), '');
    await expect(outcome).resolves.toBe('emptied');
  });

  it('says vanished when the kubelet removed the cgroup first', async () => {
    const dir = await pod({ pause: '41\n' });
    const outcome = whenCgroupEmptied(dir, { pollMs: 5, timeoutMs: 5_000 });
    await rm(dir, { recursive: true });
    await expect(outcome).resolves.toBe('vanished');
  });

  it('gives up after its timeout while processes remain', async () => {
    const dir = await pod({ work: '7\n8\n' });
    await expect(whenCgroupEmptied(dir, { pollMs: 5, timeoutMs: 30 })).resolves.toBe('timeout');
  });
});
