// Pod-level cumulative counters. Everything is read at the pod cgroup, which includes pause,
// init and exited containers, CRI-O conmon and short-lived subprocesses (children's usage is
// charged to ancestors and stays there after the child is removed).
//
// The per-tick reader keeps every file open between ticks (pseudo-file-cache.ts) and reads
// synchronously. Per pod and tick it reads cpuacct.usage, memory.usage_in_bytes, memory.stat,
// one blkio file (v2: cpu.stat, memory.current, memory.stat, io.stat), cgroup.procs of the pod
// and of each container, and net/dev of one cached container process.
import { readlinkSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import path from 'node:path';
import type { BlockDevices } from './devices.ts';
import type { CgroupReadError } from './errors.ts';
import { controllerMissing, toReadError } from './errors.ts';
import type { PodCgroup } from './kubepods.ts';
import type { CgroupLayout } from './layout.ts';
import { parseCgroupProcs, parseNetDev } from './parse.ts';
import type { PseudoFileCacheOptions } from './pseudo-file-cache.ts';
import { PseudoFileCache } from './pseudo-file-cache.ts';
import type { IoReading, MemoryReading, ReadFile } from './resources.ts';
import {
  attempt,
  readCpuV1,
  readCpuV2,
  readIoV1,
  readIoV2,
  readMemoryV1,
  readMemoryV2,
} from './resources.ts';

export interface ReadOptions {
  /** `/proc` of the host PID namespace (`/host/proc` with hostPID). */
  procRoot: string;
  devices: BlockDevices;
  /** Link text of the host's network namespace (`net:[4026531993]`, see {@link readNetNs}),
   * so host-network pods are not charged the node's NIC traffic. null when unknown: the pod's
   * netns is then still reported in `netNs` for the caller to compare. */
  hostNetNs: string | null;
}

export type NetSkipReason = 'host-network' | 'no-process';

/**
 * Cumulative counters of one pod. A null counter was not read this time (the reason is in the
 * accompanying errors, or `netSkipped`): it must not be treated as zero, which would look like a
 * counter reset and double count on the next tick.
 */
export interface PodCounters {
  cpuNs: bigint | null;
  memoryWorkingSetBytes: bigint | null;
  memoryRssBytes: bigint | null;
  ioReadBytes: bigint | null;
  ioWriteBytes: bigint | null;
  /** Sum over the pod netns' interfaces except `lo`. */
  netRxBytes: bigint | null;
  netTxBytes: bigint | null;
  /** Why net counters are null without an error. */
  netSkipped?: NetSkipReason;
  /** Network namespace the net counters came from; the counters reset when it changes. */
  netNs: string | null;
  /** Inodes of the pod cgroup directories (one per v1 controller read, or the v2 cgroup id);
   * a change means the cgroup was recreated and counters restarted from zero. null when any of
   * them could not be read. */
  identity: string | null;
  /** The container process the net counters were read through; null when none was found. */
  netPid: number | null;
}

export interface PodReadResult {
  counters: PodCounters;
  errors: CgroupReadError[];
}

export interface PodCounterReaderOptions extends ReadOptions, PseudoFileCacheOptions {
  /** Reads of a pod between checks that its kept net process still names the namespace of the
   * kept net/dev fd (default {@link NET_CHECK_EVERY}); 1 checks on every read. */
  netCheckEvery?: number;
}

/**
 * A kept net/dev fd reads the namespace it was opened in for as long as it stays open, whatever
 * becomes of its process, so the process's netns link is checked only every few reads: it tells
 * when the pod moved to a new namespace (its sandbox was recreated). A new namespace's counters
 * start from zero and are counted whole once found (an identity reset), so checking late moves
 * that traffic to a later tick and loses none of it. One readlink per pod and tick was ~15% of the
 * reader's CPU (test/bench/cgroup-read.ts).
 */
export const NET_CHECK_EVERY = 6;

/** Reads pods tick after tick, keeping their files open in between. */
export interface PodCounterReader {
  /** Cumulative counters of one pod; never throws. */
  read(pod: PodCgroup): PodReadResult;
  /** Closes the files of a pod that disappeared; reading it again starts afresh. */
  release(uid: string): void;
  /** Closes every file. */
  close(): void;
}

interface PodState {
  uid: string;
  read: ReadFile;
  /** Reads through a kept fd only, see PseudoFileCache.readKept. */
  readKept: (dir: string, name: string) => string | undefined;
  /** Container process whose network namespace the net counters come from, and the reads
   * since its netns link was last checked. */
  net: { pid: number; netNs: string; unchecked: number } | null;
  /** Controller directories, fixed for a pod's path; only kept when none was missing, so a
   * missing controller is reported on every read. */
  dirs: Dirs | null;
}

export function createPodCounterReader(
  layout: CgroupLayout,
  opts: PodCounterReaderOptions,
): PodCounterReader {
  const cache = new PseudoFileCache(opts);
  const netCheckEvery = opts.netCheckEvery ?? NET_CHECK_EVERY;
  // By hierarchy and path rather than UID: kind nodes sharing a host can show one UID twice.
  const pods = new Map<string, PodState>();
  return {
    read(pod) {
      const key = `${pod.hierarchy}:${pod.relPath}`;
      let state = pods.get(key);
      if (state === undefined) {
        state = {
          uid: pod.uid,
          read: (dir, name) => cache.read(key, dir, name),
          readKept: (dir, name) => cache.readKept(key, dir, name),
          net: null,
          dirs: null,
        };
        pods.set(key, state);
      }
      const pass = cache.beginPass();
      const errors: CgroupReadError[] = [];
      const { read } = state;
      let dirs = state.dirs;
      if (dirs === null) {
        const before = errors.length;
        dirs = controllerDirs(layout, pod, errors);
        if (errors.length === before) state.dirs = dirs;
      }
      const v2 = pod.hierarchy === 'v2';
      const cpuNs =
        dirs.cpu === undefined ? null : (v2 ? readCpuV2 : readCpuV1)(dirs.cpu, read, errors);
      const memory =
        dirs.memory === undefined
          ? null
          : (v2 ? readMemoryV2 : readMemoryV1)(dirs.memory, read, errors);
      const io =
        dirs.io === undefined
          ? null
          : (v2 ? readIoV2 : readIoV1)(dirs.io, opts.devices, read, errors);
      const { procsBase, procsDir } = dirs;
      const netPids = (): number[] =>
        procsBase === undefined || procsDir === undefined
          ? []
          : readNetPids(procsBase, procsDir, pod, read, errors);
      const net = readNet(state, netPids, opts, netCheckEvery, errors);
      // After the reads, so the inodes are the ones captured with the fds just read.
      const identity = readIdentity(cache, key, dirs.identity, errors);
      cache.closeUnused(key, pass);
      return { counters: assemble(cpuNs, memory, io, net, identity), errors };
    },
    release(uid) {
      for (const [key, state] of pods) {
        if (state.uid !== uid) continue;
        cache.release(key);
        pods.delete(key);
      }
    },
    close() {
      cache.close();
      pods.clear();
    },
  };
}

/** One-shot read of one pod (opens, reads and closes its files); per-tick callers should keep
 * a {@link createPodCounterReader}. */
export async function readPodCounters(
  layout: CgroupLayout,
  pod: PodCgroup,
  opts: ReadOptions,
): Promise<PodReadResult> {
  const reader = createPodCounterReader(layout, opts);
  try {
    return reader.read(pod);
  } finally {
    reader.close();
  }
}

/** Link text of `<procRoot>/<pid>/ns/net`, e.g. `net:[4026531993]`; for the host use pid 1. */
export function readNetNs(procRoot: string, pid: number | 'self'): Promise<string> {
  return readlink(path.join(procRoot, String(pid), 'ns', 'net'));
}

interface Dirs {
  cpu?: string;
  memory?: string;
  io?: string;
  /** Hierarchy root used to list cgroup.procs of the pod and its containers. */
  procsBase?: string;
  /** The pod's directory under procsBase. */
  procsDir?: string;
  identity: string[];
}

function controllerDirs(layout: CgroupLayout, pod: PodCgroup, errors: CgroupReadError[]): Dirs {
  if (pod.hierarchy === 'v2') {
    if (layout.v2Root === undefined) {
      for (const r of ['cpu', 'memory', 'io'] as const)
        errors.push(controllerMissing(r, 'cgroup2'));
      return { identity: [] };
    }
    const dir = path.join(layout.v2Root, pod.relPath);
    return {
      cpu: dir,
      memory: dir,
      io: dir,
      procsBase: layout.v2Root,
      procsDir: dir,
      identity: [dir],
    };
  }
  const at = (root: string | undefined): string | undefined =>
    root === undefined ? undefined : path.join(root, pod.relPath);
  const dirs: Dirs = {
    cpu: at(layout.v1.cpuacct),
    memory: at(layout.v1.memory),
    io: at(layout.v1.blkio),
    procsBase: layout.v1.cpuacct ?? layout.v1.cpu ?? layout.v1.memory ?? layout.v1.pids,
    identity: [],
  };
  if (dirs.procsBase !== undefined) dirs.procsDir = path.join(dirs.procsBase, pod.relPath);
  if (dirs.cpu === undefined) errors.push(controllerMissing('cpu', 'cpuacct'));
  if (dirs.memory === undefined) errors.push(controllerMissing('memory', 'memory'));
  if (dirs.io === undefined) errors.push(controllerMissing('io', 'blkio'));
  // cpu and cpuacct may be one mount; identity lists each distinct directory once.
  dirs.identity = [...new Set([dirs.cpu, dirs.memory, dirs.io].filter((d) => d !== undefined))];
  return dirs;
}

function readIdentity(
  cache: PseudoFileCache,
  owner: string,
  dirs: string[],
  errors: CgroupReadError[],
): string | null {
  if (dirs.length === 0) return null;
  let complete = true;
  const inodes = dirs.map((d) => {
    const ino = attempt('identity', d, errors, () => cache.inode(owner, d));
    if (ino === null) complete = false;
    return ino;
  });
  return complete ? inodes.join('/') : null;
}

/**
 * PIDs whose network namespace is the pod's: container processes first, then those of
 * unrecognised children; not conmon (host netns), nor the pod cgroup's own processes (conmon
 * again, with cgroupfs and conmon_cgroup=pod). The pod cgroup's list is still read, so a bad
 * file there is reported.
 */
function readNetPids(
  base: string,
  podDir: string,
  pod: PodCgroup,
  read: ReadFile,
  errors: CgroupReadError[],
): number[] {
  const podFile = podDir + '/' + PROCS_FILE;
  try {
    parseCgroupProcs(read(podDir, PROCS_FILE), podFile, []);
  } catch (err) {
    errors.push(toReadError('pids', podFile, err));
  }
  const net: number[] = [];
  let others: number[] | undefined;
  for (const c of pod.containers) {
    if (c.kind === 'conmon') continue;
    readContainerPids(
      base,
      c.relPath,
      read,
      errors,
      c.kind === 'container' ? net : (others ??= []),
    );
  }
  if (others !== undefined) net.push(...others);
  return net;
}

const PROCS_FILE = 'cgroup.procs';

/** A container cgroup removed since discovery is a race, not a fault: skipped quietly. */
function readContainerPids(
  base: string,
  relPath: string,
  read: ReadFile,
  errors: CgroupReadError[],
  into: number[],
): void {
  // Joined by hand: a per-tick path.join per container is a measurable share of a tick.
  const dir = base + '/' + relPath;
  const file = dir + '/' + PROCS_FILE;
  const from = into.length;
  try {
    parseCgroupProcs(read(dir, PROCS_FILE), file, into);
  } catch (err) {
    // A bad file contributes no PIDs, not the ones before the bad line.
    into.length = from;
    const e = toReadError('pids', file, err);
    if (e.code !== 'missing') errors.push(e);
  }
}

interface NetReading {
  rxBytes: bigint | null;
  txBytes: bigint | null;
  netNs: string | null;
  skipped?: NetSkipReason;
  pid: number | null;
}

/**
 * Network counters are per namespace, shared by all containers of a pod, so one live PID is
 * enough, and its net/dev stays open (a kept net/dev fd returns fresh counters on every read).
 * Every {@link NET_CHECK_EVERY}th read, the PID is kept only if /proc/<pid>/ns/net still names
 * the namespace it had: that link, not the fd, proves the process alive (a kept net/dev fd goes
 * on showing its namespace after the process exited), and a recycled PID in another pod or on
 * the host shows another namespace, while any process in this one reads the same counters. Only
 * when the kept PID fails are the cgroup.procs lists read again. PIDs that exit between listing
 * and reading are skipped.
 */
function readNet(
  state: PodState,
  listPids: () => number[],
  opts: ReadOptions,
  checkEvery: number,
  errors: CgroupReadError[],
): NetReading {
  const kept = state.net;
  state.net = null;
  if (kept !== null) {
    if (kept.unchecked + 1 < checkEvery) {
      const reading = readNetKept(state, kept, opts, errors);
      if (reading !== undefined) return reading;
    }
    const reading = readNetThrough(state, kept.pid, kept.netNs, opts, errors);
    if (reading !== undefined) return reading;
  }
  // A process in the host namespace is the pod's only if every one is (a host-network pod): an
  // exec's runc init can sit in the container's cgroup before it joins the pod's namespaces.
  let host: NetReading | undefined;
  let hostNet: PodState['net'] = null;
  for (const pid of listPids()) {
    if (pid === kept?.pid) continue;
    const reading = readNetThrough(state, pid, undefined, opts, errors);
    if (reading === undefined) continue;
    if (reading.skipped !== 'host-network') return reading;
    host ??= reading;
    hostNet ??= state.net;
    state.net = null;
  }
  state.net = hostNet;
  return host ?? { rxBytes: null, txBytes: null, netNs: null, skipped: 'no-process', pid: null };
}

/** Between checks: the kept namespace through the kept fd, without reading the link; undefined
 * when that fd is gone, so the caller checks the process. */
function readNetKept(
  state: PodState,
  kept: NonNullable<PodState['net']>,
  opts: ReadOptions,
  errors: CgroupReadError[],
): NetReading | undefined {
  const { pid, netNs } = kept;
  const next = { pid, netNs, unchecked: kept.unchecked + 1 };
  if (netNs === opts.hostNetNs) {
    state.net = next;
    return { rxBytes: null, txBytes: null, netNs, skipped: 'host-network', pid };
  }
  const dir = opts.procRoot + '/' + String(pid) + '/net';
  const content = state.readKept(dir, 'dev');
  if (content === undefined) return undefined;
  state.net = next;
  return netTotals(content, dir + '/dev', netNs, pid, errors);
}

/** The pod's net counters through `pid`; undefined when that process is gone, or is no longer
 * in `expectedNetNs`, so the caller tries another. */
function readNetThrough(
  state: PodState,
  pid: number,
  expectedNetNs: string | undefined,
  opts: ReadOptions,
  errors: CgroupReadError[],
): NetReading | undefined {
  const procDir = opts.procRoot + '/' + String(pid);
  const nsLink = procDir + '/ns/net';
  let netNs: string;
  try {
    netNs = readlinkSync(nsLink);
  } catch (err) {
    const e = toReadError('net', nsLink, err);
    if (e.code === 'missing') return undefined;
    errors.push(e);
    return { rxBytes: null, txBytes: null, netNs: null, pid: null };
  }
  if (expectedNetNs !== undefined && netNs !== expectedNetNs) return undefined;
  if (netNs === opts.hostNetNs) {
    state.net = { pid, netNs, unchecked: 0 };
    return { rxBytes: null, txBytes: null, netNs, skipped: 'host-network', pid };
  }
  const dir = procDir + '/net';
  const file = dir + '/dev';
  let content: string;
  try {
    content = state.read(dir, 'dev');
  } catch (err) {
    const e = toReadError('net', file, err);
    if (e.code === 'missing') return undefined;
    errors.push(e);
    return { rxBytes: null, txBytes: null, netNs, pid };
  }
  state.net = { pid, netNs, unchecked: 0 };
  return netTotals(content, file, netNs, pid, errors);
}

/** Sum over the interfaces of one net/dev (parseNetDev leaves out `lo`). */
function netTotals(
  content: string,
  file: string,
  netNs: string,
  pid: number,
  errors: CgroupReadError[],
): NetReading {
  const ifaces = attempt('net', file, errors, () => parseNetDev(content, file));
  if (ifaces === null) return { rxBytes: null, txBytes: null, netNs, pid };
  let rxBytes = 0n;
  let txBytes = 0n;
  for (const i of ifaces) {
    rxBytes += i.rxBytes;
    txBytes += i.txBytes;
  }
  return { rxBytes, txBytes, netNs, pid };
}

function assemble(
  cpuNs: bigint | null,
  memory: MemoryReading | null,
  io: IoReading | null,
  net: NetReading,
  identity: string | null,
): PodCounters {
  const counters: PodCounters = {
    cpuNs,
    memoryWorkingSetBytes: memory?.workingSetBytes ?? null,
    memoryRssBytes: memory?.rssBytes ?? null,
    ioReadBytes: io?.readBytes ?? null,
    ioWriteBytes: io?.writeBytes ?? null,
    netRxBytes: net.rxBytes,
    netTxBytes: net.txBytes,
    netNs: net.netNs,
    identity,
    netPid: net.pid,
  };
  if (net.skipped !== undefined) counters.netSkipped = net.skipped;
  return counters;
}
