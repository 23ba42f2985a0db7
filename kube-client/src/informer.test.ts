import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Informer } from './informer.ts';
import { RestClient } from './rest-client.ts';
import type { InformerLogger, InformerOptions } from './informer.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

/** A loopback apiserver speaking just enough list/watch: scripted LIST and WATCH answers. */
class FakeApi {
  readonly requests: { url: URL; at: number }[] = [];
  readonly lists: Handler[] = [];
  readonly watches: Handler[] = [];
  readonly open: ServerResponse[] = [];
  server!: Server;

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      this.requests.push({ url, at: Date.now() });
      const queue = url.searchParams.get('watch') === 'true' ? this.watches : this.lists;
      // The last scripted answer repeats, so a test only scripts what changes.
      const handler = queue.length > 1 ? queue.shift() : queue[0];
      if (!handler) {
        res.writeHead(500).end('{"kind":"Status","code":500,"message":"unscripted"}');
        return;
      }
      handler(req, res, url);
    });
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  listRequests(): URL[] {
    return this.requests
      .filter((r) => r.url.searchParams.get('watch') !== 'true')
      .map((r) => r.url);
  }

  watchRequests(): URL[] {
    return this.requests
      .filter((r) => r.url.searchParams.get('watch') === 'true')
      .map((r) => r.url);
  }

  async stop(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

function pod(name: string, rv: string, uid = `uid-${name}`): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ns', uid, resourceVersion: rv },
  };
}

function list(rv: string, items: V1Pod[], cont?: string): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: rv, continue: cont }, items }),
    );
  };
}

function status(code: number, reason: string): Handler {
  return (_req, res) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ kind: 'Status', status: 'Failure', code, reason, message: `${reason}!` }),
    );
  };
}

/** A watch stream that stays open; `events` are written at once, `api.open` keeps the rest. */
function stream(
  api: FakeApi,
  events: { type: string; object: unknown }[] = [],
  end = false,
): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const e of events) res.write(`${JSON.stringify(e)}\n`);
    if (end) res.end();
    else api.open.push(res);
  };
}

function send(res: ServerResponse | undefined, type: string, object: unknown): void {
  res?.write(`${JSON.stringify({ type, object })}\n`);
}

function client(server: string): RestClient {
  return new RestClient({ server, tls: { rejectUnauthorized: true }, token: () => 't' });
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const quietLog: InformerLogger = { debug() {}, warn() {}, error() {} };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function setup(opts: Partial<InformerOptions<V1Pod>> = {}) {
  const api = new FakeApi();
  const server = await api.start();
  const informer = new Informer<V1Pod>({
    client: client(server),
    path: '/api/v1/pods',
    backoff: { initialMs: 20, maxMs: 80, jitter: 0 },
    minWatchMs: 50,
    logger: quietLog,
    ...opts,
  });
  const events: string[] = [];
  informer.on('add', (p) => events.push(`add ${p.metadata?.name}@${p.metadata?.resourceVersion}`));
  informer.on('update', (p, old) =>
    events.push(
      `update ${p.metadata?.name}@${old.metadata?.resourceVersion}->${p.metadata?.resourceVersion}`,
    ),
  );
  informer.on('delete', (p) => events.push(`delete ${p.metadata?.name}`));
  informer.on('restart', (reason) => events.push(`restart ${reason}`));
  cleanups.push(async () => {
    await informer.stop();
    await api.stop();
  });
  return { api, informer, events };
}

describe('Informer', () => {
  it('caches and hands out what the transform keeps, from the LIST and from the watch', async () => {
    const { api, informer } = await setup({
      transform: (p) => ({ metadata: { ...p.metadata, managedFields: undefined } }),
    });
    const heavy = (name: string, rv: string): V1Pod => ({
      ...pod(name, rv),
      metadata: { ...pod(name, rv).metadata, managedFields: [{ manager: 'kubectl' }] },
      status: { phase: 'Running' },
    });
    api.lists.push(list('10', [heavy('a', '5')]));
    api.watches.push(stream(api));
    const added: V1Pod[] = [];
    informer.on('add', (p) => added.push(p));
    informer.start();
    await informer.whenSynced();
    await until(() => api.open.length === 1, 'watch');
    send(api.open[0], 'ADDED', heavy('b', '11'));
    await until(() => added.length === 2, 'the watched add');
    for (const p of [...added, ...informer.list()]) {
      expect(p.status).toBeUndefined();
      expect(p.metadata?.managedFields).toBeUndefined();
      expect(p.metadata?.resourceVersion).toBeDefined();
    }
    expect(informer.get('ns/b')?.metadata?.uid).toBe('uid-b');
  });

  it('lists, marks synced after the LIST, then applies watch events from the list resourceVersion', async () => {
    const { api, informer, events } = await setup({ fieldSelector: 'spec.nodeName=n1' });
    api.lists.push(list('10', [pod('a', '5'), pod('b', '6')]));
    api.watches.push(stream(api));
    let syncedEvents = 0;
    informer.on('synced', () => syncedEvents++);
    expect(informer.synced).toBe(false);
    informer.start();
    await informer.whenSynced();
    expect(informer.synced).toBe(true);
    expect(syncedEvents).toBe(1);
    expect(
      informer
        .list()
        .map((p) => p.metadata?.name)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(informer.get('ns/a')?.metadata?.uid).toBe('uid-a');

    await until(() => api.open.length === 1, 'watch');
    const w = api.watchRequests()[0];
    expect(w?.searchParams.get('resourceVersion')).toBe('10');
    expect(w?.searchParams.get('fieldSelector')).toBe('spec.nodeName=n1');
    expect(w?.searchParams.get('allowWatchBookmarks')).toBe('true');
    expect(api.listRequests()[0]?.searchParams.get('fieldSelector')).toBe('spec.nodeName=n1');

    send(api.open[0], 'ADDED', pod('c', '11'));
    send(api.open[0], 'MODIFIED', pod('a', '12'));
    send(api.open[0], 'MODIFIED', pod('a', '12')); // same RV: no event
    send(api.open[0], 'DELETED', pod('b', '13'));
    send(api.open[0], 'BOOKMARK', { kind: 'Pod', metadata: { resourceVersion: '20' } });
    await until(() => events.length === 5, 'events');
    expect(events).toEqual(['add a@5', 'add b@6', 'add c@11', 'update a@5->12', 'delete b']);
    expect(informer.get('ns/b')).toBeUndefined();

    // A clean close resumes from the bookmark's resourceVersion without relisting.
    api.open[0]?.end();
    await until(() => api.watchRequests().length === 2, 'rewatch');
    expect(api.watchRequests()[1]?.searchParams.get('resourceVersion')).toBe('20');
    expect(api.listRequests()).toHaveLength(1);
  });

  it('relists after a 410 ERROR event and reports vanished objects as deleted', async () => {
    const { api, informer, events } = await setup();
    api.lists.push(
      list('10', [pod('a', '5'), pod('b', '6')]),
      list('30', [pod('a', '25'), pod('d', '26')]),
    );
    api.watches.push(
      stream(api, [{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }]),
    );
    api.watches.push(stream(api));
    informer.start();
    await until(() => api.watchRequests().length === 2, 'second watch');
    expect(api.listRequests()).toHaveLength(2);
    expect(api.watchRequests()[1]?.searchParams.get('resourceVersion')).toBe('30');
    expect(events).toEqual([
      'add a@5',
      'add b@6',
      'restart gone',
      'delete b',
      'update a@5->25',
      'add d@26',
    ]);
  });

  it('relists when the watch request itself answers 410 Gone', async () => {
    const { api, informer, events } = await setup();
    api.lists.push(list('10', [pod('a', '5')]), list('30', [pod('a', '5')]));
    api.watches.push(status(410, 'Expired'), stream(api));
    informer.start();
    await until(() => api.open.length === 1, 'second watch');
    expect(api.listRequests()).toHaveLength(2);
    expect(events).toEqual(['add a@5', 'restart gone']);
  });

  it('retries a failing LIST with exponential backoff and stays unsynced until it succeeds', async () => {
    const { api, informer, events } = await setup();
    const errors: { code: unknown; retryInMs: number }[] = [];
    informer.on('error', (err, retryInMs) =>
      errors.push({ code: (err as { code?: unknown }).code, retryInMs }),
    );
    api.lists.push(
      status(500, 'InternalError'),
      status(403, 'Forbidden'),
      status(503, 'ServiceUnavailable'),
    );
    api.lists.push(status(500, 'InternalError'), list('10', [pod('a', '1')]));
    api.watches.push(stream(api));
    informer.start();
    await until(() => errors.length >= 2, 'two errors');
    expect(informer.synced).toBe(false);
    await informer.whenSynced();
    expect(errors).toEqual([
      { code: 500, retryInMs: 20 },
      { code: 403, retryInMs: 40 },
      { code: 503, retryInMs: 80 },
      { code: 500, retryInMs: 80 },
    ]);
    const times = api.requests
      .filter((r) => r.url.searchParams.get('watch') !== 'true')
      .map((r) => r.at);
    for (let i = 1; i < times.length; i++) {
      expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(
        (errors[i - 1]?.retryInMs ?? 0) - 2,
      );
    }
    expect(events.filter((e) => e === 'restart error')).toHaveLength(4);
  });

  it('resets the backoff after a success and restarts a watch that keeps failing', async () => {
    const { api, informer } = await setup();
    const delays: number[] = [];
    informer.on('error', (_err, ms) => delays.push(ms));
    api.lists.push(status(500, 'InternalError'), status(500, 'InternalError'), list('10', []));
    // After the successful LIST, the watch fails: the first watch failure waits the initial delay.
    api.watches.push(status(500, 'InternalError'), status(500, 'InternalError'), stream(api));
    informer.start();
    await until(() => api.open.length === 1, 'watch');
    expect(delays).toEqual([20, 40, 20, 40]);
    // The failed watches resumed from the listed resourceVersion instead of relisting.
    expect(api.listRequests()).toHaveLength(3);
  });

  it('treats a non-410 ERROR event as a failure and resumes from the last resourceVersion', async () => {
    const { api, informer } = await setup();
    const errors: unknown[] = [];
    informer.on('error', (err) => errors.push(err));
    api.lists.push(list('10', []));
    api.watches.push(
      stream(api, [
        { type: 'ADDED', object: pod('a', '11') },
        {
          type: 'ERROR',
          object: { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd' },
        },
      ]),
      stream(api),
    );
    informer.start();
    await until(() => api.watchRequests().length === 2, 'second watch');
    expect(String(errors[0])).toMatch(/500 InternalError: etcd/);
    expect(api.watchRequests()[1]?.searchParams.get('resourceVersion')).toBe('11');
  });

  it('backs off when the server drops the watch at once without events', async () => {
    const { api, informer } = await setup();
    const delays: number[] = [];
    informer.on('error', (_err, ms) => delays.push(ms));
    api.lists.push(list('10', []));
    api.watches.push(stream(api, [], true), stream(api, [], true), stream(api));
    informer.start();
    await until(() => api.open.length === 1, 'third watch');
    expect(delays).toEqual([20, 40]);
  });

  it('follows continue tokens when the LIST is paged', async () => {
    const { api, informer } = await setup({ listPageSize: 2 });
    api.lists.push(list('10', [pod('a', '1'), pod('b', '2')], 'tok'), list('10', [pod('c', '3')]));
    api.watches.push(stream(api));
    informer.start();
    await informer.whenSynced();
    expect(informer.list()).toHaveLength(3);
    const [first, second] = api.listRequests();
    expect(first?.searchParams.get('limit')).toBe('2');
    expect(second?.searchParams.get('continue')).toBe('tok');
  });

  it('keeps delivering events when a handler throws or rejects, and logs it', async () => {
    const errorLog = vi.fn();
    const { api, informer, events } = await setup({ logger: { ...quietLog, error: errorLog } });
    informer.on('add', () => {
      throw new Error('boom');
    });
    informer.on('add', async () => {
      throw new Error('async boom');
    });
    api.lists.push(list('10', [pod('a', '1'), pod('b', '2')]));
    api.watches.push(stream(api));
    informer.start();
    await informer.whenSynced();
    await until(() => errorLog.mock.calls.length === 4, 'four logged failures');
    expect(events).toEqual(['add a@1', 'add b@2']);
    expect(errorLog.mock.calls[0]?.[0]).toMatchObject({ event: 'add', err: 'Error: boom' });
  });

  it('retries a refused connection and syncs once the server is up', async () => {
    const { api, informer } = await setup();
    const port = (api.server.address() as AddressInfo).port;
    await api.stop();
    const errors: unknown[] = [];
    informer.on('error', (err) => errors.push(err));
    informer.start();
    await until(() => errors.length >= 2, 'connection errors');
    expect(informer.synced).toBe(false);

    const revived = new FakeApi();
    revived.lists.push(list('10', [pod('a', '1')]));
    revived.watches.push(stream(revived));
    await revived.start(port);
    cleanups.push(() => revived.stop());
    await informer.whenSynced();
    expect(informer.list()).toHaveLength(1);
  });

  it('stop() ends the watch and rejects pending whenSynced()', async () => {
    const { api, informer } = await setup();
    api.lists.push(status(500, 'InternalError'));
    informer.start();
    const synced = informer.whenSynced();
    await until(() => api.requests.length >= 1, 'first list');
    await informer.stop();
    await expect(synced).rejects.toThrow(/stopped before it synced/);
  });
});
