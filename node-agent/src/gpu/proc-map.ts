// Host PID → pod UID, through the cgroup module's /proc/<pid>/cgroup resolver. NVML reports host
// PIDs, which the kernel reuses, so every cache entry is keyed by (pid, starttime): a PID that
// now belongs to a new process is resolved again and never charged to the previous owner's pod.
import { classifyError } from '../cgroup/errors.ts';
import { readStarttime, resolvePid } from '../cgroup/proc-cgroup.ts';

export interface ProcMapOptions {
  /** The host's /proc as mounted in the agent (hostPID), e.g. `/host/proc`. */
  procRoot?: string;
}

export interface ProcMapStats {
  /** Resolutions served from the (pid, starttime) cache. */
  hits: number;
  /** Resolutions that read /proc/<pid>/cgroup. */
  misses: number;
}

export interface ProcMapResult {
  /** pid → pod UID; null for processes outside any pod; absent for processes that have exited. */
  pods: Map<number, string | null>;
  /** Files that exist but could not be read or parsed (permissions, format). */
  errors: string[];
}

interface Entry {
  starttime: bigint;
  podUid: string | null;
}

export class ProcPodMap {
  readonly procRoot: string;
  readonly stats: ProcMapStats = { hits: 0, misses: 0 };
  #cache = new Map<number, Entry>();

  constructor(opts: ProcMapOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
  }

  /** Resolves the given PIDs and evicts cached PIDs not among them. */
  async resolve(pids: Iterable<number>): Promise<ProcMapResult> {
    const pods = new Map<number, string | null>();
    const errors: string[] = [];
    const next = new Map<number, Entry>();
    await Promise.all(
      [...new Set(pids)].map(async (pid) => {
        const entry = await this.#resolveOne(pid, errors);
        if (entry === null) return;
        next.set(pid, entry);
        pods.set(pid, entry.podUid);
      }),
    );
    this.#cache = next;
    return { pods, errors };
  }

  async #resolveOne(pid: number, errors: string[]): Promise<Entry | null> {
    let starttime: bigint;
    try {
      starttime = await readStarttime(this.procRoot, pid);
    } catch (err) {
      // Exited since nvidia-smi listed it: nothing to charge, nothing to report.
      if (classifyError(err) !== 'missing') errors.push(`pid ${pid}: ${(err as Error).message}`);
      return null;
    }
    const cached = this.#cache.get(pid);
    if (cached !== undefined && cached.starttime === starttime) {
      this.stats.hits++;
      return cached;
    }
    this.stats.misses++;
    const r = await resolvePid(this.procRoot, pid);
    if (!r.ok) {
      if (r.error.code !== 'missing') errors.push(`pid ${pid}: ${r.error.message}`);
      return null;
    }
    // Reused between the two reads: the cgroup read may belong to the new process, so skip it.
    if (r.starttime !== starttime) return null;
    return { starttime, podUid: r.pod?.podUid ?? null };
  }
}
