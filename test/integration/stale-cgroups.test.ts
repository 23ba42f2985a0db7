// The sweep of killed runs' cgroups (test/setup/stale-cgroups.ts) on the host's real cgroup v1
// `pids` controller: a name whose pid is gone goes, with the process left in it; a live run's stays.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CGROUP_ROOT, testCgroupPrefix } from '../support/cgroups.ts';
import { sweepStaleCgroups } from '../setup/stale-cgroups.ts';

const PIDS = join(CGROUP_ROOT, 'pids');

async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid as number;
}

describe('the sweep of killed test runs’ cgroups', () => {
  const live = join(PIDS, testCgroupPrefix('sweep'));

  afterAll(async () => {
    await rmdir(live).catch(() => undefined);
  });

  it('removes a dead run’s tree and the process in it, and keeps a live run’s', async () => {
    const stale = join(PIDS, `agentmeter-sweep-p${await deadPid()}-0a1b2c`);
    const leaf = join(stale, 'kubepods', 'burstable', 'pod1');
    await mkdir(leaf, { recursive: true });
    await mkdir(live);
    const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    const exited = new Promise((r) => sleeper.once('exit', r));
    await writeFile(join(leaf, 'cgroup.procs'), `${sleeper.pid}\n`);
    try {
      const removed = await sweepStaleCgroups();
      expect(removed).toContain(stale);
      expect(removed).not.toContain(live);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
      await exited;
      expect(sleeper.signalCode).toBe('SIGKILL');
    } finally {
      sleeper.kill('SIGKILL');
      // Only if the sweep failed: the tree, deepest first.
      for (const dir of [leaf, join(leaf, '..'), join(leaf, '../..'), stale])
        await rmdir(dir).catch(() => undefined);
    }
  });
});
