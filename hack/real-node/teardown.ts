// Takes a real node down and puts the host back as its record says it was. Works from the record
// alone, so it cleans a node whose starter was killed as well as one it started itself, and every
// step tolerates having been done already.
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { run, sleep } from '../lib/processes.ts';
import {
  diffHostState,
  FIXED_PATHS,
  kubepodsCgroups,
  nftTables,
  normaliseIptablesSave,
  readMounts,
  snapshotHost,
} from './host-state.ts';
import { isAlive, lockHolders, removeRecord, type NodeProcess, type NodeRecord } from './lock.ts';

type Log = (line: string) => void;

/** Stop order: the kubelet first so it restarts nothing, the datastore last. */
const STOP_ORDER = [
  'kubelet',
  'kube-proxy',
  'containerd',
  'kube-scheduler',
  'kube-controller-manager',
  'kube-apiserver',
  'etcd',
];

async function stopProcess(p: NodeProcess, graceMs: number): Promise<void> {
  if (!(await isAlive(p))) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      // Each daemon leads its own process group (started detached).
      process.kill(-p.pid, sig);
    } catch {
      try {
        process.kill(p.pid, sig);
      } catch {
        // Gone already.
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await isAlive(p))) return;
    await sleep(100);
  }
  signal('SIGKILL');
  while (await isAlive(p)) await sleep(50);
}

async function allPids(): Promise<number[]> {
  return (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
}

/** Processes whose command line names the state dir: containerd's shims, above all. */
async function processesUnder(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await allPids()) {
    if (pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.startsWith(`${dir}/`) || arg === dir)) {
      out.push(pid);
    }
  }
  return out;
}

function kill(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

/** Every process in a kubepods cgroup: what is left of the pods' containers. */
async function podProcesses(): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of await kubepodsCgroups()) {
    const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (line) pids.add(Number(line));
  }
  return [...pids];
}

/**
 * Lock holders that are the node's own leftovers. A Node.js process holding the lock is a
 * starter, never a daemon: once this node's daemons are gone, the next run's starter may take
 * the lock while this teardown still runs, and must not be killed for it.
 */
async function daemonLockHolders(): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await lockHolders()) {
    if (pid === process.pid) continue;
    const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
    if (basename(exe) !== basename(process.execPath)) out.push(pid);
  }
  return out;
}

async function killUntilGone(find: () => Promise<number[]>, what: string, log: Log): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = await find();
    if (pids.length === 0) return;
    if (round === 0) log(`killing ${pids.length} ${what}`);
    kill(pids);
    await sleep(200);
  }
  throw new Error(`processes of the node survive SIGKILL: ${(await find()).join(' ')}`);
}

async function killLeftoverProcesses(record: NodeRecord, log: Log): Promise<void> {
  await killUntilGone(
    async () => [
      ...(await processesUnder(record.dir)),
      ...(await podProcesses()),
      ...(await daemonLockHolders()),
    ],
    'leftover processes (shims, containers)',
    log,
  );
}

/**
 * SIGKILLs what runs the node's pods: the shims and every process in a kubepods cgroup, as a
 * power cut would. Their cgroups, mounts and the state directory stay.
 */
export async function killNodeWorkloads(record: NodeRecord, log: Log): Promise<void> {
  await killUntilGone(
    async () => [...(await processesUnder(record.dir)), ...(await podProcesses())],
    'shims and pod processes',
    log,
  );
}

/** A KUBE-/CNI- chain (kube-proxy, the kubelet, portmap) that the host did not have before. */
function ourChain(name: string, before: ReadonlySet<string>): boolean {
  return /^(KUBE|CNI)-/.test(name) && !before.has(name);
}

/**
 * iptables-restore --noflush input that removes our chains and the rules jumping to them,
 * table by table; empty when nothing of ours is left. Pure, for a unit test.
 */
export function iptablesCleanupScript(saved: string, beforeLines: readonly string[]): string {
  const beforeChains = new Set<string>();
  let table = '';
  for (const line of beforeLines) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith(':')) beforeChains.add(`${table}/${line.slice(1).split(' ')[0]}`);
  }
  const out: string[] = [];
  const lines = normaliseIptablesSave(saved);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (!line.startsWith('*')) continue;
    table = line.slice(1);
    const mine = new Set<string>();
    const rules: string[] = [];
    for (i++; i < lines.length && lines[i] !== 'COMMIT'; i++) {
      const l = lines[i] ?? '';
      if (l.startsWith(':')) {
        const chain = l.slice(1).split(' ')[0] ?? '';
        const known = new Set(
          [...beforeChains]
            .filter((c) => c.startsWith(`${table}/`))
            .map((c) => c.slice(table.length + 1)),
        );
        if (ourChain(chain, known)) mine.add(chain);
      } else if (l.startsWith('-A ')) rules.push(l);
    }
    if (mine.size === 0) continue;
    const jumps = rules.filter((r) => {
      const chain = r.split(' ')[1] ?? '';
      const target = / -[jg] (\S+)/.exec(r)?.[1] ?? '';
      return !mine.has(chain) && mine.has(target);
    });
    out.push(
      `*${table}`,
      ...jumps.map((r) => `-D ${r.slice(3)}`),
      ...[...mine].map((c) => `-F ${c}`),
      ...[...mine].map((c) => `-X ${c}`),
      'COMMIT',
    );
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

async function cleanIptables(record: NodeRecord, log: Log): Promise<void> {
  const families = [
    ['iptables-save', 'iptables-restore', record.before.iptables.ipv4],
    ['ip6tables-save', 'ip6tables-restore', record.before.iptables.ipv6],
  ] as const;
  for (const [save, restore, before] of families) {
    const script = iptablesCleanupScript((await run(save, [])).stdout, before);
    if (!script) continue;
    const res = await run(restore, ['--noflush'], { input: script });
    if (res.code !== 0)
      throw new Error(`${restore} of the cleanup failed: ${res.stderr.trim()}\n${script}`);
    log(`${save.replace('-save', '')}: removed the node's chains`);
  }
  // iptables-nft leaves the tables it created (with empty base chains); drop those that are new.
  const was = new Set(record.before.nftTables);
  for (const table of await nftTables()) {
    if (was.has(table)) continue;
    const listing = await run('nft', ['-j', 'list', 'table', ...table.split(' ')]);
    const objects = (JSON.parse(listing.stdout || '{"nftables":[]}') as { nftables: object[] })
      .nftables;
    if (objects.some((o) => 'rule' in o || 'set' in o || 'map' in o)) {
      log(`nft table ${table} is new but holds rules or sets; left in place`);
      continue;
    }
    await run('nft', ['delete', 'table', ...table.split(' ')]);
  }
}

async function unmountUnder(prefixes: readonly string[], log: Log): Promise<void> {
  const under = (mp: string): boolean => prefixes.some((p) => mp === p || mp.startsWith(`${p}/`));
  for (let round = 0; round < 5; round++) {
    const mounts = (await readMounts())
      .map((m) => m.mountPoint)
      .filter(under)
      .sort((a, b) => b.length - a.length);
    if (mounts.length === 0) return;
    if (round === 0) log(`unmounting ${mounts.length} mounts`);
    for (const mp of mounts) {
      if ((await run('umount', [mp])).code !== 0) await run('umount', ['-l', mp]);
    }
  }
  throw new Error(`mounts under ${prefixes.join(', ')} survive unmounting`);
}

/** rm -rf that refuses to cross into a mount: a bind of a host path must never be emptied. */
async function removeTree(path: string): Promise<void> {
  const mounted = (await readMounts()).some(
    (m) => m.mountPoint === path || m.mountPoint.startsWith(`${path}/`),
  );
  if (mounted) throw new Error(`refusing to remove ${path}: something is still mounted under it`);
  await rm(path, { recursive: true, force: true });
}

async function deleteLinks(record: NodeRecord, log: Log): Promise<void> {
  const was = new Set(record.before.links.map((l) => l.split(' ')[0]));
  const links = JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout || '[]') as {
    ifname: string;
    master?: string;
  }[];
  const ours = links.filter(
    (l) =>
      !was.has(l.ifname) &&
      (l.ifname === 'cni0' || l.master === 'cni0' || l.ifname === record.nodeLink),
  );
  for (const link of ours) {
    await run('ip', ['link', 'delete', link.ifname]);
  }
  if (ours.length) log(`deleted links ${ours.map((l) => l.ifname).join(' ')}`);
}

async function removeCgroups(record: NodeRecord): Promise<void> {
  const was = new Set(record.before.cgroups);
  for (let round = 0; round < 50; round++) {
    const left = (await kubepodsCgroups()).filter((d) => !was.has(d));
    if (left.length === 0) return;
    for (const dir of left.sort((a, b) => b.length - a.length)) {
      await rmdir(dir).catch(() => undefined);
    }
    await sleep(100);
  }
  throw new Error(
    `kubepods cgroups cannot be removed: ${(await kubepodsCgroups()).slice(0, 5).join(' ')}`,
  );
}

async function restoreSysctls(record: NodeRecord, log: Log): Promise<void> {
  for (const [key, value] of Object.entries(record.before.sysctls)) {
    const file = join('/proc/sys', key.replaceAll('.', '/'));
    const now = (await readFile(file, 'utf8').catch(() => undefined))?.trim().replace(/\s+/g, ' ');
    if (now === undefined || now === value) continue;
    await writeFile(file, value);
    log(`sysctl ${key} restored to ${value}`);
  }
}

/**
 * Stops every process of the node and returns the host to the recorded state. Returns how the
 * host still differs from the record (empty when it is as it was).
 */
export async function teardownNode(record: NodeRecord, log: Log): Promise<string[]> {
  const byName = new Map(record.processes.map((p) => [p.name, p]));
  const kubelet = byName.get('kubelet');
  if (kubelet) await stopProcess(kubelet, 10_000);
  const containerd = byName.get('containerd');
  if (containerd && (await isAlive(containerd)) && existsSync(record.binaries.crictl)) {
    // Stops and removes every pod sandbox: CNI DEL frees the address and the veth, and the
    // network namespace and shm mounts go with it.
    const res = await run(
      record.binaries.crictl,
      ['--runtime-endpoint', `unix://${record.containerdSocket}`, '--timeout', '60s', 'rmp', '-fa'],
      { timeoutMs: 120_000 },
    );
    if (res.code !== 0) log(`crictl rmp -fa failed (continuing): ${res.stderr.trim()}`);
  }
  for (const name of STOP_ORDER) {
    const p = byName.get(name);
    if (p) await stopProcess(p, name === 'containerd' ? 10_000 : 5_000);
  }
  await killLeftoverProcesses(record, log);
  if (existsSync(record.binaries.kubeProxy)) {
    await run(record.binaries.kubeProxy, ['--cleanup', '--v=0']);
  }
  await cleanIptables(record, log);
  const fixedPathsNew = FIXED_PATHS.filter((p) => !record.before.paths[p]);
  await unmountUnder([record.dir, ...FIXED_PATHS], log);
  await deleteLinks(record, log);
  await removeCgroups(record);
  await restoreSysctls(record, log);
  for (const path of fixedPathsNew) await removeTree(path);
  if (record.ownDir) await removeTree(record.dir);
  const diff = diffHostState(record.before, await snapshotHost());
  await removeRecord();
  return diff;
}

/** The lock holders that are not this process, with their command names, for messages. */
export async function describeHolders(): Promise<string> {
  const out: string[] = [];
  for (const pid of await lockHolders()) {
    if (pid === process.pid) continue;
    const exe = await readlink(`/proc/${pid}/exe`).catch(() => '?');
    out.push(`${pid} (${exe})`);
  }
  return out.join(', ');
}
