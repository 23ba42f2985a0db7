// The agent's pod watch (PodWatch) against a real apiserver: pods bound to a test node name (no
// scheduler or kubelet runs, so they stay Pending unless a test writes their status).
import { createServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodWatch } from '../../node-agent/src/pods/pod-watch.ts';
import type { PodGoneReason } from '../../node-agent/src/pods/pod-watch.ts';
import { adminKubeConfig, adminRestClient, controlPlane } from '../support/kube.ts';

const run = Date.now().toString(36);
const ns = `pod-watch-${run}`;
const node = `pw-node-${run}`;
const otherNode = `pw-other-${run}`;
const STATIC_HASH = '0123456789abcdef0123456789abcdef';

let core: CoreV1Api;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function podSpec(
  name: string,
  nodeName: string | undefined,
  annotations: Record<string, string> = {},
): V1Pod {
  return {
    metadata: { name, namespace: ns, labels: { app: 'pw' }, annotations },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      containers: [{ name: 'c', image: 'registry.invalid/agent:1' }],
      automountServiceAccountToken: false,
    },
  };
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  core = adminKubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe('PodWatch against the test apiserver', () => {
  let pods: PodWatch;
  const gone: [string, string, PodGoneReason][] = [];
  const restarts: string[] = [];

  beforeAll(async () => {
    // Pods that exist before the agent starts arrive through the initial LIST.
    await core.createNamespacedPod({ namespace: ns, body: podSpec('early', node) });
    await core.createNamespacedPod({ namespace: ns, body: podSpec('elsewhere', otherNode) });
    await core.createNamespacedPod({ namespace: ns, body: podSpec('unscheduled', undefined) });
    pods = new PodWatch({ client: adminRestClient(), nodeName: node });
    pods.onPodGone((cgroupUid, meta, reason) => gone.push([cgroupUid, meta.name, reason]));
    pods.on('restart', (reason) => restarts.push(reason));
    expect(pods.synced).toBe(false);
    pods.start();
    await pods.whenSynced();
  });

  afterAll(async () => {
    await pods.stop();
  });

  it('syncs with only this node’s pods', () => {
    expect(pods.synced).toBe(true);
    expect(pods.list().map((p) => p.name)).toEqual(['early']);
    const early = pods.list()[0];
    expect(early).toMatchObject({
      namespace: ns,
      phase: 'Pending',
      labels: { app: 'pw' },
      terminated: false,
    });
    expect(pods.byCgroupUid(early?.uid ?? '')?.name).toBe('early');
  });

  it('follows add, status update and delete, and keeps a deleted pod resolvable', async () => {
    const created = await core.createNamespacedPod({
      namespace: ns,
      body: podSpec('late', node, {
        'agentmeter.dev/session-id': 'sess-1',
        'example.com/other': 'x',
      }),
    });
    await core.createNamespacedPod({ namespace: ns, body: podSpec('late-elsewhere', otherNode) });
    const uid = created.metadata?.uid ?? '';
    await until(() => pods.byUid(uid) !== undefined, 'late pod');
    expect(pods.byUid(uid)?.annotations).toEqual({ 'agentmeter.dev/session-id': 'sess-1' });

    await core.patchNamespacedPodStatus(
      {
        name: 'late',
        namespace: ns,
        body: { status: { phase: 'Running', podIP: '10.250.0.7', podIPs: [{ ip: '10.250.0.7' }] } },
      },
      mergePatch,
    );
    await until(() => pods.byIp('10.250.0.7').length === 1, 'pod IP');
    expect(pods.byUid(uid)?.phase).toBe('Running');

    // Graceful delete: no kubelet confirms it, so the pod only gains a deletionTimestamp.
    await core.deleteNamespacedPod({ name: 'late', namespace: ns, gracePeriodSeconds: 30 });
    await until(() => pods.byUid(uid)?.deletionTimestamp !== undefined, 'deletionTimestamp');
    expect(pods.byUid(uid)?.deletionTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    await core.deleteNamespacedPod({ name: 'late', namespace: ns, gracePeriodSeconds: 0 });
    await until(() => pods.byUid(uid) === undefined, 'delete');
    expect(gone).toContainEqual([uid, 'late', 'deleted']);
    expect(pods.byIp('10.250.0.7')).toEqual([]);
    expect(pods.byCgroupUid(uid)).toMatchObject({ namespace: ns, name: 'late' });
    expect(pods.list().some((p) => p.name === 'late-elsewhere')).toBe(false);
  });

  it('reports a pod gone once when it terminates', async () => {
    const created = await core.createNamespacedPod({ namespace: ns, body: podSpec('job', node) });
    const uid = created.metadata?.uid ?? '';
    await until(() => pods.byUid(uid) !== undefined, 'job pod');
    await core.patchNamespacedPodStatus(
      { name: 'job', namespace: ns, body: { status: { phase: 'Succeeded' } } },
      mergePatch,
    );
    await until(() => pods.byUid(uid)?.terminated === true, 'terminated');
    expect(gone.filter(([u]) => u === uid)).toEqual([[uid, 'job', 'terminated']]);
  });

  it('joins a static pod’s mirror by the config hash in its cgroup path', async () => {
    const mirror = await core.createNamespacedPod({
      namespace: ns,
      body: podSpec('static-web', node, {
        'kubernetes.io/config.mirror': STATIC_HASH,
        'kubernetes.io/config.hash': STATIC_HASH,
        'kubernetes.io/config.source': 'file',
      }),
    });
    await until(() => pods.byCgroupUid(STATIC_HASH) !== undefined, 'mirror pod');
    const meta = pods.byCgroupUid(STATIC_HASH);
    expect(meta?.name).toBe('static-web');
    expect(meta?.uid).toBe(mirror.metadata?.uid);
    expect(meta?.uid).not.toBe(STATIC_HASH);
    expect(meta?.mirrorOf).toBe(STATIC_HASH);
  });

  it('had no watch restarts against a healthy apiserver', () => {
    expect(restarts.filter((r) => r === 'error')).toEqual([]);
  });
});

/** A TCP forwarder to the apiserver that can be switched on and off. */
class Forwarder {
  readonly #target: URL;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;

  constructor(target: string) {
    this.#target = new URL(target);
  }

  async up(port: number): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(this.#target.port), this.#target.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    this.#server = server;
  }

  async down(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise((r) => server.close(r));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('pod watch through an apiserver that is away', () => {
  it('retries with backoff while the port is closed, syncs when it opens, and recovers from a drop', async () => {
    const plane = controlPlane();
    const port = await freePort();
    const pods = new PodWatch({
      client: adminRestClient({ server: `https://127.0.0.1:${port}` }),
      nodeName: node,
      backoff: { initialMs: 50, maxMs: 400, jitter: 0 },
    });
    const delays: number[] = [];
    const restarts: string[] = [];
    pods.on('error', (_err, retryInMs) => delays.push(retryInMs));
    pods.on('restart', (reason) => restarts.push(reason));
    const forwarder = new Forwarder(plane.server);
    try {
      pods.start();
      await until(() => delays.length >= 4, 'connection failures');
      expect(pods.synced).toBe(false);
      expect(delays.slice(0, 4)).toEqual([50, 100, 200, 400]);

      await forwarder.up(port);
      await pods.whenSynced();
      expect(pods.list().some((p) => p.name === 'early')).toBe(true);

      // The apiserver goes away mid-watch: errors and restarts, then it catches up on reconnect.
      const before = delays.length;
      await forwarder.down();
      await until(() => delays.length > before, 'error after drop');
      const created = await core.createNamespacedPod({
        namespace: ns,
        body: podSpec('while-away', node),
      });
      await forwarder.up(port);
      await until(
        () => pods.byUid(created.metadata?.uid ?? '') !== undefined,
        'pod created while away',
      );
      expect(restarts.filter((r) => r === 'error').length).toBeGreaterThanOrEqual(5);
      // Backoff was reset by the successful sync: the first failure after it waited the initial delay.
      expect(delays[before]).toBe(50);
    } finally {
      await pods.stop();
      await forwarder.down();
    }
  });
});
