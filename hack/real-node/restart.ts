// Stops and starts parts of a running real node, or the whole node, from any process (a test
// worker, the CLI) on the record alone: each daemon is started again exactly as it ran (its
// command line, environment, working directory and log file, read from /proc before it is
// stopped), on the same state directory. The record is kept up to date, so a teardown stops the
// new processes too.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { run, sleep } from '../lib/processes.ts';
import {
  isAlive,
  processStartTime,
  readRecord,
  tryLock,
  writeRecord,
  type HeldLock,
  type NodeProcess,
  type NodeRecord,
} from './lock.ts';
import { killNodeWorkloads } from './teardown.ts';

/** How to start a daemon again as it ran. */
export interface Relaunch {
  readonly name: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly logFile: string;
}

/** A restart that cannot be done: says which daemon and why. */
export class RestartError extends Error {
  override readonly name = 'RestartError';
}

/** The order a node starts in: the datastore first, the kubelet once its runtime answers. */
const START_ORDER = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'containerd',
  'kubelet',
  'kube-proxy',
];

function nulList(text: string): string[] {
  return text.split('\0').filter((s) => s.length > 0);
}

/** Reads how `p` runs from /proc, while it still runs. */
export async function captureRelaunch(p: NodeProcess): Promise<Relaunch> {
  if (!(await isAlive(p))) throw new RestartError(`${p.name} (pid ${p.pid}) is not running`);
  const argv = nulList(await readFile(`/proc/${p.pid}/cmdline`, 'utf8'));
  const env: Record<string, string> = {};
  for (const entry of nulList(await readFile(`/proc/${p.pid}/environ`, 'utf8'))) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return {
    name: p.name,
    argv,
    env,
    cwd: await readlink(`/proc/${p.pid}/cwd`),
    logFile: await readlink(`/proc/${p.pid}/fd/1`),
  };
}

async function recordedProcess(name: string): Promise<{ record: NodeRecord; p: NodeProcess }> {
  const record = await readRecord();
  if (!record) throw new RestartError('no real node is recorded on this machine');
  const p = record.processes.find((q) => q.name === name);
  if (!p) throw new RestartError(`the recorded node has no process named ${name}`);
  return { record, p };
}

/** Signals `p` alone (not its group: containerd's shims must outlive it) until it is gone. */
async function stopPid(p: NodeProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const send = (sig: NodeJS.Signals): void => {
    try {
      process.kill(p.pid, sig);
    } catch {
      // Gone already.
    }
  };
  send(signal);
  const deadline = Date.now() + graceMs;
  while (await isAlive(p)) {
    if (Date.now() > deadline) send('SIGKILL');
    await sleep(50);
  }
}

/** Starts `r` detached with its log appended; `lockFd` (the node lock) becomes its fd 3. */
async function startRelaunch(r: Relaunch, lockFd?: number): Promise<NodeProcess> {
  const [binary, ...args] = r.argv;
  if (!binary) throw new RestartError(`${r.name}: empty command line`);
  const out = openSync(r.logFile, 'a');
  try {
    const child = spawn(binary, args, {
      stdio: ['ignore', out, out, ...(lockFd === undefined ? [] : [lockFd])],
      detached: true,
      env: r.env,
      cwd: r.cwd,
    });
    child.unref();
    const pid = child.pid;
    const startTime = pid === undefined ? undefined : await processStartTime(pid);
    if (pid === undefined || startTime === undefined) {
      throw new RestartError(`${r.name} exited at once; see ${r.logFile}`);
    }
    return { name: r.name, pid, startTime };
  } finally {
    closeSync(out);
  }
}

async function replaceInRecord(started: readonly NodeProcess[], extra: object = {}): Promise<void> {
  const record = await readRecord();
  if (!record) throw new RestartError('the node record vanished during a restart');
  const names = new Set(started.map((p) => p.name));
  await writeRecord({
    ...record,
    ...extra,
    processes: [...record.processes.filter((p) => !names.has(p.name)), ...started],
  });
}

/**
 * Stops one daemon of the recorded node (SIGTERM, or SIGKILL for a crash) and returns how to
 * start it again. Only that process is signalled: pods and the other daemons keep running.
 */
export async function stopComponent(
  name: string,
  options: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<Relaunch> {
  const { p } = await recordedProcess(name);
  const relaunch = await captureRelaunch(p);
  await stopPid(p, options.signal ?? 'SIGTERM', options.graceMs ?? 15_000);
  return relaunch;
}

/**
 * Starts a daemon stopped by stopComponent again and records it. It does not hold the node lock
 * (that stays with the daemons that kept running); a teardown stops it from the record.
 */
export async function startComponent(relaunch: Relaunch): Promise<NodeProcess> {
  const started = await startRelaunch(relaunch);
  await replaceInRecord([started]);
  return started;
}

/** Waits until containerd answers on its CRI socket. */
async function runtimeAnswers(record: NodeRecord, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const args = ['--runtime-endpoint', `unix://${record.containerdSocket}`, 'version'];
  while ((await run(record.binaries.crictl, args)).code !== 0) {
    if (Date.now() > deadline)
      throw new RestartError(`containerd did not answer in ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Takes the node lock once the stopped node's daemons have let it go. */
async function relock(timeoutMs: number): Promise<HeldLock> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lock = await tryLock();
    if (lock) return lock;
    if (Date.now() > deadline) {
      throw new RestartError('the node lock is still held after every daemon was stopped');
    }
    await sleep(100);
  }
}

/**
 * The whole node loses power and comes back on the same state directory: every daemon and every
 * process of its pods is SIGKILLed, then the daemons start again in order with the node lock.
 * The pods' cgroups stay (a reboot would empty them; here they carry the counters the tests
 * compare with). While the node is down the record names this process as its restarter, so a
 * run waiting for the lock does not take the stopped node for an orphan and tear it down.
 */
export async function restartRecordedNode(
  options: { downMs?: number; log?: (line: string) => void } = {},
): Promise<NodeProcess[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[real-node] ${line}\n`));
  const record = await readRecord();
  if (!record) throw new RestartError('no real node is recorded on this machine');
  const self = await processStartTime(process.pid);
  await writeRecord({ ...record, restarter: { pid: process.pid, startTime: self ?? '' } });
  const relaunches = new Map<string, Relaunch>();
  for (const p of record.processes) relaunches.set(p.name, await captureRelaunch(p));
  for (const p of record.processes) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  for (const p of record.processes) while (await isAlive(p)) await sleep(50);
  await killNodeWorkloads(record, log);
  log(`node down: ${record.processes.length} daemons and every pod process killed`);
  await sleep(options.downMs ?? 0);

  const lock = await relock(30_000);
  try {
    const started: NodeProcess[] = [];
    for (const name of START_ORDER) {
      const relaunch = relaunches.get(name);
      if (relaunch) started.push(await startRelaunch(relaunch, lock.fd));
      // The kubelet gives up on a runtime that does not answer at its start.
      if (name === 'containerd') await runtimeAnswers(record, 60_000);
    }
    const unknown = [...relaunches.keys()].filter((n) => !START_ORDER.includes(n));
    if (unknown.length) throw new RestartError(`no start order for ${unknown.join(', ')}`);
    await replaceInRecord(started, { restarter: undefined });
    log(`node started again on ${record.dir}`);
    return started;
  } finally {
    // The daemons inherited the locked descriptor; this process's copy is not needed.
    lock.release();
  }
}
