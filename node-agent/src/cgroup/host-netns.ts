// The host's network namespace, so that a pod process found in it (a host-network pod, or an
// exec's runc init that joined the container's cgroup before the pod's namespaces) is never read
// as the pod's own network traffic. pid 1's link is the usual source, but some hosts refuse it
// even to root with CAP_SYS_PTRACE (a non-dumpable init); kthreadd, pid 2 of the host's PID
// namespace, is a kernel thread and always in the initial network namespace.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readNetNs } from './reader.ts';

export interface HostNetNs {
  /** Link text, e.g. `net:[4026531833]`. */
  readonly netNs: string;
  /** Where it was read: `pid 1`, `kthreadd` or `self` (the agent's own namespace). */
  readonly from: 'pid 1' | 'kthreadd' | 'self';
}

async function kthreaddNetNs(procRoot: string): Promise<string> {
  const comm = (await readFile(path.join(procRoot, '2', 'comm'), 'latin1')).trim();
  if (comm !== 'kthreadd') throw new Error(`pid 2 is ${comm}, not kthreadd`);
  return readNetNs(procRoot, 2);
}

/**
 * The host network namespace seen through `procRoot`, or null when no source can be read.
 * `self` comes last: it is the host's only for an agent on the host network (or run on the host).
 */
export async function readHostNetNs(procRoot: string): Promise<HostNetNs | null> {
  const sources: [HostNetNs['from'], () => Promise<string>][] = [
    ['pid 1', () => readNetNs(procRoot, 1)],
    ['kthreadd', () => kthreaddNetNs(procRoot)],
    ['self', () => readNetNs(procRoot, 'self')],
  ];
  for (const [from, read] of sources) {
    try {
      return { netNs: await read(), from };
    } catch {
      // Unreadable or absent: try the next source.
    }
  }
  return null;
}
