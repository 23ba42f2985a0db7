// Per-resource readers of one cgroup directory, shared by the pod and node readers. Each returns
// null and records a typed error instead of throwing, so one bad file costs one resource. They
// are synchronous and take the file reader as a parameter: kept fds for pods (see
// pseudo-file-cache.ts), plain reads for the node totals.
import { open } from 'node:fs/promises';
import type { BlockDevices } from './devices.ts';
import type { CgroupReadError, CgroupResource } from './errors.ts';
import { CgroupParseError, toReadError } from './errors.ts';
import {
  flatKeyScanner,
  parseBlkioServiceBytes,
  parseCpuStatV2,
  parseIoStat,
  parseSingleValue,
} from './parse.ts';

export interface MemoryReading {
  workingSetBytes: bigint;
  rssBytes: bigint;
}

export interface IoReading {
  readBytes: bigint;
  writeBytes: bigint;
}

/**
 * v1 blkio files in order of preference; the first that exists is used, whether or not it has
 * entries yet, so the source of a cumulative counter never flips between ticks. Throttle comes
 * first because it sees every bio whatever the I/O scheduler (bfq/CFQ stats cover only devices
 * using that scheduler). Caveat: since Linux 6.9 blk-throttle starts on a disk only once a rule
 * was set on it, so until then these files hold only `Total 0`.
 * The non-recursive last resort excludes child cgroups; it only exists alone on kernels before
 * 4.17, where CFQ's recursive file usually covers it.
 */
export const BLKIO_FILES: readonly string[] = [
  'blkio.throttle.io_service_bytes_recursive',
  'blkio.bfq.io_service_bytes_recursive',
  'blkio.io_service_bytes_recursive',
  'blkio.throttle.io_service_bytes',
];

const CHUNK = 16 * 1024;

/**
 * Reads a small pseudo-file. Cheaper than fs/promises readFile (which adds an fstat and more
 * thread-pool round trips): cgroup, proc and sysfs files fit one read, and a short read means
 * end of file for them, so the usual cost is open, one read, close.
 */
export async function readText(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await handle.read(buf, 0, CHUNK, null);
      chunks.push(buf.subarray(0, bytesRead));
      if (bytesRead < CHUNK) break;
    }
    return chunks.length === 1
      ? (chunks[0] as Buffer).toString('utf8')
      : Buffer.concat(chunks).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** `dir/name` for a normalised `dir` (as path.join makes it): these paths are built per pod and
 * tick only to name a file in errors, where path.join's normalising was a measurable cost. */
function fileIn(dir: string, name: string): string {
  return `${dir}/${name}`;
}

/** Returns the current contents of `dir/name`, throwing errno errors as they come. */
export type ReadFile = (dir: string, name: string) => string;

/** Runs one resource read; a failure becomes a typed error in `errors` and a null result. */
export function attempt<T>(
  resource: CgroupResource,
  file: string,
  errors: CgroupReadError[],
  read: () => T,
): T | null {
  try {
    return read();
  } catch (err) {
    errors.push(toReadError(resource, err instanceof CgroupParseError ? err.file : file, err));
    return null;
  }
}

/** Cumulative CPU ns from v2 `cpu.stat` (present even with the cpu controller disabled). */
export function readCpuV2(dir: string, read: ReadFile, errors: CgroupReadError[]): bigint | null {
  const file = fileIn(dir, 'cpu.stat');
  return attempt('cpu', file, errors, () => parseCpuStatV2(read(dir, 'cpu.stat'), file));
}

/** Cumulative CPU ns from v1 `cpuacct.usage` (hierarchical). */
export function readCpuV1(dir: string, read: ReadFile, errors: CgroupReadError[]): bigint | null {
  const file = fileIn(dir, 'cpuacct.usage');
  return attempt('cpu', file, errors, () => parseSingleValue(read(dir, 'cpuacct.usage'), file));
}

const MEMORY_STAT_V2 = flatKeyScanner(['inactive_file', 'anon']);
const MEMORY_STAT_V1 = flatKeyScanner(['total_inactive_file', 'total_rss']);

/** v2: working set = max(0, memory.current − inactive_file); RSS = anon. */
export function readMemoryV2(
  dir: string,
  read: ReadFile,
  errors: CgroupReadError[],
): MemoryReading | null {
  return readMemory(dir, 'memory.current', MEMORY_STAT_V2, read, errors);
}

/** v1: working set = max(0, usage_in_bytes − total_inactive_file); RSS = total_rss. */
export function readMemoryV1(
  dir: string,
  read: ReadFile,
  errors: CgroupReadError[],
): MemoryReading | null {
  return readMemory(dir, 'memory.usage_in_bytes', MEMORY_STAT_V1, read, errors);
}

function readMemory(
  dir: string,
  usageName: string,
  scanStat: ReturnType<typeof flatKeyScanner>,
  read: ReadFile,
  errors: CgroupReadError[],
): MemoryReading | null {
  const usageFile = fileIn(dir, usageName);
  const statFile = fileIn(dir, 'memory.stat');
  return attempt('memory', usageFile, errors, () => {
    const usage = parseSingleValue(read(dir, usageName), usageFile);
    const [inactiveFile, rss] = scanStat(read(dir, 'memory.stat'), statFile) as [bigint, bigint];
    return { workingSetBytes: usage > inactiveFile ? usage - inactiveFile : 0n, rssBytes: rss };
  });
}

/** v2 `io.stat`, stacked devices counted once (see devices.ts). Empty means no I/O yet. */
export function readIoV2(
  dir: string,
  devices: BlockDevices,
  read: ReadFile,
  errors: CgroupReadError[],
): IoReading | null {
  const file = fileIn(dir, 'io.stat');
  return attempt('io', file, errors, () => devices.sum(parseIoStat(read(dir, 'io.stat'), file)));
}

/** v1 blkio, first existing file of {@link BLKIO_FILES}, stacked devices counted once. */
export function readIoV1(
  dir: string,
  devices: BlockDevices,
  read: ReadFile,
  errors: CgroupReadError[],
): IoReading | null {
  return attempt('io', fileIn(dir, BLKIO_FILES[0] as string), errors, () => {
    let lastErr: unknown;
    for (const name of BLKIO_FILES) {
      let content: string;
      try {
        content = read(dir, name);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        lastErr = err;
        continue;
      }
      return devices.sum(parseBlkioServiceBytes(content, fileIn(dir, name)));
    }
    throw lastErr;
  });
}
