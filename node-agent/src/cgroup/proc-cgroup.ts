// PID → pod via /proc/<pid>/cgroup. Paths are matched by suffix, never by prefix: inside a
// private cgroup namespace they read `0::/../../../kubepods-…`, and kind or Docker-in-Docker
// nest the kubelet's tree under arbitrary prefixes.
import path from 'node:path';
import type { CgroupReadError } from './errors.ts';
import { CgroupParseError, toReadError } from './errors.ts';
import type { QosClass } from './kubepods.ts';
import { forEachLine, parseProcStatStarttime } from './parse.ts';
import { readText } from './resources.ts';

export interface ProcCgroupLine {
  hierarchyId: number;
  /** Empty for the v2 line (`0::/…`); `name=systemd` for the v1 named hierarchy. */
  controllers: string[];
  path: string;
}

export type ProcRuntime = 'docker' | 'containerd' | 'crio' | 'libpod';

export interface CgroupPodRef {
  /** With dashes, or the 32-hex config hash of a static pod. */
  podUid: string;
  qos: QosClass;
  /** Absent for pod-level processes (pause on some runtimes, CRI-O conmon). */
  containerId?: string;
  /** Absent for bare 64-hex cgroupfs names, which containerd and Docker share. */
  runtime?: ProcRuntime;
}

export type PidResolution =
  { ok: true; pod: CgroupPodRef | null; starttime: bigint } | { ok: false; error: CgroupReadError };

/** `hierarchy-ID:controller-list:cgroup-path`; the path may itself contain colons. */
export function parseProcCgroup(content: string, file: string): ProcCgroupLine[] {
  const out: ProcCgroupLine[] = [];
  forEachLine(content, (text, line) => {
    const c1 = text.indexOf(':');
    const c2 = text.indexOf(':', c1 + 1);
    const id = text.slice(0, c1);
    if (c1 <= 0 || c2 === -1 || !/^\d+$/.test(id) || text[c2 + 1] !== '/') {
      throw new CgroupParseError(file, line, `expected "id:controllers:/path"`);
    }
    const controllers = text.slice(c1 + 1, c2);
    out.push({
      hierarchyId: Number(id),
      controllers: controllers === '' ? [] : controllers.split(','),
      path: text.slice(c2 + 1),
    });
  });
  return out;
}

const POD_UID =
  /(?:^|[/-])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?=\.slice|\/|:|$)/g;

// Deepest match wins (kind inside Docker has a docker-<id>.scope above the real container).
const CONTAINER_PATTERNS: readonly { re: RegExp; runtime?: ProcRuntime }[] = [
  { re: /docker[-/]([0-9a-f]{64})/g, runtime: 'docker' },
  { re: /[:/]cri-containerd[-:]([0-9a-f]{64})/g, runtime: 'containerd' },
  { re: /\/containerd[-/]([0-9a-f]{64})/g, runtime: 'containerd' },
  { re: /\/crio-([0-9a-f]{64})/g, runtime: 'crio' },
  { re: /libpod-([0-9a-f]{64})/g, runtime: 'libpod' },
  // cgroupfs driver: bare id directly under the pod directory, any runtime.
  { re: /\/pod[0-9a-f-]+\/([0-9a-f]{64})(?=\/|$)/g },
];

/** Pod (and container) of one cgroup path, or null when it is not inside a pod cgroup. */
export function podFromCgroupPath(cgroupPath: string): CgroupPodRef | null {
  let pod: RegExpExecArray | undefined;
  for (const m of cgroupPath.matchAll(POD_UID)) pod = m;
  if (pod === undefined) return null;
  const podIndex = pod.index;
  const ref: CgroupPodRef = {
    podUid: (pod[1] as string).replaceAll('_', '-'),
    qos: qosBefore(cgroupPath.slice(0, podIndex + 1)),
  };
  let best: { index: number; id: string; runtime?: ProcRuntime } | undefined;
  for (const { re, runtime } of CONTAINER_PATTERNS) {
    for (const m of cgroupPath.matchAll(re)) {
      const id = m[1] as string;
      // Position of the id itself: a container must sit below the pod, and the deepest wins.
      const index = m.index + m[0].length - id.length;
      if (index > podIndex && (best === undefined || index > best.index)) {
        best = { index, id, ...(runtime ? { runtime } : {}) };
      }
    }
  }
  if (best !== undefined) {
    ref.containerId = best.id;
    if (best.runtime !== undefined) ref.runtime = best.runtime;
  }
  return ref;
}

/** QoS from the parent directory and the pod directory's own prefix (systemd repeats it). */
function qosBefore(prefix: string): QosClass {
  const tail = prefix.split('/').slice(-2).join('/');
  if (tail.includes('besteffort')) return 'BestEffort';
  if (tail.includes('burstable')) return 'Burstable';
  return 'Guaranteed';
}

/** Resolves a host PID to its pod, with its starttime so a cached mapping can be revalidated
 * against PID reuse. `pod` is null for processes outside pods. */
export async function resolvePid(procRoot: string, pid: number): Promise<PidResolution> {
  const cgroupFile = path.join(procRoot, String(pid), 'cgroup');
  const statFile = path.join(procRoot, String(pid), 'stat');
  let file = cgroupFile;
  try {
    const [cgroupText, statText] = await Promise.all([readText(cgroupFile), readText(statFile)]);
    const lines = parseProcCgroup(cgroupText, cgroupFile);
    file = statFile;
    const starttime = parseProcStatStarttime(statText, statFile);
    let pod: CgroupPodRef | null = null;
    for (const l of lines) {
      pod = podFromCgroupPath(l.path);
      if (pod !== null) break;
    }
    return { ok: true, pod, starttime };
  } catch (err) {
    return {
      ok: false,
      error: toReadError('pids', err instanceof CgroupParseError ? err.file : file, err),
    };
  }
}

/** `/proc/<pid>/stat` starttime (clock ticks since boot); a different value means the PID was reused. */
export async function readStarttime(procRoot: string, pid: number): Promise<bigint> {
  const file = path.join(procRoot, String(pid), 'stat');
  return parseProcStatStarttime(await readText(file), file);
}
