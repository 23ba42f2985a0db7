import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RestClient } from '@agentmeter/kube-client';
import type { V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { PodWatch } from './pod-watch.ts';
import type { PodGoneReason } from './pod-watch.ts';

/** Serves one LIST of `pods`, then holds the watch open for the test to push events. */
async function fakeApi(pods: V1Pod[]) {
  const watches: ServerResponse[] = [];
  const urls: URL[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    urls.push(url);
    res.writeHead(200, { 'content-type': 'application/json' });
    if (url.searchParams.get('watch') === 'true') watches.push(res);
    else res.end(JSON.stringify({ metadata: { resourceVersion: '1' }, items: pods }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new RestClient({
    server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tls: { rejectUnauthorized: true },
    token: () => 't',
  });
  return {
    client,
    urls,
    send: (type: string, object: V1Pod) =>
      watches.at(-1)?.write(`${JSON.stringify({ type, object })}\n`),
    hasWatch: () => watches.length > 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

let rv = 10;
function pod(
  name: string,
  uid: string,
  extra: { ip?: string; phase?: string; mirror?: string; host?: boolean } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid,
      resourceVersion: String(rv++),
      ...(extra.mirror ? { annotations: { 'kubernetes.io/config.mirror': extra.mirror } } : {}),
    },
    spec: { containers: [], nodeName: 'node-a', ...(extra.host ? { hostNetwork: true } : {}) },
    status: {
      phase: extra.phase ?? 'Running',
      ...(extra.ip ? { podIP: extra.ip, podIPs: [{ ip: extra.ip }] } : {}),
    },
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function setup(
  initial: V1Pod[],
  opts: { tombstoneTtlMs?: number; tombstoneMax?: number } = {},
) {
  const api = await fakeApi(initial);
  let now = 1_000_000;
  const pods = new PodWatch({ client: api.client, nodeName: 'node-a', now: () => now, ...opts });
  const gone: [string, string, PodGoneReason][] = [];
  const added: string[] = [];
  pods.onPodGone((cgroupUid, meta, reason) => gone.push([cgroupUid, meta.name, reason]));
  pods.on('added', (meta) => added.push(meta.name));
  cleanups.push(async () => {
    await pods.stop();
    await api.close();
  });
  pods.start();
  await pods.whenSynced();
  await until(api.hasWatch, 'watch');
  return { api, pods, gone, added, advance: (ms: number) => (now += ms) };
}

describe('PodWatch', () => {
  it('watches only its node and indexes pods by uid, cgroup uid and IP', async () => {
    const { api, pods, added } = await setup([
      pod('a', 'uid-a', { ip: '10.0.0.1' }),
      pod('etcd', 'mirror-uid', { mirror: 'hash123', host: true, ip: '192.168.0.2' }),
      pod('b', 'uid-b', { ip: '192.168.0.2', host: true }),
    ]);
    expect(
      api.urls.every((u) => u.searchParams.get('fieldSelector') === 'spec.nodeName=node-a'),
    ).toBe(true);
    expect(pods.synced).toBe(true);
    expect(added).toEqual(['a', 'etcd', 'b']);
    expect(pods.byUid('uid-a')?.name).toBe('a');
    expect(pods.byCgroupUid('uid-a')?.name).toBe('a');
    // The static pod's cgroup carries the config hash, not the mirror pod's uid.
    expect(pods.byCgroupUid('hash123')?.name).toBe('etcd');
    expect(pods.byCgroupUid('mirror-uid')).toBeUndefined();
    expect(pods.byIp('10.0.0.1').map((p) => p.name)).toEqual(['a']);
    expect(
      pods
        .byIp('192.168.0.2')
        .map((p) => p.name)
        .sort(),
    ).toEqual(['b', 'etcd']);
    expect(pods.byIp('10.9.9.9')).toEqual([]);
  });

  it('joins a cgroup whose pod arrives later, and keeps deleted pods resolvable for a while', async () => {
    const { api, pods, gone, added, advance } = await setup([], { tombstoneTtlMs: 60_000 });
    expect(pods.byCgroupUid('uid-late')).toBeUndefined();
    api.send('ADDED', pod('late', 'uid-late', { ip: '10.0.0.7' }));
    await until(() => added.includes('late'), 'add');
    expect(pods.byCgroupUid('uid-late')?.name).toBe('late');

    const final = pod('late', 'uid-late', { ip: '10.0.0.7' });
    // Raw watch JSON carries a string where V1Pod declares a Date.
    Object.assign(final.metadata ?? {}, { deletionTimestamp: '2026-01-01T00:00:00Z' });
    api.send('DELETED', final);
    await until(() => gone.length === 1, 'gone');
    expect(gone).toEqual([['uid-late', 'late', 'deleted']]);
    expect(pods.byUid('uid-late')).toBeUndefined();
    expect(pods.byIp('10.0.0.7')).toEqual([]);
    expect(pods.byCgroupUid('uid-late')).toMatchObject({
      namespace: 'ns',
      name: 'late',
      deletionTimestamp: '2026-01-01T00:00:00.000Z',
    });
    advance(60_001);
    expect(pods.byCgroupUid('uid-late')).toBeUndefined();
  });

  it('bounds the tombstones by count, dropping the oldest', async () => {
    const initial = ['p1', 'p2', 'p3'].map((n) => pod(n, `uid-${n}`));
    const { api, pods, gone } = await setup(initial, { tombstoneMax: 2 });
    for (const p of initial) api.send('DELETED', p);
    await until(() => gone.length === 3, 'three gone');
    expect(pods.byCgroupUid('uid-p1')).toBeUndefined();
    expect(pods.byCgroupUid('uid-p2')?.name).toBe('p2');
    expect(pods.byCgroupUid('uid-p3')?.name).toBe('p3');
  });

  it('reports a pod gone once: when it terminates, not again when it is deleted', async () => {
    const { api, pods, gone } = await setup([pod('job', 'uid-job', { ip: '10.0.0.9' })]);
    const updates: string[] = [];
    pods.on('updated', (meta, old) => updates.push(`${old.phase}->${meta.phase}`));
    api.send('MODIFIED', pod('job', 'uid-job', { ip: '10.0.0.9', phase: 'Succeeded' }));
    await until(() => gone.length === 1, 'terminated');
    expect(gone).toEqual([['uid-job', 'job', 'terminated']]);
    expect(updates).toEqual(['Running->Succeeded']);
    // Its IP may be reused by a new pod already; it no longer identifies this one.
    expect(pods.byIp('10.0.0.9')).toEqual([]);
    expect(pods.byUid('uid-job')?.terminated).toBe(true);
    api.send('DELETED', pod('job', 'uid-job', { phase: 'Succeeded' }));
    await until(() => pods.byUid('uid-job') === undefined, 'deleted');
    expect(gone).toHaveLength(1);
    expect(pods.byCgroupUid('uid-job')?.name).toBe('job');
  });

  it('treats a same-name update with a new uid as delete + add', async () => {
    const { api, pods, gone, added } = await setup([pod('web-0', 'uid-old', { ip: '10.0.0.3' })]);
    api.send('MODIFIED', pod('web-0', 'uid-new', { ip: '10.0.0.4' }));
    await until(() => added.length === 2, 'recreated');
    expect(gone).toEqual([['uid-old', 'web-0', 'deleted']]);
    expect(pods.byUid('uid-old')).toBeUndefined();
    expect(pods.byCgroupUid('uid-old')?.name).toBe('web-0');
    expect(pods.byUid('uid-new')?.podIPs).toEqual(['10.0.0.4']);
    expect(pods.byIp('10.0.0.3')).toEqual([]);
  });

  it('skips a malformed pod without losing the rest', async () => {
    const { api, pods, added } = await setup([]);
    api.send('ADDED', { metadata: { name: 'nouid', namespace: 'ns', resourceVersion: '99' } });
    api.send('ADDED', pod('ok', 'uid-ok'));
    await until(() => added.includes('ok'), 'ok pod');
    expect(pods.list().map((p) => p.name)).toEqual(['ok']);
  });
});
