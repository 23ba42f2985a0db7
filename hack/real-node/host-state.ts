// A snapshot of everything on the host that a real node can change, taken before it starts and
// compared after teardown: kubepods cgroups, mounts, links, routes, iptables rules, nf_tables
// tables, the sysctls the node's components set, and the fixed paths they write outside the
// state directory.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../lib/processes.ts';

export interface HostState {
  /** `<hierarchy mount>/kubepods...` directories in every mounted cgroup hierarchy. */
  readonly cgroups: readonly string[];
  /** `<mount point> <fstype> <source>` of every mount this process sees. */
  readonly mounts: readonly string[];
  /** `<name> <kind>` of every link. */
  readonly links: readonly string[];
  /** `ip route show table all`, IPv4 and IPv6. */
  readonly routes: readonly string[];
  /** iptables-save / ip6tables-save without comments and counters, per family. */
  readonly iptables: Readonly<Record<'ipv4' | 'ipv6', readonly string[]>>;
  /** `<family> <name>` of every nf_tables table. */
  readonly nftTables: readonly string[];
  readonly sysctls: Readonly<Record<string, string>>;
  /** Whether each path that the kubelet, containerd or CNI write outside the state dir exists. */
  readonly paths: Readonly<Record<string, boolean>>;
}

/**
 * Paths the node's components use whatever their configuration says (the device-plugin socket
 * directory, container log links, shim sockets, the CNI result cache); teardown removes those
 * that were not there before.
 */
export const FIXED_PATHS = [
  '/var/lib/kubelet/device-plugins',
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/run/containerd/s',
  '/run/containerd',
  '/var/lib/cni',
  '/var/lib/containerd',
  '/opt/containerd',
  '/run/nri',
  '/etc/cni',
  '/opt/cni',
  // The chart's default agent.stateHostPath (the ledger survives agent restarts there).
  '/var/lib/agentmeter',
] as const;

/**
 * Sysctls the node changes: forwarding and bridge netfilter (set by this harness and the bridge
 * plugin), the kernel tunables the kubelet sets when protectKernelDefaults is off, and the
 * per-interface defaults a CNI plugin could touch.
 */
const SYSCTL_FILES = [
  'net/ipv4/ip_forward',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/netfilter/nf_conntrack_max',
  'net/netfilter/nf_conntrack_tcp_timeout_established',
  'net/netfilter/nf_conntrack_tcp_timeout_close_wait',
];
const SYSCTL_DIRS = [
  'net/bridge',
  'net/ipv4/conf/all',
  'net/ipv4/conf/default',
  'net/ipv6/conf/all',
  'net/ipv6/conf/default',
];

async function readSysctls(): Promise<Record<string, string>> {
  const files = [...SYSCTL_FILES];
  for (const dir of SYSCTL_DIRS) {
    const names = await readdir(join('/proc/sys', dir)).catch(() => []);
    files.push(...names.map((n) => `${dir}/${n}`));
  }
  const out: Record<string, string> = {};
  for (const file of files.sort()) {
    const value = await readFile(join('/proc/sys', file), 'utf8').catch(() => undefined);
    if (value !== undefined) out[file.replaceAll('/', '.')] = value.trim().replace(/\s+/g, ' ');
  }
  return out;
}

interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

/** /proc/self/mountinfo, parsed (octal escapes in paths decoded). */
export async function readMounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const unescape = (s: string): string =>
    s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pre, post = ''] = line.split(' - ');
      const fields = (pre ?? '').split(' ');
      const [fsType = '', source = ''] = post.split(' ');
      return { mountPoint: unescape(fields[4] ?? ''), fsType, source: unescape(source) };
    });
}

/** The mount points of every cgroup hierarchy (v1 controllers, name=systemd, cgroup2). */
export async function cgroupHierarchies(): Promise<string[]> {
  return (await readMounts())
    .filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2')
    .map((m) => m.mountPoint);
}

async function walkDirs(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const path = join(dir, e.name);
    out.push(path);
    await walkDirs(path, out);
  }
}

/** Every kubepods cgroup directory, deepest paths after their parents. */
export async function kubepodsCgroups(): Promise<string[]> {
  const out: string[] = [];
  for (const root of await cgroupHierarchies()) {
    const tops = await readdir(root, { withFileTypes: true }).catch(() => []);
    for (const top of tops) {
      if (!top.isDirectory() || !top.name.startsWith('kubepods')) continue;
      out.push(join(root, top.name));
      await walkDirs(join(root, top.name), out);
    }
  }
  return out;
}

/** iptables-save output reduced to what defines the rules: no comments, no counters. */
export function normaliseIptablesSave(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}

async function iptablesRules(binary: string): Promise<string[]> {
  const res = await run(binary, []);
  if (res.code !== 0) throw new Error(`${binary} failed: ${res.stderr.trim()}`);
  return normaliseIptablesSave(res.stdout);
}

export async function nftTables(): Promise<string[]> {
  const res = await run('nft', ['list', 'tables']);
  if (res.code !== 0) throw new Error(`nft list tables failed: ${res.stderr.trim()}`);
  return res.stdout
    .split('\n')
    .filter((l) => l.startsWith('table '))
    .map((l) => l.slice('table '.length).trim())
    .sort();
}

interface IpLink {
  ifname: string;
  linkinfo?: { info_kind?: string };
}

export async function snapshotHost(): Promise<HostState> {
  const links = JSON.parse(
    (await run('ip', ['-d', '-j', 'link', 'show'])).stdout || '[]',
  ) as IpLink[];
  const routes = [
    ...(await run('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout.split('\n'),
    ...(await run('ip', ['-6', 'route', 'show', 'table', 'all'])).stdout.split('\n'),
  ]
    .filter(Boolean)
    .sort();
  const paths: Record<string, boolean> = {};
  for (const p of FIXED_PATHS) paths[p] = existsSync(p);
  return {
    cgroups: (await kubepodsCgroups()).sort(),
    mounts: (await readMounts()).map((m) => `${m.mountPoint} ${m.fsType} ${m.source}`).sort(),
    links: links.map((l) => `${l.ifname} ${l.linkinfo?.info_kind ?? 'device'}`).sort(),
    routes,
    iptables: {
      ipv4: await iptablesRules('iptables-save'),
      ipv6: await iptablesRules('ip6tables-save'),
    },
    nftTables: await nftTables(),
    sysctls: await readSysctls(),
    paths,
  };
}

function listDiff(what: string, before: readonly string[], after: readonly string[]): string[] {
  const was = new Set(before);
  const is = new Set(after);
  return [
    ...after.filter((x) => !was.has(x)).map((x) => `${what} added: ${x}`),
    ...before.filter((x) => !is.has(x)).map((x) => `${what} removed: ${x}`),
  ];
}

/** Every difference between two snapshots, one line each; empty when the host is as it was. */
export function diffHostState(before: HostState, after: HostState): string[] {
  const out = [
    ...listDiff('cgroup', before.cgroups, after.cgroups),
    ...listDiff('mount', before.mounts, after.mounts),
    ...listDiff('link', before.links, after.links),
    ...listDiff('route', before.routes, after.routes),
    ...listDiff('iptables rule', before.iptables.ipv4, after.iptables.ipv4),
    ...listDiff('ip6tables rule', before.iptables.ipv6, after.iptables.ipv6),
    ...listDiff('nft table', before.nftTables, after.nftTables),
  ];
  for (const key of new Set([...Object.keys(before.sysctls), ...Object.keys(after.sysctls)])) {
    if (before.sysctls[key] !== after.sysctls[key]) {
      out.push(`sysctl ${key}: ${before.sysctls[key]} -> ${after.sysctls[key]}`);
    }
  }
  for (const key of Object.keys(before.paths)) {
    if (before.paths[key] !== after.paths[key]) {
      out.push(
        `path ${key}: ${before.paths[key] ? 'existed' : 'absent'} -> ${after.paths[key] ? 'exists' : 'absent'}`,
      );
    }
  }
  return out;
}
