// Kubelet-style pod cgroups on this host's real cgroup v1 controllers, with real processes in them.
// Every directory a test creates is removed again, deepest first, after its processes are killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRoot } from './require-root.ts';
import { waitFor } from './wait.ts';

export const CGROUP_ROOT = '/sys/fs/cgroup';
/** The v1 controllers a kubelet creates pod cgroups in (when the host mounts them). */
export const CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'] as const;

export type Qos = 'Guaranteed' | 'Burstable' | 'BestEffort';
export type Driver = 'cgroupfs' | 'systemd';

export interface PodCgroupSpec {
  readonly uid: string;
  readonly qos?: Qos;
  readonly driver?: Driver;
  /** 64 hex characters; random when absent. */
  readonly containerId?: string;
  /**
   * A directory above `kubepods`, as a kubelet with --cgroup-root or a nested runtime makes it.
   * Tests use their own prefix so they never touch a real kubelet's tree.
   */
  readonly prefix: string;
}

function randomHex(length: number): string {
  let out = '';
  while (out.length < length) out += Math.random().toString(16).slice(2);
  return out.slice(0, length);
}

/**
 * A top-level cgroup name for one test run: `agentmeter-<tag>-p<pid>-<hex>`. The pid lets the
 * next run's sweep (test/setup/stale-cgroups.ts) tell a killed run's leftovers from a live one's.
 */
export function testCgroupPrefix(tag: string): string {
  return `agentmeter-${tag}-p${process.pid}-${randomHex(6)}`;
}

/** The pod and container directories relative to a controller root, as the kubelet names them. */
export function kubeletPaths(spec: PodCgroupSpec): { pod: string; container: string } {
  const qos = spec.qos ?? 'Burstable';
  const containerId = spec.containerId ?? randomHex(64);
  if ((spec.driver ?? 'cgroupfs') === 'cgroupfs') {
    const parent = qos === 'Guaranteed' ? 'kubepods' : `kubepods/${qos.toLowerCase()}`;
    const pod = join(spec.prefix, parent, `pod${spec.uid}`);
    return { pod, container: join(pod, containerId) };
  }
  const escaped = spec.uid.replaceAll('-', '_');
  const qosPart = qos === 'Guaranteed' ? '' : `-${qos.toLowerCase()}`;
  const parent =
    qos === 'Guaranteed' ? 'kubepods.slice' : `kubepods.slice/kubepods-${qos.toLowerCase()}.slice`;
  const pod = join(spec.prefix, parent, `kubepods${qosPart}-pod${escaped}.slice`);
  return { pod, container: join(pod, `cri-containerd-${containerId}.scope`) };
}

function availableControllers(): string[] {
  return CONTROLLERS.filter((c) => existsSync(join(CGROUP_ROOT, c, 'cgroup.procs')));
}

export class TestPodCgroup {
  readonly uid: string;
  readonly podPath: string;
  readonly containerPath: string;
  readonly controllers: readonly string[];
  readonly #created: string[];
  readonly #children = new Set<ChildProcess>();

  constructor(
    uid: string,
    paths: { pod: string; container: string },
    controllers: string[],
    created: string[],
  ) {
    this.uid = uid;
    this.podPath = paths.pod;
    this.containerPath = paths.container;
    this.controllers = controllers;
    this.#created = created;
  }

  /** Absolute path of the pod cgroup under one controller. */
  podDir(controller: string): string {
    return join(CGROUP_ROOT, controller, this.podPath);
  }

  /** Starts a command whose process joins the container cgroup before it execs. */
  run(command: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const procs = this.controllers
      .map((c) => join(CGROUP_ROOT, c, this.containerPath, 'cgroup.procs'))
      .join(' ');
    const child = spawn(
      'sh',
      [
        '-c',
        'for p in $AM_CGROUP_PROCS; do echo $$ > "$p" || exit 97; done; exec "$@"',
        'sh',
        command,
        ...args,
      ],
      {
        env: { ...process.env, ...env, AM_CGROUP_PROCS: procs },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.#children.add(child);
    child.on('exit', () => this.#children.delete(child));
    return child;
  }

  /** PIDs currently in the container cgroup (per the cpuacct hierarchy). */
  async pids(): Promise<number[]> {
    const controller = this.controllers.includes('cpuacct') ? 'cpuacct' : this.controllers[0];
    if (controller === undefined) return [];
    const text = await readFile(
      join(CGROUP_ROOT, controller, this.containerPath, 'cgroup.procs'),
      'utf8',
    );
    return text.split('\n').filter(Boolean).map(Number);
  }

  /** Kills every process in the cgroup and removes the directories this object created. */
  async remove(): Promise<void> {
    for (const child of this.#children) child.kill('SIGKILL');
    for (let attempt = 0; attempt < 100; attempt++) {
      const pids = await this.pids().catch(() => []);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const own = new Set(
      this.controllers.flatMap((c) => [
        join(CGROUP_ROOT, c, this.containerPath),
        join(CGROUP_ROOT, c, this.podPath),
      ]),
    );
    for (const dir of [...this.#created].reverse()) {
      // Shared parents (kubepods, QoS dirs) may still hold other tests' pods: removePrefix()
      // takes them once every pod is gone.
      if (own.has(dir)) await removeDir(dir);
      else await rmdir(dir).catch(() => undefined);
    }
  }
}

/** Removes one empty cgroup, waiting out EBUSY while the kernel reaps its last tasks. */
async function removeDir(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY while the kernel finishes reaping the last task.
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`cannot remove cgroup ${dir}`);
}

/** Creates the pod and container cgroups in every available v1 controller. */
export async function createPodCgroup(spec: PodCgroupSpec): Promise<TestPodCgroup> {
  requireRoot(`create pod cgroups under ${CGROUP_ROOT}`);
  const paths = kubeletPaths(spec);
  const controllers = availableControllers();
  if (controllers.length === 0) {
    throw new Error(`no writable cgroup v1 controllers under ${CGROUP_ROOT}`);
  }
  const created: string[] = [];
  for (const controller of controllers) {
    let current = join(CGROUP_ROOT, controller);
    for (const part of paths.container.split('/')) {
      current = join(current, part);
      if (!existsSync(current)) {
        await mkdir(current);
        created.push(current);
      }
    }
  }
  // cgroup v1 cpuset-less hierarchies need nothing else; memory accounting needs use_hierarchy.
  return new TestPodCgroup(spec.uid, paths, controllers, created);
}

/** Removes a test prefix from every controller (after its pods were removed), deepest first. */
export async function removePrefix(prefix: string): Promise<void> {
  for (const controller of availableControllers()) {
    const top = join(CGROUP_ROOT, controller, prefix);
    if (!existsSync(top)) continue;
    await removeTree(top);
  }
}

/** Kills every process in a cgroup tree and removes it, deepest first. */
export async function removeTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await removeTree(join(dir, entry.name));
  const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  for (const pid of procs.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await removeDir(dir);
}

/** Writes a value to a cgroup control file (e.g. a memory limit) under every controller. */
export async function writeControl(
  group: TestPodCgroup,
  controller: string,
  file: string,
  value: string,
): Promise<void> {
  await writeFile(join(CGROUP_ROOT, controller, group.podPath, file), value);
}

/** SIGSTOPs a process and waits until the kernel shows it stopped: its CPU counters no longer
 * move from then on, however long the signal took to land on a busy machine. */
export async function freeze(child: ChildProcess): Promise<void> {
  child.kill('SIGSTOP');
  await waitFor(`process ${String(child.pid)} to stop`, async () => {
    const stat = await readFile(`/proc/${String(child.pid)}/stat`, 'utf8');
    // The state follows the command name in parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  });
}
