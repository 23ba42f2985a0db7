import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BlockDevices } from './devices.ts';
import { classifyError } from './errors.ts';
import type { PodCgroup } from './kubepods.ts';
import type { CgroupLayout } from './layout.ts';
import { PseudoFileCache } from './pseudo-file-cache.ts';
import { createPodCounterReader } from './reader.ts';
import { hostCgroupV1 } from '../../../test/support/host-cgroup-v1.ts';

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'am-fdcache-'));
  temps.push(dir);
  return dir;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

function errno(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
}

describe('PseudoFileCache', () => {
  it('re-reads kept fds from offset 0 and sees new contents', async () => {
    const dir = await tempDir();
    await writeFile(`${dir}/a`, '1\n');
    const cache = new PseudoFileCache();
    expect(cache.read('pod', dir, 'a')).toBe('1\n');
    await writeFile(`${dir}/a`, '22\n');
    expect(cache.read('pod', dir, 'a')).toBe('22\n');
    expect(cache.openFiles).toBe(1);
    cache.close();
    expect(cache.openFiles).toBe(0);
  });

  it('readKept reads only through a kept fd, never opening the path again', async () => {
    const dir = await tempDir();
    await writeFile(`${dir}/dev`, 'first\n');
    const cache = new PseudoFileCache();
    expect(cache.readKept('pod', dir, 'dev')).toBeUndefined();
    expect(cache.openFiles).toBe(0);
    expect(cache.read('pod', dir, 'dev')).toBe('first\n');
    // The path now names another file (as a recycled PID's /proc entry would): the kept fd
    // still reads the one it was opened on.
    await rm(`${dir}/dev`);
    await writeFile(`${dir}/dev`, 'other\n');
    expect(cache.readKept('pod', dir, 'dev')).toBe('first\n');
    cache.release('pod');
    expect(cache.readKept('pod', dir, 'dev')).toBeUndefined();
    expect(cache.openFiles).toBe(0);
  });

  it('grows its buffer for a file larger than it, returning the whole file', async () => {
    const dir = await tempDir();
    const big = `${'pgfault 1\n'.repeat(10_000)}total_rss 42\n`;
    await writeFile(`${dir}/memory.stat`, big);
    const cache = new PseudoFileCache();
    expect(cache.read('pod', dir, 'memory.stat')).toBe(big);
    expect(cache.read('pod', dir, 'memory.stat')).toBe(big);
    cache.close();
  });

  it('missing file: ENOENT on open, classified as missing, nothing kept', async () => {
    const dir = await tempDir();
    const cache = new PseudoFileCache();
    const code = errno(() => cache.read('pod', dir, 'nope'));
    expect(code).toBe('ENOENT');
    expect(classifyError(Object.assign(new Error(), { code }))).toBe('missing');
    expect(cache.openFiles).toBe(0);
  });

  it('keeps at most maxOpenFiles fds and reads the rest uncached', async () => {
    const dir = await tempDir();
    for (const n of ['a', 'b', 'c', 'd']) await writeFile(`${dir}/${n}`, n);
    const cache = new PseudoFileCache({ maxOpenFiles: 2 });
    const before = openFds();
    for (let tick = 0; tick < 3; tick++) {
      for (const n of ['a', 'b', 'c', 'd']) expect(cache.read(`pod-${n}`, dir, n)).toBe(n);
    }
    expect(cache.openFiles).toBe(2);
    expect(openFds() - before).toBe(2);
    cache.close();
    expect(openFds()).toBe(before);
  });

  it('release closes an owner; closeUnused closes what a pass did not read', async () => {
    const dir = await tempDir();
    await mkdir(`${dir}/c1`);
    await mkdir(`${dir}/c2`);
    for (const f of ['x', 'c1/procs', 'c2/procs']) await writeFile(`${dir}/${f}`, f);
    const cache = new PseudoFileCache();
    cache.read('p', dir, 'x');
    cache.read('p', `${dir}/c1`, 'procs');
    cache.read('p', `${dir}/c2`, 'procs');
    cache.read('q', dir, 'x');
    expect(cache.openFiles).toBe(4);
    const pass = cache.beginPass();
    cache.read('p', dir, 'x');
    cache.read('p', `${dir}/c2`, 'procs');
    cache.closeUnused('p', pass);
    expect(cache.openFiles).toBe(3);
    cache.release('p');
    expect(cache.openFiles).toBe(1);
    cache.release('q');
    expect(cache.openFiles).toBe(0);
  });

  it('captures the directory inode with the first kept fd', async () => {
    const dir = await tempDir();
    await writeFile(`${dir}/a`, 'a');
    const cache = new PseudoFileCache();
    cache.read('pod', dir, 'a');
    const ino = cache.inode('pod', dir);
    expect(ino).toBe(statSync(dir, { bigint: true }).ino);
    cache.close();
  });
});

describe('PseudoFileCache on real cgroup v1', () => {
  const prefix = `agentmeter-unit-${randomBytes(4).toString('hex')}`;
  const created: string[] = [];
  let l: CgroupLayout;
  let cpuacct: string;
  beforeAll(async () => {
    l = await hostCgroupV1('create and remove cgroups');
    cpuacct = l.v1.cpuacct as string;
  });
  afterEach(async () => {
    for (const d of created.splice(0).reverse()) await rmdir(d).catch(() => undefined);
  });

  it('a removed cgroup reads as ENODEV once, then missing; a recreated one is picked up', async () => {
    const dir = path.join(cpuacct, prefix);
    await mkdir(dir);
    created.push(dir);
    const cache = new PseudoFileCache();
    expect(cache.read('pod', dir, 'cpuacct.usage')).toBe('0\n');
    const ino = cache.inode('pod', dir);
    await rmdir(dir);
    // The kept fd fails with ENODEV; the cache drops it and the fresh open finds nothing.
    expect(errno(() => cache.read('pod', dir, 'cpuacct.usage'))).toBe('ENOENT');
    expect(cache.openFiles).toBe(0);
    expect(errno(() => cache.inode('pod', dir))).toBe('ENOENT');
    await mkdir(dir);
    expect(cache.read('pod', dir, 'cpuacct.usage')).toBe('0\n');
    expect(cache.inode('pod', dir)).not.toBe(ino);
    cache.close();
  });

  it('reader: removal gives missing errors, recreation a new identity, release closes fds', async () => {
    const mounts = [
      ...new Set([l.v1.cpuacct, l.v1.cpu, l.v1.memory, l.v1.blkio].filter((m) => m)),
    ] as string[];
    const uid = randomUUID();
    const podRel = `${prefix}/kubepods/burstable/pod${uid}`;
    const create = async (): Promise<void> => {
      for (const m of mounts) {
        for (const rel of [prefix, `${prefix}/kubepods`, `${prefix}/kubepods/burstable`, podRel]) {
          const d = path.join(m, rel);
          await mkdir(d).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'EEXIST') throw err;
          });
          if (!created.includes(d)) created.push(d);
        }
      }
    };
    await create();
    const pod: PodCgroup = {
      uid,
      qos: 'Burstable',
      driver: 'cgroupfs',
      hierarchy: 'v1',
      relPath: podRel,
      containers: [],
    };
    const before = openFds();
    const reader = createPodCounterReader(l, {
      procRoot: '/proc',
      devices: new BlockDevices({ sysRoot: '/sys' }),
      hostNetNs: null,
    });
    const first = reader.read(pod);
    expect(first.errors).toEqual([]);
    expect(first.counters).toMatchObject({ cpuNs: 0n, netSkipped: 'no-process' });
    expect(reader.read(pod).counters.identity).toBe(first.counters.identity);
    expect(openFds()).toBeGreaterThan(before);

    for (const m of mounts) await rmdir(path.join(m, podRel));
    const gone = reader.read(pod);
    expect(gone.counters).toMatchObject({
      cpuNs: null,
      memoryWorkingSetBytes: null,
      identity: null,
    });
    expect(new Set(gone.errors.map((e) => e.code))).toEqual(new Set(['missing']));
    expect(new Set(gone.errors.map((e) => e.resource))).toEqual(
      new Set(['cpu', 'memory', 'io', 'pids', 'identity']),
    );

    await create();
    const recreated = reader.read(pod);
    expect(recreated.errors).toEqual([]);
    expect(recreated.counters.identity).not.toBeNull();
    expect(recreated.counters.identity).not.toBe(first.counters.identity);

    reader.release(uid);
    expect(openFds()).toBe(before);
    reader.close();
  });
});
