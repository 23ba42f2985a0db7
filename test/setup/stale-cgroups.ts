// Vitest global setup: removes the cgroups of earlier test runs that were killed before their
// own cleanup ran (a signal, a CI timeout). Only names from testCgroupPrefix() whose pid is gone
// are touched, so runs in other checkouts that are still going keep theirs.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CGROUP_ROOT, removeTree } from '../support/cgroups.ts';

const STALE = /^agentmeter-[a-z0-9-]+-p(\d+)-[0-9a-f]+$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
}

/** Removes every stale test cgroup under `root`; returns the directories removed. */
export async function sweepStaleCgroups(root = CGROUP_ROOT): Promise<string[]> {
  const removed: string[] = [];
  for (const hierarchy of await subdirs(root)) {
    for (const dir of await subdirs(hierarchy)) {
      const pid = STALE.exec(dir.slice(hierarchy.length + 1))?.[1];
      if (pid === undefined || alive(Number(pid))) continue;
      await removeTree(dir);
      removed.push(dir);
    }
  }
  return removed;
}

export async function setup(): Promise<void> {
  for (const dir of await sweepStaleCgroups()) {
    process.stderr.write(`${JSON.stringify({ msg: 'removed a killed test run’s cgroup', dir })}\n`);
  }
}
