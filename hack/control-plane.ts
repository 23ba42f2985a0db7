// Starts a real etcd and kube-apiserver for tests and the demo, and stops them. By default both
// listen on loopback only; the real test node (hack/real-node.ts) asks for the apiserver on its
// node address instead. Run directly (`node hack/control-plane.ts [--dir DIR]`) to keep one up
// until Ctrl-C, or import startControlPlane() from a test harness. Binaries come from
// hack/build-control-plane.sh.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import {
  ComponentError,
  freePort,
  launch,
  probe,
  runChecked,
  runScript,
  terminate,
  waitReady,
  type Running,
} from './lib/processes.ts';

/** The checkout this module runs from: found upward, so a bundle under dist/ finds it too. */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'hack', 'build-control-plane.sh'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('hack/build-control-plane.sh not found above this module');
    dir = parent;
  }
  return dir;
}

const repoRoot = findRepoRoot();

export interface Binaries {
  readonly kubeApiserver: string;
  readonly etcd: string;
  readonly kubectl: string;
}

/** A static-token user the apiserver knows; `groups` decide what RBAC grants it. */
export interface TokenUser {
  readonly name: string;
  readonly token: string;
  readonly groups: readonly string[];
}

/** What a test or the demo needs to reach the control plane; serialisable to JSON. */
export interface ControlPlaneInfo {
  readonly dir: string;
  readonly server: string;
  readonly caFile: string;
  /** kubeconfig whose current context is the admin (system:masters). */
  readonly kubeconfig: string;
  /** kubeconfig for an ordinary user with no RBAC grants. */
  readonly userKubeconfig: string;
  readonly admin: TokenUser;
  readonly user: TokenUser;
  readonly binaries: Binaries;
  readonly etcdUrl: string;
  readonly version: string;
  /** The key that signs ServiceAccount tokens (a controller-manager needs it too). */
  readonly serviceAccountKeyFile: string;
}

export interface ControlPlane extends ControlPlaneInfo {
  /** Stops the apiserver and etcd, keeping their data, so a fault test can restart them. */
  stopServers(): Promise<void>;
  /** Starts them again on the same ports with the same data. */
  startServers(): Promise<void>;
  /** The daemons running now, for a caller that records what to stop after a crash. */
  running(): Running[];
  /** Stops everything and removes the data directory unless it was given by the caller. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Keep state here (kept on stop); a fresh temporary directory otherwise (removed on stop). */
  readonly dir?: string;
  readonly binaries?: Binaries;
  readonly log?: (line: string) => void;
  readonly startTimeoutMs?: number;
  /** The address the apiserver binds to and advertises; loopback unless a real node needs one. */
  readonly address?: string;
  /** The apiserver's port; a free one by default. */
  readonly apiPort?: number;
  readonly serviceClusterIpRange?: string;
  /**
   * A controller-manager and kubelet will run: the ServiceAccount admission plugin stays on and
   * the Node authorizer joins RBAC.
   */
  readonly forNode?: boolean;
  /** More static-token users, e.g. the node's components. */
  readonly extraUsers?: readonly TokenUser[];
  readonly extraApiserverArgs?: readonly string[];
  /** Descriptors every daemon inherits (the real node's lock). */
  readonly extraFds?: readonly number[];
}

const defaultLog = (line: string): void => {
  process.stderr.write(`[control-plane] ${line}\n`);
};

/** Builds the binaries (or finds them in the cache) by running hack/build-control-plane.sh. */
export async function ensureBinaries(log = defaultLog): Promise<Binaries> {
  const script = join(repoRoot, 'hack', 'build-control-plane.sh');
  const output = await runScript(script, [], 'build', log);
  const [kubeApiserver, etcd, kubectl] = output.trim().split('\n').slice(-3);
  if (!kubeApiserver || !etcd || !kubectl) {
    throw new ComponentError('build', `unexpected build output: ${output}`);
  }
  return { kubeApiserver, etcd, kubectl };
}

export function kubeconfigFor(server: string, caFile: string, user: TokenUser): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'agentmeter-test', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: user.name, user: { token: user.token } }],
    contexts: [{ name: user.name, context: { cluster: 'agentmeter-test', user: user.name } }],
    'current-context': user.name,
  });
}

export function newTokenUser(name: string, groups: readonly string[]): TokenUser {
  return { name, token: randomBytes(24).toString('hex'), groups };
}

export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? defaultLog;
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const binaries = options.binaries ?? (await ensureBinaries(log));
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'agentmeter-cp-')));
  const address = options.address ?? '127.0.0.1';
  const pki = join(dir, 'pki');
  await mkdir(pki, { recursive: true });

  const admin = newTokenUser('admin', ['system:masters']);
  const user = newTokenUser('alice', ['agentmeter:tenants']);
  const tokensFile = join(pki, 'tokens.csv');
  await writeFile(
    tokensFile,
    [admin, user, ...(options.extraUsers ?? [])]
      .map((u) => `${u.token},${u.name},${u.name}-uid,"${u.groups.join(',')}"`)
      .join('\n') + '\n',
    { mode: 0o600 },
  );

  const saKey = join(pki, 'sa.key');
  const saPub = join(pki, 'sa.pub');
  if (!existsSync(saKey)) {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(saKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    await writeFile(saPub, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  }

  const [etcdClientPort, etcdPeerPort, apiPort] = [
    await freePort(),
    await freePort(),
    options.apiPort ?? (await freePort(address)),
  ];
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const server = `https://${address}:${apiPort}`;
  // With no serving certificate given, kube-apiserver writes a self-signed pair whose .crt holds
  // the leaf followed by its CA, so it doubles as the kubeconfig's certificate authority.
  const caFile = join(pki, 'apiserver.crt');
  const etcdLog = join(dir, 'etcd.log');
  const apiLog = join(dir, 'kube-apiserver.log');

  const etcdArgs = [
    `--name=agentmeter-test`,
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
    `--initial-cluster=agentmeter-test=http://127.0.0.1:${etcdPeerPort}`,
    // Test data is disposable; skipping fsync keeps etcd fast on shared CI disks.
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
  const apiArgs = [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${pki}`,
    `--secure-port=${apiPort}`,
    `--bind-address=${address}`,
    // Without it the apiserver advertises the default-route interface, which is not ours.
    `--advertise-address=${address}`,
    `--service-cluster-ip-range=${options.serviceClusterIpRange ?? '10.0.0.0/24'}`,
    '--allow-privileged=true',
    ...(options.forNode
      ? ['--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction']
      : [
          // No kube-controller-manager runs, so no namespace gets a default ServiceAccount.
          '--disable-admission-plugins=ServiceAccount',
          '--authorization-mode=RBAC',
        ]),
    `--token-auth-file=${tokensFile}`,
    `--service-account-issuer=https://${address}:${apiPort}`,
    `--service-account-key-file=${saPub}`,
    `--service-account-signing-key-file=${saKey}`,
    `--api-audiences=https://${address},agentmeter`,
    '--v=1',
    ...(options.extraApiserverArgs ?? []),
  ];

  let etcd: Running | undefined;
  let apiserver: Running | undefined;
  const launchOptions = { extraFds: options.extraFds ?? [] };

  const startServers = async (): Promise<void> => {
    log(`starting etcd on ${etcdUrl}`);
    const etcdNow = launch('etcd', binaries.etcd, etcdArgs, etcdLog, launchOptions);
    etcd = etcdNow;
    await waitReady(etcdNow, timeoutMs, async () => {
      const res = await probe(`${etcdUrl}/health`);
      return res.status === 200 && res.body.includes('"health":"true"');
    });
    log(`starting kube-apiserver on ${server}`);
    const apiNow = launch('kube-apiserver', binaries.kubeApiserver, apiArgs, apiLog, launchOptions);
    apiserver = apiNow;
    await waitReady(apiNow, timeoutMs, async () => {
      if (!existsSync(caFile)) return false;
      const res = await probe(`${server}/readyz`, {
        ca: await readFile(caFile),
        token: admin.token,
      });
      return res.status === 200;
    });
    log('kube-apiserver is ready');
  };

  const stopServers = async (): Promise<void> => {
    await terminate(apiserver);
    await terminate(etcd);
    apiserver = undefined;
    etcd = undefined;
  };

  try {
    await startServers();
  } catch (err) {
    await stopServers();
    throw err;
  }

  const kubeconfig = join(dir, 'kubeconfig');
  const userKubeconfig = join(dir, 'kubeconfig-user');
  await writeFile(kubeconfig, kubeconfigFor(server, caFile, admin), { mode: 0o600 });
  await writeFile(userKubeconfig, kubeconfigFor(server, caFile, user), { mode: 0o600 });
  const version = JSON.parse(
    (await probe(`${server}/version`, { ca: await readFile(caFile), token: admin.token })).body,
  ) as { gitVersion: string };

  const info: ControlPlaneInfo = {
    dir,
    server,
    caFile,
    kubeconfig,
    userKubeconfig,
    admin,
    user,
    binaries,
    etcdUrl,
    version: version.gitVersion,
    serviceAccountKeyFile: saKey,
  };
  await writeFile(join(dir, 'control-plane.json'), JSON.stringify(info, null, 2));

  return {
    ...info,
    stopServers,
    startServers,
    running: () => [etcd, apiserver].filter((r): r is Running => r !== undefined),
    stop: async () => {
      await stopServers();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const dirFlag = process.argv.indexOf('--dir');
  const dir = dirFlag >= 0 ? process.argv[dirFlag + 1] : undefined;
  const plane = await startControlPlane(dir === undefined ? {} : { dir });
  process.stdout.write(
    `kube-apiserver ${plane.version} ready at ${plane.server}\n` +
      `etcd: ${await runChecked(plane.binaries.etcd, ['--version']).then((v) => v.split('\n')[0])}\n` +
      `export KUBECONFIG=${plane.kubeconfig}\n` +
      `Ctrl-C stops it.\n`,
  );
  const shutdown = (): void => {
    void plane.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

// By name, not import.meta.url: bundled into a benchmark, this module shares the bundle's URL.
if (process.argv[1] && resolve(process.argv[1]).endsWith(join('hack', 'control-plane.ts'))) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
