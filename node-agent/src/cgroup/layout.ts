// Which cgroup hierarchies the host has and where they are mounted, from a mountinfo file.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CgroupLayoutError, CgroupParseError } from './errors.ts';
import { forEachLine } from './parse.ts';

export type V1Controller = 'cpu' | 'cpuacct' | 'memory' | 'blkio' | 'pids';

const V1_CONTROLLERS: readonly V1Controller[] = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'];

export interface CgroupLayout {
  /** `hybrid`: v1 controllers plus a cgroup2 mount (usually `/sys/fs/cgroup/unified`). */
  mode: 'v1' | 'v2' | 'hybrid';
  /** Absolute path (under hostRoot) of the cgroup2 mount. */
  v2Root?: string;
  /** Absolute path (under hostRoot) of each v1 controller's mount; `cpu` and `cpuacct` are the
   * same path when co-mounted. */
  v1: Partial<Record<V1Controller, string>>;
}

export interface DetectLayoutOptions {
  /** mountinfo to read: `<procRoot>/1/mountinfo` for the host's view (needs hostPID), or
   * `/proc/self/mountinfo` when the host's cgroupfs is visible to this process as-is. */
  mountinfoPath: string;
  /** Prefix under which the mount points of that mountinfo are visible to this process
   * (`/host` when the host's `/sys/fs/cgroup` is mounted at `/host/sys/fs/cgroup`). */
  hostRoot: string;
}

interface CgroupMount {
  mountPoint: string;
  /** Mount root within its hierarchy; not `/` for bind mounts of a sub-cgroup or inside a
   * cgroup namespace, which show only part of the tree. */
  root: string;
  fsType: 'cgroup' | 'cgroup2';
  superOptions: string[];
}

export async function detectLayout(opts: DetectLayoutOptions): Promise<CgroupLayout> {
  let content: string;
  try {
    content = await readFile(opts.mountinfoPath, 'utf8');
  } catch (err) {
    throw new CgroupLayoutError(opts.mountinfoPath, 'cannot read mountinfo', { cause: err });
  }
  let mounts: CgroupMount[];
  try {
    mounts = parseCgroupMounts(content, opts.mountinfoPath);
  } catch (err) {
    throw new CgroupLayoutError(opts.mountinfoPath, 'malformed mountinfo', { cause: err });
  }
  return layoutFromMounts(mounts, opts);
}

/** Parses the cgroup and cgroup2 lines of a mountinfo file (proc(5)); other lines are skipped. */
export function parseCgroupMounts(content: string, file: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  forEachLine(content, (text, line) => {
    const fields = text.split(' ');
    // Optional fields (shared:N, master:N) sit between field 6 and the "-" separator.
    const sep = fields.indexOf('-', 6);
    if (sep === -1 || fields.length < sep + 4) {
      throw new CgroupParseError(file, line, 'expected mountinfo fields around " - "');
    }
    const fsType = fields[sep + 1];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') return;
    out.push({
      root: unescapeMountPath(fields[3] as string),
      mountPoint: unescapeMountPath(fields[4] as string),
      fsType,
      superOptions: (fields[sep + 3] as string).split(','),
    });
  });
  return out;
}

function layoutFromMounts(mounts: CgroupMount[], opts: DetectLayoutOptions): CgroupLayout {
  // A hierarchy can be mounted more than once (bind mounts, containers); the mount of the
  // whole hierarchy (root "/") is the one that shows every pod.
  const ordered = [...mounts].sort((a, b) => Number(b.root === '/') - Number(a.root === '/'));
  const v1: Partial<Record<V1Controller, string>> = {};
  let v2Root: string | undefined;
  for (const m of ordered) {
    const at = path.join(opts.hostRoot, m.mountPoint);
    if (m.fsType === 'cgroup2') {
      v2Root ??= at;
      continue;
    }
    for (const c of V1_CONTROLLERS) {
      if (m.superOptions.includes(c)) v1[c] ??= at;
    }
  }
  const hasV1 = Object.keys(v1).length > 0;
  if (hasV1 && v2Root !== undefined) return { mode: 'hybrid', v2Root, v1 };
  if (hasV1) return { mode: 'v1', v1 };
  if (v2Root !== undefined) return { mode: 'v2', v2Root, v1 };
  throw new CgroupLayoutError(opts.mountinfoPath, 'no cgroup or cgroup2 mount');
}

/** mountinfo escapes space, tab, newline and backslash as 3-digit octal (`\040`). */
function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
