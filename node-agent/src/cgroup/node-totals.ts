// Node-level totals for the same resources as the pods, so non-pod usage = node − Σ pods.
// They come from the root cgroup of the hierarchy the pods were found in, so units and
// accounting match the pod files exactly and every pod is a subset of the root.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BlockDevices } from './devices.ts';
import type { CgroupReadError } from './errors.ts';
import { controllerMissing } from './errors.ts';
import type { Hierarchy } from './kubepods.ts';
import type { CgroupLayout } from './layout.ts';
import { parseMeminfo, requireKey } from './parse.ts';
import type { IoReading, MemoryReading, ReadFile } from './resources.ts';
import { attempt, readCpuV1, readCpuV2, readIoV1, readIoV2, readMemoryV1 } from './resources.ts';

export interface NodeTotalsOptions {
  procRoot: string;
  devices: BlockDevices;
}

/** Same units and null semantics as {@link PodCounters}. */
export interface NodeCounters {
  cpuNs: bigint | null;
  memoryWorkingSetBytes: bigint | null;
  memoryRssBytes: bigint | null;
  ioReadBytes: bigint | null;
  ioWriteBytes: bigint | null;
}

export async function readNodeTotals(
  layout: CgroupLayout,
  hierarchy: Hierarchy,
  opts: NodeTotalsOptions,
): Promise<{ counters: NodeCounters; errors: CgroupReadError[] }> {
  const errors: CgroupReadError[] = [];
  let cpuNs: bigint | null;
  let mem: MemoryReading | null;
  let ioBytes: IoReading | null;
  if (hierarchy === 'v2') {
    const root = layout.v2Root;
    if (root === undefined)
      errors.push(controllerMissing('cpu', 'cgroup2'), controllerMissing('io', 'cgroup2'));
    cpuNs = root === undefined ? null : readCpuV2(root, readOnce, errors);
    // The v2 root has no memory.current; meminfo is the kernel's own whole-machine view.
    mem = readMeminfo(opts.procRoot, errors);
    // The kernel fills the root io.stat from the disks' own statistics.
    ioBytes = root === undefined ? null : readIoV2(root, opts.devices, readOnce, errors);
  } else {
    const { cpuacct, memory, blkio } = layout.v1;
    if (cpuacct === undefined) errors.push(controllerMissing('cpu', 'cpuacct'));
    if (memory === undefined) errors.push(controllerMissing('memory', 'memory'));
    if (blkio === undefined) errors.push(controllerMissing('io', 'blkio'));
    cpuNs = cpuacct === undefined ? null : readCpuV1(cpuacct, readOnce, errors);
    mem = memory === undefined ? null : readMemoryV1(memory, readOnce, errors);
    ioBytes = blkio === undefined ? null : readIoV1(blkio, opts.devices, readOnce, errors);
  }
  return {
    counters: {
      cpuNs,
      memoryWorkingSetBytes: mem?.workingSetBytes ?? null,
      memoryRssBytes: mem?.rssBytes ?? null,
      ioReadBytes: ioBytes?.readBytes ?? null,
      ioWriteBytes: ioBytes?.writeBytes ?? null,
    },
    errors,
  };
}

/** Once per tick, one node: kept fds would save little here. Synchronous like the pod reads
 * (kernel pseudo-files never wait on a disk). */
const readOnce: ReadFile = (dir, name) => readFileSync(path.join(dir, name), 'latin1');

/** Working set = MemTotal − MemFree − Inactive(file), as the kubelet computes node memory on
 * v2; RSS = AnonPages. */
function readMeminfo(procRoot: string, errors: CgroupReadError[]): MemoryReading | null {
  const file = path.join(procRoot, 'meminfo');
  return attempt('memory', file, errors, () => {
    const m = parseMeminfo(readOnce(procRoot, 'meminfo'), file);
    const used = requireKey(m, 'MemTotal', file) - requireKey(m, 'MemFree', file);
    const inactive = requireKey(m, 'Inactive(file)', file);
    return {
      workingSetBytes: used > inactive ? used - inactive : 0n,
      rssBytes: requireKey(m, 'AnonPages', file),
    };
  });
}
