// Finds the kubelet's pod cgroups by scanning, so the cgroup driver, --cgroup-root, kind
// nesting and the runtime's scope naming are all discovered rather than assumed.
import type { Dirent } from 'node:fs';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { CgroupReadError } from './errors.ts';
import { toReadError } from './errors.ts';
import type { CgroupLayout } from './layout.ts';

export type Hierarchy = 'v1' | 'v2';
export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';
export type CgroupDriver = 'systemd' | 'cgroupfs';
export type ContainerRuntime = 'containerd' | 'crio' | 'docker';

export interface PodContainerCgroup {
  /** `conmon`: CRI-O's monitor, counted in the pod but running in the host network namespace;
   * `other`: an unrecognised child cgroup, still counted in the pod. */
  kind: 'container' | 'conmon' | 'other';
  /** 64-hex container id; absent for CRI-O conmon scopes and unrecognised child cgroups. */
  id?: string;
  /** Absent for bare 64-hex cgroupfs names, which containerd and Docker share. */
  runtime?: ContainerRuntime;
  /** Relative to the controller root, like {@link PodCgroup.relPath}. */
  relPath: string;
}

export interface PodCgroup {
  /** Pod UID with dashes, or the 32-hex config hash of a static pod (joined through the mirror
   * pod's `kubernetes.io/config.mirror` annotation, not its metadata.uid). */
  uid: string;
  qos: QosClass;
  driver: CgroupDriver;
  /** Which hierarchy relPath lives in; v1 paths are the same under every controller mount. */
  hierarchy: Hierarchy;
  /** Relative to the controller (v1) or cgroup2 (v2) root, e.g. `kubepods/burstable/pod<uid>`. */
  relPath: string;
  containers: PodContainerCgroup[];
}

export interface DiscoverOptions {
  /** How many directory levels below the hierarchy root a kubepods root may sit; 4 covers kind
   * inside Docker (`system.slice/docker-<id>.scope/kubelet.slice/kubelet-kubepods.slice`). */
  maxDepth?: number;
}

export interface Discovery {
  hierarchy: Hierarchy;
  /** Absolute directory that relPaths are relative to (for v1: the scanned controller mount). */
  hierarchyRoot: string;
  /** kubepods roots found, relative to hierarchyRoot. Cache them and list pods each tick with
   * a {@link createPodLister} (or {@link listPods}); rescan when they disappear. */
  roots: string[];
  pods: PodCgroup[];
  errors: CgroupReadError[];
}

const DEFAULT_MAX_DEPTH = 4;

const UUID_SYSTEMD = '[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}';
const UUID_CGROUPFS = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const POD_SYSTEMD = new RegExp(`(?:^|-)pod(${UUID_SYSTEMD}|[0-9a-f]{32})\\.slice$`);
const POD_CGROUPFS = new RegExp(`^pod(${UUID_CGROUPFS}|[0-9a-f]{32})$`);
const CONTAINER_SCOPE = /^(cri-containerd|crio|docker)-([0-9a-f]{64})\.scope$/;
const CONTAINER_CRIO_CGROUPFS = /^crio-([0-9a-f]{64})$/;
const CONTAINER_BARE = /^[0-9a-f]{64}$/;
const CONMON = /^crio-conmon-[0-9a-f]{64}(?:\.scope)?$/;

const SCOPE_RUNTIME: Record<string, ContainerRuntime> = {
  'cri-containerd': 'containerd',
  crio: 'crio',
  docker: 'docker',
};

/**
 * Discovers pods in the hierarchy that holds them. In hybrid mode the kubelet uses the v1
 * controllers when they hold a kubepods tree (the v2 mount then only carries systemd's
 * bookkeeping), so v1 is scanned first and v2 is the fallback.
 */
export async function discoverPods(
  layout: CgroupLayout,
  opts: DiscoverOptions = {},
): Promise<Discovery> {
  const errors: CgroupReadError[] = [];
  const candidates: { hierarchy: Hierarchy; root: string }[] = [];
  const v1Root = layout.v1.cpuacct ?? layout.v1.cpu ?? layout.v1.memory;
  if (layout.mode !== 'v2' && v1Root !== undefined)
    candidates.push({ hierarchy: 'v1', root: v1Root });
  if (layout.mode !== 'v1' && layout.v2Root !== undefined) {
    candidates.push({ hierarchy: 'v2', root: layout.v2Root });
  }
  for (const c of candidates) {
    const found = await findKubepodsRoots(c.root, opts);
    errors.push(...found.errors);
    if (found.roots.length === 0) continue;
    const pods: PodCgroup[] = [];
    for (const r of found.roots) {
      const listed = await listPods(c.root, r, c.hierarchy);
      pods.push(...listed.pods);
      errors.push(...listed.errors);
    }
    return { hierarchy: c.hierarchy, hierarchyRoot: c.root, roots: found.roots, pods, errors };
  }
  const last = candidates.at(-1);
  return {
    hierarchy: last?.hierarchy ?? 'v2',
    hierarchyRoot: last?.root ?? '',
    roots: [],
    pods: [],
    errors,
  };
}

/** `kubepods`, `kubepods.slice`, or `<cgroup-root>-kubepods.slice` (kind: `kubelet-kubepods.slice`). */
export function isKubepodsRootName(name: string): boolean {
  return name === 'kubepods' || name === 'kubepods.slice' || name.endsWith('-kubepods.slice');
}

/**
 * Breadth-first scan for kubepods roots under a hierarchy root, to a bounded depth. Does not
 * descend into a root once found. Several roots are possible (e.g. kind nodes sharing a host);
 * all are returned and pods are told apart by UID when joined with this node's pod list.
 */
export async function findKubepodsRoots(
  hierarchyRoot: string,
  opts: DiscoverOptions = {},
): Promise<{ roots: string[]; errors: CgroupReadError[] }> {
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const roots: string[] = [];
  const errors: CgroupReadError[] = [];
  let level = [''];
  for (let depth = 1; depth <= maxDepth && level.length > 0; depth++) {
    const next: string[] = [];
    for (const rel of level) {
      const dirs = subdirs(hierarchyRoot, rel, errors, rel === '');
      for (const name of dirs) {
        const child = rel === '' ? name : `${rel}/${name}`;
        if (isKubepodsRootName(name)) roots.push(child);
        else next.push(child);
      }
    }
    level = next;
  }
  return { roots, errors };
}

/** Lists pod cgroups under one kubepods root: Guaranteed pods directly, the others one QoS
 * directory down. */
export async function listPods(
  hierarchyRoot: string,
  kubepodsRel: string,
  hierarchy: Hierarchy,
): Promise<{ pods: PodCgroup[]; errors: CgroupReadError[] }> {
  const errors: CgroupReadError[] = [];
  const pods = scanPods(hierarchyRoot, kubepodsRel, hierarchy, errors, (podRel) =>
    listContainers(hierarchyRoot, podRel, errors),
  );
  return { pods, errors };
}

export interface PodListerOptions {
  /** A known pod's container cgroups are listed again every this many ticks (pods staggered
   * over the ticks); new pods are listed at once. Default 10. */
  containerRescanTicks?: number;
}

/** Per-tick pod listing for a known set of kubepods roots (see {@link Discovery.roots}). */
export interface PodLister {
  list(): { pods: PodCgroup[]; errors: CgroupReadError[] };
}

/**
 * Lists the pod directories every tick, so pods appear and disappear without delay, but lists
 * each pod's container directories only every few ticks: that readdir per pod is most of a
 * tick's discovery cost, and pod counters are read at the pod cgroup, so a container list a few
 * ticks old only delays which PIDs are reported (and picked for network counters).
 */
export function createPodLister(
  hierarchyRoot: string,
  kubepodsRoots: readonly string[],
  hierarchy: Hierarchy,
  opts: PodListerOptions = {},
): PodLister {
  const every = Math.max(1, opts.containerRescanTicks ?? 10);
  const known = new Map<string, { containers: PodContainerCgroup[]; due: number }>();
  let tick = 0;
  return {
    list() {
      tick++;
      const errors: CgroupReadError[] = [];
      const seen = new Set<string>();
      const containersOf = (podRel: string): PodContainerCgroup[] => {
        seen.add(podRel);
        const cached = known.get(podRel);
        if (cached !== undefined && tick < cached.due) return cached.containers;
        const containers = listContainers(hierarchyRoot, podRel, errors);
        // A first listing gets a due tick spread by arrival order, so pods found together are
        // not all listed again on the same tick.
        const due = tick + (cached === undefined ? 1 + (known.size % every) : every);
        known.set(podRel, { containers, due });
        return containers;
      };
      const pods = kubepodsRoots.flatMap((r) =>
        scanPods(hierarchyRoot, r, hierarchy, errors, containersOf),
      );
      for (const podRel of known.keys()) if (!seen.has(podRel)) known.delete(podRel);
      return { pods, errors };
    },
  };
}

function scanPods(
  hierarchyRoot: string,
  kubepodsRel: string,
  hierarchy: Hierarchy,
  errors: CgroupReadError[],
  containersOf: (podRel: string) => PodContainerCgroup[],
): PodCgroup[] {
  const pods: PodCgroup[] = [];
  const addPod = (parentRel: string, name: string, qos: QosClass): boolean => {
    const m = POD_SYSTEMD.exec(name) ?? POD_CGROUPFS.exec(name);
    if (!m) return false;
    const driver: CgroupDriver = name.endsWith('.slice') ? 'systemd' : 'cgroupfs';
    const relPath = `${parentRel}/${name}`;
    pods.push({
      uid: (m[1] as string).replaceAll('_', '-'),
      qos,
      driver,
      hierarchy,
      relPath,
      containers: containersOf(relPath),
    });
    return true;
  };
  for (const name of subdirs(hierarchyRoot, kubepodsRel, errors, true)) {
    if (addPod(kubepodsRel, name, 'Guaranteed')) continue;
    const qos = qosOfDir(name);
    if (qos === undefined) continue;
    const qosRel = `${kubepodsRel}/${name}`;
    for (const podName of subdirs(hierarchyRoot, qosRel, errors, true)) {
      addPod(qosRel, podName, qos);
    }
  }
  return pods;
}

function listContainers(
  hierarchyRoot: string,
  podRel: string,
  errors: CgroupReadError[],
): PodContainerCgroup[] {
  return subdirs(hierarchyRoot, podRel, errors, false).map((c) => containerOf(podRel, c));
}

function qosOfDir(name: string): QosClass | undefined {
  if (name === 'burstable' || name.endsWith('-burstable.slice')) return 'Burstable';
  if (name === 'besteffort' || name.endsWith('-besteffort.slice')) return 'BestEffort';
  return undefined;
}

function containerOf(podRel: string, name: string): PodContainerCgroup {
  const relPath = `${podRel}/${name}`;
  // conmon first: its name would otherwise look like an unrecognised crio child.
  if (CONMON.test(name)) return { kind: 'conmon', runtime: 'crio', relPath };
  const scope = CONTAINER_SCOPE.exec(name);
  if (scope) {
    return {
      kind: 'container',
      id: scope[2] as string,
      runtime: SCOPE_RUNTIME[scope[1] as string],
      relPath,
    };
  }
  const crio = CONTAINER_CRIO_CGROUPFS.exec(name);
  if (crio) return { kind: 'container', id: crio[1] as string, runtime: 'crio', relPath };
  if (CONTAINER_BARE.test(name)) return { kind: 'container', id: name, relPath };
  return { kind: 'other', relPath };
}

/** Synchronous: cgroupfs directories are kernel pseudo-files, never waiting on a disk, and a
 * thread-pool round trip per pod directory costs more than the listing itself. */
function subdirs(
  hierarchyRoot: string,
  rel: string,
  errors: CgroupReadError[],
  reportMissing: boolean,
): string[] {
  const dir = path.join(hierarchyRoot, rel);
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    const e = toReadError('discovery', dir, err);
    // A directory removed between listing its parent and reading it is a race, not a fault.
    if (reportMissing || e.code !== 'missing') errors.push(e);
    return [];
  }
  const out: string[] = [];
  for (const e of entries) if (e.isDirectory()) out.push(e.name);
  return out;
}
