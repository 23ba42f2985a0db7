// The one-real-node-per-machine lock and the record of the node that holds it.
//
// The lock is flock(2) on /run/agentmeter-real-node.lock. Every daemon of a node inherits the
// locked descriptor, so the lock is held for exactly as long as any part of the node runs, also
// after the process that started it has exited (`up --keep`) or was killed. The record, written
// before the node touches the host, says who started the node, whether it was meant to outlive
// its starter, which processes belong to it and what the host looked like before; it is removed
// only when a teardown has finished, so a record found on startup means leftovers to clean.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import type { HostState } from './host-state.ts';

export const LOCK_PATH = '/run/agentmeter-real-node.lock';
export const RECORD_PATH = '/run/agentmeter-real-node.json';

/** A process of the node, identified by pid and start time so a reused pid is never mistaken. */
export interface NodeProcess {
  readonly name: string;
  readonly pid: number;
  readonly startTime: string;
}

export interface NodeRecord {
  readonly ownerPid: number;
  readonly ownerStartTime: string;
  /** Started by `up --keep`: meant to outlive its starter, stopped only by `down`. */
  readonly keep: boolean;
  readonly dir: string;
  /** The state dir was made for this node and goes with it. */
  readonly ownDir: boolean;
  readonly before: HostState;
  readonly nodeLink: string;
  readonly containerdSocket: string;
  readonly binaries: { readonly kubeProxy: string; readonly crictl: string };
  readonly processes: readonly NodeProcess[];
  /** A process restarting the whole node (restart.ts): while it runs the node is not an orphan. */
  readonly restarter?: { readonly pid: number; readonly startTime: string };
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined if it is gone. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

export async function isAlive(p: { pid: number; startTime: string }): Promise<boolean> {
  return (await processStartTime(p.pid)) === p.startTime;
}

export async function readRecord(): Promise<NodeRecord | undefined> {
  const text = await readFile(RECORD_PATH, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as NodeRecord);
}

export async function writeRecord(record: NodeRecord): Promise<void> {
  const tmp = `${RECORD_PATH}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2), { mode: 0o600 });
  await rename(tmp, RECORD_PATH);
}

export async function removeRecord(): Promise<void> {
  await rm(RECORD_PATH, { force: true });
}

/** Pids of the processes that have the lock file open (its holders and waiters). */
export async function lockHolders(): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => []);
    for (const fd of fds) {
      if ((await readlink(`/proc/${entry}/fd/${fd}`).catch(() => '')) === LOCK_PATH) {
        out.push(Number(entry));
        break;
      }
    }
  }
  return out;
}

/** flock(1) on an inherited descriptor locks the open file this process holds. */
function flockNonBlocking(fd: number): Promise<boolean> {
  return new Promise((done, fail) => {
    const child = spawn('flock', ['-n', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (err) => fail(new Error(`cannot run flock (util-linux): ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) done(true);
      else if (code === 1) done(false);
      else fail(new Error(`flock ${LOCK_PATH} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

export interface HeldLock {
  /** The locked descriptor: hand it to every daemon of the node. */
  readonly fd: number;
  /** Closes this process's descriptor; the daemons that inherited it keep the lock. */
  release(): void;
}

/** Takes the lock if it is free now; undefined if someone holds it. */
export async function tryLock(): Promise<HeldLock | undefined> {
  const fd = openSync(LOCK_PATH, 'a', 0o600);
  if (!(await flockNonBlocking(fd))) {
    closeSync(fd);
    return undefined;
  }
  let open = true;
  return {
    fd,
    release: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
