// Unit suites that read or make real cgroups on this host need its cgroup v1 hierarchies, and root
// to make cgroups. Without them they fail at once and say what is missing, rather than skip.
import { detectLayout, type CgroupLayout } from '../../node-agent/src/cgroup/layout.ts';
import { requireRoot } from './require-root.ts';

/** This host's cgroup layout; throws unless it has a v1 cpuacct hierarchy (and, with
 * `rootNeededTo`, unless this process is root). */
export async function hostCgroupV1(rootNeededTo?: string): Promise<CgroupLayout> {
  if (rootNeededTo !== undefined) requireRoot(rootNeededTo);
  const layout = await detectLayout({ mountinfoPath: '/proc/1/mountinfo', hostRoot: '/' });
  if (layout.mode === 'v2' || layout.v1.cpuacct === undefined) {
    throw new Error(
      `this suite reads the host's cgroup v1 hierarchies, but the host has none with cpuacct (mode ${layout.mode}): run it on a cgroup v1 or hybrid host`,
    );
  }
  return layout;
}
