// A real single-node Kubernetes cluster on this machine, for the cluster suites and the demo:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd with runc, the
// kubelet, kube-proxy, the bridge CNI and CoreDNS, all under one state directory. Everything
// listens on loopback or on the node's own address, a TEST-NET address on a link of its own, which
// the apiserver also advertises so that pods reach it through the `kubernetes` Service.
//
//   node hack/real-node.ts up [--keep] [--dir DIR]   start; without --keep, Ctrl-C stops it
//   node hack/real-node.ts down                      stop a node left up with --keep
//   node hack/real-node.ts restart [--down-ms N]     power-cut the recorded node (daemons and
//                                                    pods) and start it on the same state dir
//
// Only one node may run on a machine: the whole node holds flock(2) on LOCK_PATH (see
// real-node/lock.ts). Needs root. Binaries come from hack/build-control-plane.sh and
// hack/build-node.sh, images from hack/build-images.sh.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import {
  ensureBinaries,
  newTokenUser,
  startControlPlane,
  type TokenUser,
} from './control-plane.ts';
import {
  ComponentError,
  freePort,
  launch,
  probe,
  runChecked,
  runScript,
  sleep,
  waitReady,
  type Running,
} from './lib/processes.ts';
import {
  cniConflist,
  containerdConfig,
  kubeletConfig,
  kubeProxyConfig,
  paths,
  tokenKubeconfig,
  type NodeLayout,
} from './real-node/config.ts';
import { COREDNS_IMAGE, corednsManifests } from './real-node/coredns.ts';
import { snapshotHost } from './real-node/host-state.ts';
import {
  isAlive,
  LOCK_PATH,
  processStartTime,
  readRecord,
  tryLock,
  writeRecord,
  type HeldLock,
  type NodeProcess,
  type NodeRecord,
} from './real-node/lock.ts';
import { makeNodePki } from './real-node/pki.ts';
import { restartRecordedNode } from './real-node/restart.ts';
import { describeHolders, teardownNode } from './real-node/teardown.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The sandbox image containerd pins; built by hack/build-images.sh like every other image. */
export const PAUSE_IMAGE = 'agentmeter.local/pause:3.10';

/** The binaries a caller drives the node with. */
export interface NodeBinaries {
  readonly kubectl: string;
  readonly crictl: string;
  readonly ctr: string;
}

/** What a test or the demo needs to use the node; serialisable to JSON. */
export interface RealNodeInfo {
  readonly dir: string;
  readonly nodeName: string;
  /** The node's InternalIP, where the apiserver and the kubelet listen. */
  readonly nodeAddress: string;
  readonly server: string;
  readonly caFile: string;
  /** Admin (system:masters) kubeconfig. */
  readonly kubeconfig: string;
  /** kubeconfig of an ordinary user with no RBAC grants. */
  readonly userKubeconfig: string;
  readonly binaries: NodeBinaries;
  readonly containerdSocket: string;
  /** The kubelet's PodResources socket (GPU metering). */
  readonly podResourcesSocket: string;
  /** The kubelet's root directory (the device-plugin registration socket is fixed, though). */
  readonly kubeletRoot: string;
  /** The apiserver's client certificate at the kubelet, for reading the kubelet directly. */
  readonly kubeletClientCert: string;
  readonly kubeletClientKey: string;
  readonly clusterCidr: string;
  readonly serviceCidr: string;
  readonly clusterDns: string;
  readonly clusterDomain: string;
  /** NAME -> image ref of every image imported into containerd. */
  readonly images: Readonly<Record<string, string>>;
}

export interface RealNode extends RealNodeInfo {
  /**
   * Stops the node and puts the host back as it was; returns how the host still differs from
   * its state before the node started (empty when it is the same).
   */
  stop(): Promise<string[]>;
}

export interface RealNodeOptions {
  /** Keep state here (removed on stop only if this call made it); a fresh directory otherwise. */
  readonly dir?: string;
  /** The node outlives this process (`up --keep`); only `down` stops it. */
  readonly keep?: boolean;
  /** Images to import besides pause and CoreDNS (names known to hack/build-images.sh). */
  readonly images?: readonly string[];
  readonly log?: (line: string) => void;
  readonly startTimeoutMs?: number;
}

/** A node that cannot start: says which step failed and why. */
export class RealNodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RealNodeError';
  }
}

// The cluster's addresses: TEST-NET-2 for the node (this VM's eth0 may already hold TEST-NET-1
// addresses) and ranges that leave 10.255.255.53, the VM's resolver, outside every rule.
const NODE_ADDRESS = '198.51.100.2';
const NODE_LINK = 'agentmeter0';
const NODE_LINK_PEER = 'agentmeter1';
const CLUSTER_CIDR = '10.244.0.0/16';
const SERVICE_CIDR = '10.96.0.0/16';
const CLUSTER_DNS = '10.96.0.10';
const CLUSTER_DOMAIN = 'cluster.local';

const defaultLog = (line: string): void => {
  process.stderr.write(`[real-node] ${line}\n`);
};

/** `NAME VALUE...` lines (the build scripts' stdout) as a map of NAME to the rest of the line. */
export function parseNameLines(output: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const [name, ...rest] = line.trim().split(/\s+/);
    if (name && rest.length) out.set(name, rest);
  }
  return out;
}

function required(map: Map<string, string[]>, name: string, script: string): string {
  const value = map.get(name)?.[0];
  if (!value) throw new RealNodeError(`${script} printed no line for ${name}`);
  return value;
}

interface Built {
  readonly kubelet: string;
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
  readonly kubeProxy: string;
  readonly containerd: string;
  readonly ctr: string;
  readonly runc: string;
  readonly cniDir: string;
  readonly crictl: string;
}

async function buildNodeBinaries(log: (line: string) => void): Promise<Built> {
  const script = join(repoRoot, 'hack', 'build-node.sh');
  const lines = parseNameLines(await runScript(script, [], 'build-node', log));
  const get = (name: string): string => required(lines, name, 'hack/build-node.sh');
  return {
    kubelet: get('kubelet'),
    kubeControllerManager: get('kube-controller-manager'),
    kubeScheduler: get('kube-scheduler'),
    kubeProxy: get('kube-proxy'),
    containerd: get('containerd'),
    ctr: get('ctr'),
    runc: get('runc'),
    cniDir: get('cni'),
    crictl: get('crictl'),
  };
}

/** Runs hack/build-images.sh for `names`; returns NAME -> { ref, tarball }. */
async function buildImages(
  names: readonly string[],
  log: (line: string) => void,
): Promise<Map<string, { ref: string; tarball: string }>> {
  const script = join(repoRoot, 'hack', 'build-images.sh');
  if (!existsSync(script)) {
    throw new RealNodeError(`${script} is missing: the node's images cannot be built`);
  }
  const lines = parseNameLines(await runScript(script, names, 'build-images', log));
  const out = new Map<string, { ref: string; tarball: string }>();
  for (const name of names) {
    const [ref, tarball] = lines.get(name) ?? [];
    if (!ref || !tarball)
      throw new RealNodeError(`hack/build-images.sh printed no line for ${name}`);
    out.set(name, { ref, tarball });
  }
  return out;
}

/** Waits for `check`, failing with `what` after the timeout. */
async function until(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new RealNodeError(`${what}: not so after ${timeoutMs} ms`);
    await sleep(250);
  }
}

/**
 * Takes the machine's node lock. A node whose starter died without --keep is an orphan: it is
 * torn down (from its record) and the lock taken again. A node that is still wanted is refused.
 */
async function acquireLock(log: (line: string) => void): Promise<HeldLock> {
  const lock = await tryLock();
  const record = await readRecord();
  const restarting = record?.restarter !== undefined && (await isAlive(record.restarter));
  if (lock && restarting) {
    // The recorded node is down for a restart (real-node/restart.ts) and is coming back.
    lock.release();
    throw new RealNodeError(
      `another real node holds ${LOCK_PATH} (it is being restarted by process ${record.restarter?.pid})`,
    );
  }
  if (lock) {
    if (record) {
      log(`cleaning up after an earlier node in ${record.dir} (its processes are gone)`);
      reportLeftovers(await teardownNode(record, log), log);
    }
    return lock;
  }
  const ownerAlive =
    record !== undefined &&
    (await isAlive({ pid: record.ownerPid, startTime: record.ownerStartTime }));
  if (record && !record.keep && !ownerAlive) {
    log(`tearing down an orphaned node in ${record.dir} (its starter ${record.ownerPid} is gone)`);
    reportLeftovers(await teardownNode(record, log), log);
    const again = await tryLock();
    if (again) return again;
  }
  throw new RealNodeError(
    `another real node holds ${LOCK_PATH} (processes ${await describeHolders()})` +
      (record?.keep
        ? '; it was started with --keep: stop it with `node hack/real-node.ts down`'
        : ''),
  );
}

function reportLeftovers(diff: readonly string[], log: (line: string) => void): void {
  if (diff.length) log(`the host still differs from before that node:\n  ${diff.join('\n  ')}`);
}

async function track(running: Running): Promise<NodeProcess> {
  const pid = running.child.pid;
  const startTime = pid === undefined ? undefined : await processStartTime(pid);
  if (pid === undefined || startTime === undefined) {
    throw new ComponentError(running.name, 'exited at once', running.logFile);
  }
  return { name: running.name, pid, startTime };
}

export async function startRealNode(options: RealNodeOptions = {}): Promise<RealNode> {
  const log = options.log ?? defaultLog;
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  if (process.getuid?.() !== 0) {
    throw new RealNodeError(
      'a real node needs root (cgroups, mounts, network links, iptables); run as root',
    );
  }
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;

  const lock = await acquireLock(log);
  let record: NodeRecord | undefined;
  try {
    const cp = await ensureBinaries(log);
    const built = await buildNodeBinaries(log);
    const imageNames = ['pause', 'coredns', ...(options.images ?? [])];
    const images = await buildImages(imageNames, log);
    if (images.get('pause')?.ref !== PAUSE_IMAGE || images.get('coredns')?.ref !== COREDNS_IMAGE) {
      throw new RealNodeError(
        `hack/build-images.sh built ${images.get('pause')?.ref} and ${images.get('coredns')?.ref}, expected ${PAUSE_IMAGE} and ${COREDNS_IMAGE}`,
      );
    }
    log(`binaries and images ready (${elapsed()})`);

    const before = await snapshotHost();
    const ownDir = options.dir === undefined;
    const dir = options.dir ?? (await mkdtemp('/var/tmp/agentmeter-node-'));
    const p = paths(dir);
    for (const d of [
      join(dir, 'config'),
      join(dir, 'pki'),
      p.cniConfDir,
      p.containerdRoot,
      p.containerdState,
      p.kubeletRoot,
      p.podLogs,
    ]) {
      await mkdir(d, { recursive: true });
    }
    const processes: NodeProcess[] = [];
    const self = await processStartTime(process.pid);
    const initial: NodeRecord = {
      ownerPid: process.pid,
      ownerStartTime: self ?? '',
      keep: options.keep === true,
      dir,
      ownDir,
      before,
      nodeLink: NODE_LINK,
      containerdSocket: p.containerdSocket,
      binaries: { kubeProxy: built.kubeProxy, crictl: built.crictl },
      processes,
    };
    record = initial;
    // Written before the host is touched: whatever happens next, a teardown knows what to undo.
    await writeRecord(record);
    const launched = async (running: Running): Promise<void> => {
      processes.push(await track(running));
      await writeRecord({ ...initial, processes: [...processes] });
    };

    // A veth pair rather than a dummy link: these VMs' kernels have no dummy driver. Deleting
    // one end deletes both.
    await runChecked('ip', [
      'link',
      'add',
      NODE_LINK,
      'type',
      'veth',
      'peer',
      'name',
      NODE_LINK_PEER,
    ]);
    await runChecked('ip', ['addr', 'add', `${NODE_ADDRESS}/32`, 'dev', NODE_LINK]);
    await runChecked('ip', ['link', 'set', NODE_LINK_PEER, 'up']);
    await runChecked('ip', ['link', 'set', NODE_LINK, 'up']);
    // Pods reach Services and each other through the host's routing; teardown restores it.
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1');

    const pki = await makeNodePki(dir);
    const users = {
      kubelet: newTokenUser(`system:node:${nodeName()}`, ['system:nodes']),
      kubeProxy: newTokenUser('system:kube-proxy', []),
      controllerManager: newTokenUser('system:kube-controller-manager', []),
      scheduler: newTokenUser('system:kube-scheduler', []),
    };
    const plane = await startControlPlane({
      dir: join(dir, 'control-plane'),
      binaries: cp,
      log,
      address: NODE_ADDRESS,
      forNode: true,
      serviceClusterIpRange: SERVICE_CIDR,
      extraUsers: Object.values(users),
      extraFds: [lock.fd],
      extraApiserverArgs: [
        `--kubelet-client-certificate=${pki.kubeletClientCert}`,
        `--kubelet-client-key=${pki.kubeletClientKey}`,
        // The node's hostname resolves to loopback here, which the apiserver refuses to proxy to.
        '--kubelet-preferred-address-types=InternalIP',
      ],
    });
    for (const running of plane.running()) await launched(running);
    log(`control plane ready at ${plane.server} (${elapsed()})`);

    const kubeconfigOf = async (file: string, user: TokenUser): Promise<string> => {
      await writeFile(
        file,
        stringify(tokenKubeconfig(plane.server, plane.caFile, user.name, user.token)),
        { mode: 0o600 },
      );
      return file;
    };
    const fds = { extraFds: [lock.fd] };
    const layout: NodeLayout = {
      dir,
      nodeName: nodeName(),
      nodeAddress: NODE_ADDRESS,
      clusterCidr: CLUSTER_CIDR,
      serviceCidr: SERVICE_CIDR,
      clusterDns: CLUSTER_DNS,
      clusterDomain: CLUSTER_DOMAIN,
      pauseImage: PAUSE_IMAGE,
      runc: built.runc,
      cniBinDir: built.cniDir,
      kubeletHealthzPort: await freePort(),
      kubeProxyHealthzPort: await freePort(),
      kubeProxyMetricsPort: await freePort(),
    };

    // Controller-manager and scheduler: serving on loopback, probed on their healthz.
    const kcmPort = await freePort();
    const kcm = launch(
      'kube-controller-manager',
      built.kubeControllerManager,
      [
        `--kubeconfig=${await kubeconfigOf(p.controllerManagerKubeconfig, users.controllerManager)}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        '--leader-elect=false',
        '--allocate-node-cidrs=true',
        `--cluster-cidr=${CLUSTER_CIDR}`,
        '--node-cidr-mask-size=24',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--service-account-private-key-file=${plane.serviceAccountKeyFile}`,
        `--root-ca-file=${plane.caFile}`,
        '--use-service-account-credentials=true',
        `--flex-volume-plugin-dir=${p.flexVolumeDir}`,
        `--cert-dir=${join(dir, 'kcm-pki')}`,
        '--v=1',
      ],
      join(dir, 'kube-controller-manager.log'),
      fds,
    );
    await launched(kcm);
    const schedPort = await freePort();
    const scheduler = launch(
      'kube-scheduler',
      built.kubeScheduler,
      [
        `--kubeconfig=${await kubeconfigOf(p.schedulerKubeconfig, users.scheduler)}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${schedPort}`,
        '--leader-elect=false',
        `--cert-dir=${join(dir, 'scheduler-pki')}`,
        '--v=1',
      ],
      join(dir, 'kube-scheduler.log'),
      fds,
    );
    await launched(scheduler);

    // containerd finds its runc shim on PATH.
    await writeFile(p.containerdConfig, containerdConfig(layout));
    const containerd = launch(
      'containerd',
      built.containerd,
      ['--config', p.containerdConfig, '--log-level', 'warn'],
      join(dir, 'containerd.log'),
      { ...fds, env: { ...process.env, PATH: `${dirname(built.containerd)}:${process.env.PATH}` } },
    );
    await launched(containerd);
    const ctr = (args: readonly string[]): Promise<string> =>
      runChecked(built.ctr, ['--address', p.containerdSocket, '--namespace', 'k8s.io', ...args]);
    await waitReady(containerd, timeoutMs, async () => (await ctr(['version'])).length > 0);
    await waitReady(kcm, timeoutMs, async () => {
      return (
        (await probe(`https://127.0.0.1:${kcmPort}/healthz`, { insecure: true })).status === 200
      );
    });
    await waitReady(scheduler, timeoutMs, async () => {
      return (
        (await probe(`https://127.0.0.1:${schedPort}/healthz`, { insecure: true })).status === 200
      );
    });
    log(`containerd, controller-manager and scheduler ready (${elapsed()})`);

    const importOne = async (name: string, ref: string, tarball: string): Promise<void> => {
      await ctr(['images', 'import', '--platform', 'linux/amd64', tarball]);
      const listed = await ctr(['images', 'ls', '-q']);
      if (!listed.split('\n').includes(ref)) {
        throw new RealNodeError(`image ${name}: ${tarball} imported, but ${ref} is not listed`);
      }
    };
    const imageRefs: Record<string, string> = {};
    for (const [name, { ref, tarball }] of images) {
      await importOne(name, ref, tarball);
      imageRefs[name] = ref;
    }
    log(`imported ${Object.values(imageRefs).join(', ')} (${elapsed()})`);

    await writeFile(p.kubeletConfig, stringify(kubeletConfig(layout)));
    const kubelet = launch(
      'kubelet',
      built.kubelet,
      [
        `--config=${p.kubeletConfig}`,
        `--kubeconfig=${await kubeconfigOf(p.kubeletKubeconfig, users.kubelet)}`,
        `--root-dir=${p.kubeletRoot}`,
        `--cert-dir=${p.kubeletCerts}`,
        `--node-ip=${NODE_ADDRESS}`,
        // cadvisor (inside the kubelet) asks containerd for each container's pod and name at its
        // own default socket; without this, /metrics/cadvisor has no labels on container series.
        `--containerd=${p.containerdSocket}`,
        '--v=1',
      ],
      join(dir, 'kubelet.log'),
      fds,
    );
    await launched(kubelet);
    await kubeconfigOf(p.kubeProxyKubeconfig, users.kubeProxy);
    await writeFile(p.kubeProxyConfig, stringify(kubeProxyConfig(layout)));
    const kubeProxy = launch(
      'kube-proxy',
      built.kubeProxy,
      [`--config=${p.kubeProxyConfig}`, '--v=1'],
      join(dir, 'kube-proxy.log'),
      fds,
    );
    await launched(kubeProxy);

    const kubectl = (args: readonly string[], input?: string): Promise<string> =>
      runChecked(cp.kubectl, ['--kubeconfig', plane.kubeconfig, ...args], { input });
    await waitReady(kubelet, timeoutMs, async () => {
      const res = await probe(`http://127.0.0.1:${layout.kubeletHealthzPort}/healthz`);
      return res.status === 200;
    });
    // The controller-manager gives the node its pod range; the CNI network is written from it.
    let podCidr = '';
    await waitReady(
      kubelet,
      timeoutMs,
      async () => {
        podCidr = await kubectl(['get', 'node', layout.nodeName, '-o', 'jsonpath={.spec.podCIDR}']);
        return podCidr.length > 0;
      },
      'given a podCIDR',
    );
    await writeFile(
      join(p.cniConfDir, '10-agentmeter.conflist'),
      JSON.stringify(cniConflist(layout, podCidr), null, 2),
    );
    await waitReady(
      kubelet,
      timeoutMs,
      async () =>
        (await kubectl([
          'get',
          'node',
          layout.nodeName,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ])) === 'True',
      'Ready',
    );
    await waitReady(kubeProxy, timeoutMs, async () => {
      const res = await probe(`http://127.0.0.1:${layout.kubeProxyHealthzPort}/healthz`);
      return res.status === 200;
    });
    log(`node ${layout.nodeName} Ready with pods in ${podCidr} (${elapsed()})`);

    const manifests = corednsManifests({ clusterDns: CLUSTER_DNS, clusterDomain: CLUSTER_DOMAIN });
    await kubectl(['apply', '-f', '-'], manifests.map((m) => stringify(m)).join('---\n'));
    await until('CoreDNS available', timeoutMs, async () => {
      const out = await kubectl([
        'get',
        'deployment',
        'coredns',
        '-n',
        'kube-system',
        '-o',
        'jsonpath={.status.availableReplicas}',
      ]);
      return out === '1';
    });
    log(`CoreDNS serving ${CLUSTER_DOMAIN} at ${CLUSTER_DNS} (${elapsed()})`);

    const info: RealNodeInfo = {
      dir,
      nodeName: layout.nodeName,
      nodeAddress: NODE_ADDRESS,
      server: plane.server,
      caFile: plane.caFile,
      kubeconfig: plane.kubeconfig,
      userKubeconfig: plane.userKubeconfig,
      binaries: { kubectl: cp.kubectl, crictl: built.crictl, ctr: built.ctr },
      containerdSocket: p.containerdSocket,
      podResourcesSocket: p.podResourcesSocket,
      kubeletRoot: p.kubeletRoot,
      kubeletClientCert: pki.kubeletClientCert,
      kubeletClientKey: pki.kubeletClientKey,
      clusterCidr: CLUSTER_CIDR,
      serviceCidr: SERVICE_CIDR,
      clusterDns: CLUSTER_DNS,
      clusterDomain: CLUSTER_DOMAIN,
      images: imageRefs,
    };
    await writeFile(join(dir, 'real-node.json'), JSON.stringify(info, null, 2));
    // The daemons hold the lock now; this process's descriptor is not needed for it.
    lock.release();
    return {
      ...info,
      stop: async () => {
        const stopStarted = Date.now();
        // No record: the node was torn down already (by `down` or the cluster teardown suite).
        const current = await readRecord();
        if (current?.dir !== initial.dir) return [];
        const diff = await teardownNode(current, log);
        log(`node stopped and host restored in ${((Date.now() - stopStarted) / 1000).toFixed(1)}s`);
        return diff;
      },
    };
  } catch (err) {
    log(`start failed, tearing down: ${err instanceof Error ? err.message : String(err)}`);
    const current = (await readRecord()) ?? record;
    if (current) reportLeftovers(await teardownNode(current, log), log);
    lock.release();
    throw err instanceof RealNodeError || err instanceof ComponentError
      ? err
      : new RealNodeError(`the real node did not start: ${String(err)}`, { cause: err });
  }
}

const LOCK_RETRY_MS = 15_000;

/**
 * Starts the node, waiting up to `waitMs` while another run holds the machine's node lock: on a
 * shared machine that is a queue, not a failure. Its holder is named while waiting and when
 * giving up; it is never stopped from here.
 */
export async function startRealNodeWhenFree(
  options: RealNodeOptions,
  waitMs: number,
): Promise<RealNode> {
  const log = options.log ?? defaultLog;
  const deadline = Date.now() + waitMs;
  let said = '';
  for (;;) {
    try {
      return await startRealNode(options);
    } catch (err) {
      const busy = err instanceof RealNodeError && err.message.startsWith('another real node');
      if (!busy) throw err;
      if (Date.now() + LOCK_RETRY_MS > deadline) {
        throw new RealNodeError(`gave up after waiting ${waitMs} ms: ${err.message}`);
      }
      if (err.message !== said) {
        log(`waiting for the node lock: ${err.message}`);
        said = err.message;
      }
      await sleep(LOCK_RETRY_MS);
    }
  }
}

/** The node is named for the machine, as kubeadm does; /etc/hosts maps it to this machine. */
function nodeName(): string {
  return hostname().toLowerCase();
}

/**
 * Stops the node described by the record: one left up with `up --keep`, or (`evenIfOwned`) one
 * whose starter still runs, as the cluster project's teardown suite does from a test worker.
 * Returns how the host differs from before the node, or undefined when no node is recorded.
 */
export async function stopRecordedNode(
  options: { evenIfOwned?: boolean; log?: (line: string) => void } = {},
): Promise<string[] | undefined> {
  const log = options.log ?? defaultLog;
  const record = await readRecord();
  if (!record) return undefined;
  const ownerAlive = await isAlive({ pid: record.ownerPid, startTime: record.ownerStartTime });
  if (ownerAlive && !record.keep && record.ownerPid !== process.pid && !options.evenIfOwned) {
    throw new RealNodeError(
      `the node in ${record.dir} belongs to process ${record.ownerPid}, which is running; stop that process instead`,
    );
  }
  return teardownNode(record, log);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const dirFlag = rest.indexOf('--dir');
  const dir = dirFlag >= 0 ? rest[dirFlag + 1] : undefined;
  if (command === 'up') {
    const keep = rest.includes('--keep');
    const node = await startRealNode({ keep, ...(dir === undefined ? {} : { dir }) });
    process.stdout.write(
      `node ${node.nodeName} Ready at ${node.nodeAddress}; state in ${node.dir}\n` +
        `export KUBECONFIG=${node.kubeconfig}\n` +
        `kubectl: ${node.binaries.kubectl}\n` +
        (keep ? 'Left running: `node hack/real-node.ts down` stops it.\n' : 'Ctrl-C stops it.\n'),
    );
    // The daemons run in process groups of their own and hold the lock; this process is done.
    if (keep) process.exit(0);
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    const diff = await node.stop();
    if (diff.length) throw new RealNodeError(`host differs after teardown:\n${diff.join('\n')}`);
    return;
  }
  if (command === 'down') {
    const diff = await stopRecordedNode();
    if (diff === undefined) {
      process.stdout.write('no real node is recorded on this machine\n');
      return;
    }
    if (diff.length) throw new RealNodeError(`host differs after teardown:\n${diff.join('\n')}`);
    process.stdout.write('node stopped; the host is as it was\n');
    return;
  }
  if (command === 'restart') {
    const downFlag = rest.indexOf('--down-ms');
    const downMs = downFlag >= 0 ? Number(rest[downFlag + 1]) : 0;
    await restartRecordedNode({ downMs });
    process.stdout.write('node restarted on its state directory\n');
    return;
  }
  throw new RealNodeError(
    'usage: node hack/real-node.ts up [--keep] [--dir DIR] | down | restart [--down-ms N]',
  );
}

if (process.argv[1] && resolve(process.argv[1]).endsWith(join('hack', 'real-node.ts'))) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
