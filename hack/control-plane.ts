// Starts a real etcd and kube-apiserver on loopback for tests and the demo, and stops them.
// Run directly (`node hack/control-plane.ts [--dir DIR]`) to keep one up until Ctrl-C, or import
// startControlPlane() from a test harness. Binaries come from hack/build-control-plane.sh.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

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

export class ControlPlaneError extends Error {
  readonly component: string;
  readonly logFile: string | undefined;
  constructor(component: string, message: string, logFile?: string) {
    super(`${component}: ${message}${logFile ? ` (log: ${logFile})` : ''}`);
    this.name = 'ControlPlaneError';
    this.component = component;
    this.logFile = logFile;
  }
}

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
}

export interface ControlPlane extends ControlPlaneInfo {
  /** Stops the apiserver and etcd, keeping their data, so a fault test can restart them. */
  stopServers(): Promise<void>;
  /** Starts them again on the same ports with the same data. */
  startServers(): Promise<void>;
  /** Stops everything and removes the data directory unless it was given by the caller. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Keep state here (kept on stop); a fresh temporary directory otherwise (removed on stop). */
  readonly dir?: string;
  readonly binaries?: Binaries;
  readonly log?: (line: string) => void;
  readonly startTimeoutMs?: number;
}

const defaultLog = (line: string): void => {
  process.stderr.write(`[control-plane] ${line}\n`);
};

/** Builds the binaries (or finds them in the cache) by running hack/build-control-plane.sh. */
export async function ensureBinaries(log = defaultLog): Promise<Binaries> {
  const script = join(repoRoot, 'hack', 'build-control-plane.sh');
  const output = await new Promise<string>((done, fail) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderrTail = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderrTail = (stderrTail + text).slice(-4000);
      for (const line of text.split('\n'))
        if (line.trim()) log(line.replace(/^\[control-plane\] /, ''));
    });
    child.on('error', (err) =>
      fail(new ControlPlaneError('build', `cannot run ${script}: ${err.message}`)),
    );
    child.on('close', (code) => {
      if (code === 0) done(stdout);
      else
        fail(
          new ControlPlaneError(
            'build',
            `hack/build-control-plane.sh exited with ${code}:\n${stderrTail}`,
          ),
        );
    });
  });
  const lines = output.trim().split('\n');
  const [kubeApiserver, etcd, kubectl] = lines.slice(-3);
  if (!kubeApiserver || !etcd || !kubectl) {
    throw new ControlPlaneError('build', `unexpected build output: ${output}`);
  }
  return { kubeApiserver, etcd, kubectl };
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

interface Probe {
  status: number;
  body: string;
}

function probeHttps(url: string, ca: Buffer, token: string): Promise<Probe> {
  return new Promise((done, fail) => {
    const req = request(
      url,
      { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2000 },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end();
  });
}

function probeHttp(url: string): Promise<Probe> {
  return new Promise((done, fail) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end();
  });
}

interface Running {
  child: ChildProcess;
  exited: Promise<number | null>;
}

function launch(name: string, binary: string, args: string[], logFile: string): Running {
  const out = createWriteStream(logFile, { flags: 'a' });
  // detached: its own process group, so a stop reaches every child it may have.
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<number | null>((done) => {
    child.on('exit', (code, signal) => done(code ?? (signal ? -1 : null)));
    child.on('error', (err) => {
      out.write(`spawn ${name} failed: ${err.message}\n`);
      done(-1);
    });
  });
  return { child, exited };
}

async function terminate(running: Running | undefined, timeoutMs = 10_000): Promise<void> {
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  const pid = running.child.pid;
  if (pid === undefined) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // The group is already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), timeoutMs);
  await running.exited;
  clearTimeout(timer);
}

async function waitFor(
  component: string,
  running: Running,
  logFile: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void running.exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15);
      throw new ControlPlaneError(
        component,
        `exited with ${exitCode} while starting:\n${tail.join('\n')}`,
        logFile,
      );
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new ControlPlaneError(component, `not ready after ${timeoutMs} ms`, logFile);
    }
    await sleep(200);
  }
}

function kubeconfigFor(server: string, caFile: string, user: TokenUser): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'agentmeter-test', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: user.name, user: { token: user.token } }],
    contexts: [{ name: user.name, context: { cluster: 'agentmeter-test', user: user.name } }],
    'current-context': user.name,
  });
}

export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? defaultLog;
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const binaries = options.binaries ?? (await ensureBinaries(log));
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'agentmeter-cp-')));
  const pki = join(dir, 'pki');
  await mkdir(pki, { recursive: true });

  const admin: TokenUser = {
    name: 'admin',
    token: randomBytes(24).toString('hex'),
    groups: ['system:masters'],
  };
  const user: TokenUser = {
    name: 'alice',
    token: randomBytes(24).toString('hex'),
    groups: ['agentmeter:tenants'],
  };
  const tokensFile = join(pki, 'tokens.csv');
  await writeFile(
    tokensFile,
    [admin, user]
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
    await freePort(),
  ];
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const server = `https://127.0.0.1:${apiPort}`;
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
    '--bind-address=127.0.0.1',
    // Without it the apiserver advertises the default-route interface, which is not loopback.
    '--advertise-address=127.0.0.1',
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    // No kube-controller-manager runs, so no namespace gets a default ServiceAccount.
    '--disable-admission-plugins=ServiceAccount',
    '--authorization-mode=RBAC',
    `--token-auth-file=${tokensFile}`,
    `--service-account-issuer=https://127.0.0.1:${apiPort}`,
    `--service-account-key-file=${saPub}`,
    `--service-account-signing-key-file=${saKey}`,
    '--api-audiences=https://127.0.0.1,agentmeter',
    '--v=1',
  ];

  let etcd: Running | undefined;
  let apiserver: Running | undefined;

  const startServers = async (): Promise<void> => {
    log(`starting etcd on ${etcdUrl}`);
    etcd = launch('etcd', binaries.etcd, etcdArgs, etcdLog);
    await waitFor('etcd', etcd, etcdLog, timeoutMs, async () => {
      const res = await probeHttp(`${etcdUrl}/health`);
      return res.status === 200 && res.body.includes('"health":"true"');
    });
    log(`starting kube-apiserver on ${server}`);
    apiserver = launch('kube-apiserver', binaries.kubeApiserver, apiArgs, apiLog);
    await waitFor('kube-apiserver', apiserver, apiLog, timeoutMs, async () => {
      if (!existsSync(caFile)) return false;
      const ca = await readFile(caFile);
      const res = await probeHttps(`${server}/readyz`, ca, admin.token);
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
    (await probeHttps(`${server}/version`, await readFile(caFile), admin.token)).body,
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
  };
  await writeFile(join(dir, 'control-plane.json'), JSON.stringify(info, null, 2));

  return {
    ...info,
    stopServers,
    startServers,
    stop: async () => {
      await stopServers();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs a binary to completion; used by the CLI entry point below to print versions. */
function run(binary: string, args: string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile(binary, args, (err, stdout) => (err ? fail(err) : done(stdout.trim()))),
  );
}

async function main(): Promise<void> {
  const dirFlag = process.argv.indexOf('--dir');
  const dir = dirFlag >= 0 ? process.argv[dirFlag + 1] : undefined;
  const plane = await startControlPlane(dir === undefined ? {} : { dir });
  process.stdout.write(
    `kube-apiserver ${plane.version} ready at ${plane.server}\n` +
      `etcd: ${await run(plane.binaries.etcd, ['--version']).then((v) => v.split('\n')[0])}\n` +
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
