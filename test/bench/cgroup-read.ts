// CPU cost of one node-agent tick (pod discovery + reading every pod's cgroup counters) on this
// host's real cgroup v1 controllers: creates kubelet-style pod cgroups under a private prefix, each
// with a live `sleep` in its own network namespace, measures the one-shot path and the stateful
// reader, and removes every cgroup and process it created, also on error or Ctrl-C.
// Run as root: node test/bench/cgroup-read.ts   (PODS=250 TICKS=30 by default)
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { BlockDevices } from '../../node-agent/src/cgroup/devices.ts';
import type { PodCgroup } from '../../node-agent/src/cgroup/kubepods.ts';
import { createPodLister, listPods } from '../../node-agent/src/cgroup/kubepods.ts';
import type { CgroupLayout } from '../../node-agent/src/cgroup/layout.ts';
import { detectLayout } from '../../node-agent/src/cgroup/layout.ts';
import type { ReadOptions } from '../../node-agent/src/cgroup/reader.ts';
import {
  createPodCounterReader,
  readNetNs,
  readPodCounters,
} from '../../node-agent/src/cgroup/reader.ts';
import type { TestPodCgroup } from '../support/cgroups.ts';
import { createPodCgroup, removePrefix } from '../support/cgroups.ts';

const PODS = Number(process.env.PODS ?? 250);
const TICKS = Number(process.env.TICKS ?? 30);
const WARMUP = 3;

/** Set by Ctrl-C or kill: the run stops at its next step and the normal cleanup runs. */
let interrupted: NodeJS.Signals | null = null;
function checkInterrupted(): void {
  if (interrupted !== null) throw new Error(`interrupted by ${interrupted}`);
}

interface Measured {
  cpuMsPerTick: number;
  wallMsPerTick: number;
}

async function measure(tick: () => Promise<void> | void): Promise<Measured> {
  for (let i = 0; i < WARMUP; i++) await tick();
  const cpu = process.cpuUsage();
  const wall = process.hrtime.bigint();
  for (let i = 0; i < TICKS; i++) await tick();
  checkInterrupted();
  const used = process.cpuUsage(cpu);
  return {
    cpuMsPerTick: (used.user + used.system) / 1000 / TICKS,
    wallMsPerTick: Number(process.hrtime.bigint() - wall) / 1e6 / TICKS,
  };
}

function report(label: string, m: Measured): void {
  // CPU ms per tick / tick length in ms = fraction of one core.
  const at1s = (m.cpuMsPerTick / 1000) * 100;
  const at10s = (m.cpuMsPerTick / 10_000) * 100;
  console.log(
    `${label.padEnd(44)} ${m.cpuMsPerTick.toFixed(2).padStart(8)} ms CPU/tick ` +
      `(wall ${m.wallMsPerTick.toFixed(2)} ms)  = ${at1s.toFixed(2)}% of a core at 1 s, ` +
      `${at10s.toFixed(3)}% at 10 s   rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB`,
  );
}

async function waitForProcesses(groups: readonly TestPodCgroup[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const g of groups) {
    while ((await g.pids()).length === 0) {
      checkInterrupted();
      if (Date.now() > deadline) throw new Error(`no process joined pod ${g.uid}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function bench(
  layout: CgroupLayout,
  prefix: string,
  children: ChildProcess[],
): Promise<void> {
  const groups: TestPodCgroup[] = [];
  for (let i = 0; i < PODS; i++) {
    checkInterrupted();
    const g = await createPodCgroup({ uid: randomUUID(), prefix });
    groups.push(g);
    // A private netns per pod, like a real pod sandbox, so the net/dev path is exercised.
    children.push(g.run('unshare', ['--net', 'sleep', '3600']));
  }
  await waitForProcesses(groups);

  const hierarchyRoot = layout.v1.cpuacct as string;
  const kubepods = `${prefix}/kubepods`;
  const opts: ReadOptions = {
    procRoot: '/proc',
    devices: new BlockDevices({ sysRoot: '/sys' }),
    hostNetNs: await readNetNs('/proc', 'self'),
  };
  const discover = async (): Promise<PodCgroup[]> => {
    const { pods, errors } = await listPods(hierarchyRoot, kubepods, 'v1');
    if (pods.length !== PODS || errors.length > 0)
      throw new Error(`discovered ${pods.length}/${PODS} pods, ${errors.length} errors`);
    return pods;
  };
  const pods = await discover();
  const check = (errors: readonly Error[], netRx: bigint | null): void => {
    if (errors.length > 0) throw errors[0];
    if (netRx === null) throw new Error('no network counters: is each pod in its own netns?');
  };

  console.log(`${PODS} pods, ${TICKS} ticks after ${WARMUP} warm-up ticks`);
  report(
    'listPods only (readdir of every pod dir)',
    await measure(async () => {
      await discover();
    }),
  );
  report(
    'one-shot readPodCounters + listPods',
    await measure(async () => {
      for (const pod of await discover()) {
        const r = await readPodCounters(layout, pod, opts);
        check(r.errors, r.counters.netRxBytes);
      }
    }),
  );
  const listerOnly = createPodLister(hierarchyRoot, [kubepods], 'v1');
  report(
    'createPodLister only (containers every 10th)',
    await measure(() => {
      listerOnly.list();
    }),
  );
  const reader = createPodCounterReader(layout, opts);
  try {
    report(
      'stateful reader, read only (kept fds)',
      await measure(() => {
        for (const pod of pods) {
          const r = reader.read(pod);
          check(r.errors, r.counters.netRxBytes);
        }
      }),
    );
    report(
      'stateful reader + listPods every tick',
      await measure(async () => {
        for (const pod of await discover()) {
          const r = reader.read(pod);
          check(r.errors, r.counters.netRxBytes);
        }
      }),
    );
    // The per-tick path the agent uses: pod dirs listed every tick, containers every 10th.
    const lister = createPodLister(hierarchyRoot, [kubepods], 'v1');
    report(
      'NEW: stateful reader + createPodLister',
      await measure(() => {
        const listed = lister.list();
        if (listed.pods.length !== PODS || listed.errors.length > 0)
          throw new Error(`listed ${listed.pods.length}/${PODS} pods`);
        for (const pod of listed.pods) {
          const r = reader.read(pod);
          check(r.errors, r.counters.netRxBytes);
        }
      }),
    );
  } finally {
    reader.close();
  }
}

async function main(): Promise<void> {
  const layout = await detectLayout({ mountinfoPath: '/proc/1/mountinfo', hostRoot: '/' });
  if (process.getuid?.() !== 0 || layout.mode === 'v2' || layout.v1.cpuacct === undefined) {
    throw new Error('needs root and cgroup v1 controllers (cpuacct at least)');
  }
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, Node ${process.version}, ` +
      `Linux ${os.release()}, cgroup ${layout.mode}`,
  );
  const prefix = `agentmeter-bench-${randomBytes(4).toString('hex')}`;
  const children: ChildProcess[] = [];
  // TestPodCgroup.remove() would also remove the shared kubepods/burstable parents while other
  // pods still use them, so: kill every process (also any not yet moved into its cgroup), then
  // remove the whole prefix deepest first.
  const cleanup = async (): Promise<void> => {
    await Promise.all(
      children.splice(0).map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((resolve) => c.once('exit', resolve));
        c.kill('SIGKILL');
        await exited;
      }),
    );
    await removePrefix(prefix);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = sig;
    });
  }
  try {
    await bench(layout, prefix, children);
  } finally {
    await cleanup();
    if (interrupted !== null) process.exitCode = 130;
  }
  console.log(
    `peak RSS of the bench process: ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MiB`,
  );
}

await main();
