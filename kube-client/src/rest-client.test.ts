import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError } from './errors.ts';
import { KubeTransportError, RestClient } from './rest-client.ts';
import type { Query, WatchOptions } from './rest-client.ts';
import { loadRestConfig } from './rest-config.ts';
import type { RestConfig, RestTls } from './rest-config.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

interface Pki {
  dir: string;
  ca: Buffer;
  otherCa: Buffer;
  /** For 127.0.0.1 and localhost. */
  server: { cert: Buffer; key: Buffer };
  /** Only for the DNS name kube.internal. */
  named: { cert: Buffer; key: Buffer };
  /** CN=agent, O=agentmeter, for client authentication. */
  client: { cert: Buffer; key: Buffer };
}

/** A throwaway CA, a second unrelated CA, and leaf certificates, made with the openssl CLI. */
function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'rest-client-pki-'));
  // Each command as one line of space-separated arguments (none of them contains a space).
  const openssl = (line: string): void => {
    const args = line.split(' ');
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    } catch (err) {
      // No skip: without openssl these tests cannot make their CA, and that must fail the run.
      throw new Error(`openssl ${args[0] ?? ''} failed (is the openssl CLI installed?)`, {
        cause: err,
      });
    }
  };
  const ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';
  const ca = (name: string): void =>
    openssl(
      `req -x509 ${ec} -keyout ${name}.key -out ${name}.crt -days 2 -subj /CN=${name} ` +
        '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign',
    );
  let serial = 1;
  const leaf = (name: string, subject: string, ext: string): void => {
    openssl(`req -new ${ec} -keyout ${name}.key -out ${name}.csr -subj ${subject}`);
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\n${ext}\n`);
    openssl(
      `x509 -req -in ${name}.csr -CA ca.crt -CAkey ca.key -set_serial ${++serial} -days 2 ` +
        `-extfile ${name}.ext -out ${name}.crt`,
    );
  };
  ca('ca');
  ca('other-ca');
  leaf(
    'server',
    '/CN=apiserver',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth',
  );
  leaf('named', '/CN=kube', 'subjectAltName=DNS:kube.internal\nextendedKeyUsage=serverAuth');
  leaf('client', '/O=agentmeter/CN=agent', 'extendedKeyUsage=clientAuth');
  const read = (f: string): Buffer => readFileSync(join(dir, f));
  const pair = (name: string) => ({ cert: read(`${name}.crt`), key: read(`${name}.key`) });
  return {
    dir,
    ca: read('ca.crt'),
    otherCa: read('other-ca.crt'),
    server: pair('server'),
    named: pair('named'),
    client: pair('client'),
  };
}

const servers: (http.Server | https.Server)[] = [];
const clients: RestClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

async function listen(server: http.Server | https.Server, handler: Handler): Promise<string> {
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handler(req, res, new URL(req.url ?? '/', 'http://x'));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `${(server.address() as AddressInfo).port}`;
}

async function httpServer(handler: Handler): Promise<string> {
  return `http://127.0.0.1:${await listen(http.createServer(), handler)}`;
}

function client(
  server: string,
  tls: RestTls = { rejectUnauthorized: true },
  token: () => string | undefined = () => undefined,
  options?: { userAgent?: string },
): RestClient {
  const config: RestConfig = { server, tls, token };
  const c = new RestClient(config, options);
  clients.push(c);
  return c;
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function statusBody(code: number, reason: string, message: string, details?: unknown) {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message, details };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

async function readAll(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('RestClient over HTTPS (openssl generates the certificates)', () => {
  let pki: Pki;
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => {
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  async function httpsServer(handler: Handler, options: https.ServerOptions = {}): Promise<string> {
    const server = https.createServer({ ...pki.server, ...options });
    return `https://127.0.0.1:${await listen(server, handler)}`;
  }

  const ok: Handler = (_req, res) => json(res, 200, { major: '1', minor: '33' });

  describe('TLS', () => {
    it('trusts the configured CA', async () => {
      const server = await httpsServer(ok);
      const c = client(server, { ca: pki.ca, rejectUnauthorized: true });
      await expect(c.request('GET', '/version')).resolves.toEqual({ major: '1', minor: '33' });
    });

    it('refuses a server certificate from another CA', async () => {
      const server = await httpsServer(ok);
      const c = client(server, { ca: pki.otherCa, rejectUnauthorized: true });
      const err = await rejection(c.request('GET', '/version'));
      expect(err).toBeInstanceOf(KubeTransportError);
      expect(err.message).toMatch(/^GET \/version: .*certificate/i);
    });

    it('refuses a private CA when no CA is configured', async () => {
      const server = await httpsServer(ok);
      const err = await rejection(client(server).request('GET', '/version'));
      expect(err).toBeInstanceOf(KubeTransportError);
    });

    it('skips verification in insecure mode', async () => {
      const server = await httpsServer(ok);
      const c = client(server, { ca: pki.otherCa, rejectUnauthorized: false });
      await expect(c.request('GET', '/version')).resolves.toEqual({ major: '1', minor: '33' });
    });

    it('verifies against tls-server-name rather than the address', async () => {
      const server = await httpsServer(ok, pki.named);
      const bare = client(server, { ca: pki.ca, rejectUnauthorized: true });
      const err = await rejection(bare.request('GET', '/version'));
      expect(err).toBeInstanceOf(KubeTransportError);
      expect(err.message).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
      const named = client(server, {
        ca: pki.ca,
        rejectUnauthorized: true,
        servername: 'kube.internal',
      });
      await expect(named.request('GET', '/version')).resolves.toEqual({ major: '1', minor: '33' });
    });

    it('presents the client certificate', async () => {
      const server = await httpsServer(
        (req, res) => {
          const socket = req.socket as TLSSocket;
          const peer = socket.getPeerCertificate();
          json(res, 200, { authorized: socket.authorized, cn: peer.subject?.CN ?? null });
        },
        { ca: pki.ca, requestCert: true, rejectUnauthorized: false },
      );
      const withCert = client(server, { ca: pki.ca, rejectUnauthorized: true, ...pki.client });
      await expect(withCert.request('GET', '/whoami')).resolves.toEqual({
        authorized: true,
        cn: 'agent',
      });
      const without = client(server, { ca: pki.ca, rejectUnauthorized: true });
      await expect(without.request('GET', '/whoami')).resolves.toEqual({
        authorized: false,
        cn: null,
      });
    });

    it('works end to end from a kubeconfig with files, a token and tls-server-name', async () => {
      const seen: { authorization?: string; cn?: unknown }[] = [];
      const server = await httpsServer(
        (req, res) => {
          const socket = req.socket as TLSSocket;
          seen.push({
            authorization: req.headers.authorization,
            cn: socket.authorized ? socket.getPeerCertificate().subject.CN : undefined,
          });
          json(res, 200, { kind: 'PodList', items: [] });
        },
        { ...pki.named, ca: pki.ca, requestCert: true, rejectUnauthorized: false },
      );
      const kubeconfig = join(pki.dir, 'kubeconfig.yaml');
      writeFileSync(
        kubeconfig,
        JSON.stringify({
          clusters: [
            {
              name: 'c',
              cluster: {
                server: `${server}/`,
                'certificate-authority': 'ca.crt',
                'tls-server-name': 'kube.internal',
              },
            },
          ],
          users: [
            {
              name: 'u',
              user: { 'client-certificate': 'client.crt', 'client-key': 'client.key', token: 'tk' },
            },
          ],
          contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
          'current-context': 'ctx',
        }),
      );
      const config = await loadRestConfig({ kubeconfig, env: {} });
      const c = new RestClient(config);
      clients.push(c);
      await expect(c.request('GET', '/api/v1/pods')).resolves.toEqual({
        kind: 'PodList',
        items: [],
      });
      expect(seen).toEqual([{ authorization: 'Bearer tk', cn: 'agent' }]);
    });
  });

  describe('requests', () => {
    const trusted = (): RestTls => ({ ca: pki.ca, rejectUnauthorized: true });

    it('sends the bearer token, evaluated again for every request', async () => {
      const seen: (string | undefined)[] = [];
      const server = await httpsServer((req, res) => {
        seen.push(req.headers.authorization);
        json(res, 200, {});
      });
      let n = 0;
      const c = client(server, trusted(), () => (++n === 3 ? undefined : `token-${n}`));
      await c.request('GET', '/a');
      await c.request('GET', '/b');
      await c.request('GET', '/c');
      expect(seen).toEqual(['Bearer token-1', 'Bearer token-2', undefined]);
    });

    it('sends accept and user-agent, and no content-type without a body', async () => {
      const seen: http.IncomingHttpHeaders[] = [];
      const server = await httpsServer((req, res) => {
        seen.push(req.headers);
        json(res, 200, {});
      });
      await client(server, trusted()).request('GET', '/x');
      await client(server, trusted(), undefined, { userAgent: 'agentmeter-node/1.2' }).request(
        'GET',
        '/x',
      );
      expect(seen[0]?.accept).toBe('application/json');
      expect(seen[0]?.['user-agent']).toBe('agentmeter');
      expect(seen[0]?.['content-type']).toBeUndefined();
      expect(seen[0]?.authorization).toBeUndefined();
      expect(seen[1]?.['user-agent']).toBe('agentmeter-node/1.2');
    });

    it('posts a JSON body', async () => {
      const seen: { method?: string; type?: string; length?: string; body: string }[] = [];
      const server = await httpsServer((req, res) => {
        void readAll(req).then((body) => {
          seen.push({
            method: req.method,
            type: req.headers['content-type'],
            length: req.headers['content-length'],
            body,
          });
          json(res, 201, { kind: 'TokenReview', status: { authenticated: true } });
        });
      });
      const review = {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token: 'ünïcode-tök' },
      };
      const answer = await client(server, trusted()).request<{ status: unknown }>(
        'POST',
        '/apis/authentication.k8s.io/v1/tokenreviews',
        { body: review },
      );
      expect(answer.status).toEqual({ authenticated: true });
      expect(seen).toHaveLength(1);
      expect(seen[0]?.method).toBe('POST');
      expect(seen[0]?.type).toBe('application/json');
      expect(seen[0]?.length).toBe(String(Buffer.byteLength(JSON.stringify(review))));
      expect(JSON.parse(seen[0]?.body ?? '')).toEqual(review);
    });

    it('encodes the query, drops undefined values and keeps a server path prefix', async () => {
      const seen: URL[] = [];
      const server = await httpsServer((_req, res, url) => {
        seen.push(url);
        json(res, 200, {});
      });
      const query: Query = {
        labelSelector: 'app in (a,b),tier!=db',
        fieldSelector: 'spec.nodeName=node-1&x=y',
        limit: 500,
        allowWatchBookmarks: false,
        continue: undefined,
      };
      await client(`${server}/prefix/k8s`, trusted()).request('GET', '/api/v1/pods', { query });
      expect(seen).toHaveLength(1);
      const url = seen[0] as URL;
      expect(url.pathname).toBe('/prefix/k8s/api/v1/pods');
      expect([...url.searchParams.keys()]).toEqual([
        'labelSelector',
        'fieldSelector',
        'limit',
        'allowWatchBookmarks',
      ]);
      expect(url.searchParams.get('labelSelector')).toBe('app in (a,b),tier!=db');
      expect(url.searchParams.get('fieldSelector')).toBe('spec.nodeName=node-1&x=y');
      expect(url.searchParams.get('limit')).toBe('500');
      expect(url.searchParams.get('allowWatchBookmarks')).toBe('false');
      expect(url.search).not.toContain('continue');
    });

    it('reuses a keep-alive connection', async () => {
      const ports: number[] = [];
      const server = await httpsServer((req, res) => {
        ports.push(req.socket.remotePort ?? -1);
        json(res, 200, {});
      });
      const c = client(server, trusted());
      await c.request('GET', '/a');
      await c.request('GET', '/b');
      expect(ports).toHaveLength(2);
      expect(ports[1]).toBe(ports[0]);
    });

    it('turns a Status answer into a KubeApiError', async () => {
      const server = await httpsServer((_req, res, url) => {
        if (url.pathname.endsWith('/missing'))
          json(res, 404, statusBody(404, 'NotFound', 'pods "missing" not found', { name: 'x' }));
        else json(res, 409, statusBody(409, 'Conflict', 'the object has been modified'));
      });
      const c = client(server, trusted());
      const notFound = await rejection(c.request('GET', '/api/v1/namespaces/ns/pods/missing'));
      expect(notFound).toBeInstanceOf(KubeApiError);
      expect(notFound).toMatchObject({ code: 404, reason: 'NotFound', details: { name: 'x' } });
      expect(notFound.message).toBe(
        'GET /api/v1/namespaces/ns/pods/missing: 404 NotFound: pods "missing" not found',
      );
      const conflict = await rejection(c.request('PUT', '/api/v1/x', { body: {} }));
      expect(conflict).toBeInstanceOf(KubeApiError);
      expect(conflict).toMatchObject({ code: 409, reason: 'Conflict' });
    });

    it('bounds the message of a non-JSON error page', async () => {
      const page = `<html><body>${'Bad Gateway '.repeat(100)}</body></html>`;
      const server = await httpsServer((_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end(page);
      });
      const err = await rejection(client(server, trusted()).request('GET', '/api'));
      expect(err).toBeInstanceOf(KubeApiError);
      expect(err).toMatchObject({ code: 502, reason: undefined });
      expect(err.message).toMatch(/^GET \/api: 502: <html><body>Bad Gateway/);
      expect(err.message).toMatch(/…$/);
      expect(err.message.length).toBeLessThan(300);
    });

    it('gives an empty error answer a readable message', async () => {
      const server = await httpsServer((_req, res) => {
        res.writeHead(401);
        res.end();
      });
      const err = await rejection(client(server, trusted()).request('GET', '/api'));
      expect(err).toBeInstanceOf(KubeApiError);
      expect(err).toMatchObject({ code: 401 });
      expect(err.message).toBe('GET /api: 401: HTTP 401');
    });

    it('refuses a 2xx answer that is not JSON', async () => {
      const server = await httpsServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      });
      const err = await rejection(client(server, trusted()).request('GET', '/healthz'));
      expect(err).toBeInstanceOf(KubeTransportError);
      expect(err.message).toMatch(/^GET \/healthz: answer is not JSON/);
    });

    it('times out when no answer comes', async () => {
      const server = await httpsServer(() => {
        // Never answers.
      });
      const err = await rejection(
        client(server, trusted()).request('GET', '/slow', { timeoutMs: 100 }),
      );
      expect(err).toBeInstanceOf(KubeTransportError);
      expect(err.message).toMatch(/^GET \/slow: .*timeout/i);
    });

    it('times out when the body stalls', async () => {
      const server = await httpsServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"items": [');
      });
      const err = await rejection(
        client(server, trusted()).request('GET', '/stall', { timeoutMs: 150 }),
      );
      expect(err).toBeInstanceOf(KubeTransportError);
    });

    it('fails with a transport error when the caller aborts', async () => {
      const server = await httpsServer(() => {
        // Never answers.
      });
      const c = client(server, trusted());
      const controller = new AbortController();
      const pending = c.request('GET', '/x', { signal: controller.signal });
      setTimeout(() => controller.abort(new Error('shutting down')), 20);
      const err = await rejection(pending);
      expect(err).toBeInstanceOf(KubeTransportError);
      expect(err.message).toBe('GET /x: shutting down');
      const already = await rejection(c.request('GET', '/y', { signal: AbortSignal.abort() }));
      expect(already).toBeInstanceOf(KubeTransportError);
    });

    it('fails with a transport error when the connection drops mid-answer', async () => {
      const server = await httpsServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"items": [', () => res.socket?.destroy());
      });
      const err = await rejection(client(server, trusted()).request('GET', '/drop'));
      expect(err).toBeInstanceOf(KubeTransportError);
    });

    it('streams a watch', async () => {
      const server = await httpsServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"type":"ADDED","object":{"n":1}}\n');
        res.end('{"type":"DELETED","object":{"n":1}}\n');
      });
      const events: string[] = [];
      await client(server, trusted()).watch('/p', {}, (type) => events.push(type), {
        signal: new AbortController().signal,
        idleTimeoutMs: 5_000,
      });
      expect(events).toEqual(['ADDED', 'DELETED']);
    });
  });
});

describe('RestClient over plain HTTP', () => {
  it('talks to an http:// server', async () => {
    const server = await httpServer((req, res) => json(res, 200, { method: req.method }));
    await expect(client(server).request('DELETE', '/x')).resolves.toEqual({ method: 'DELETE' });
  });

  it('fails with a transport error when nothing listens', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const err = await rejection(client(`http://127.0.0.1:${port}`).request('GET', '/x'));
    expect(err).toBeInstanceOf(KubeTransportError);
    expect(err.message).toMatch(/^GET \/x: .*ECONNREFUSED/);
  });

  it('refuses an answer over 64 MiB', async () => {
    const mib = Buffer.alloc(1024 * 1024, 0x20);
    const server = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let sent = 0;
      const more = (): void => {
        while (sent <= 64) {
          sent++;
          if (!res.write(mib)) {
            res.once('drain', more);
            return;
          }
        }
        res.end('{}');
      };
      res.on('error', () => undefined);
      more();
    });
    const err = await rejection(client(server).request('GET', '/huge'));
    expect(err).toBeInstanceOf(KubeTransportError);
    expect(err.message).toBe(`GET /huge: answer exceeds ${64 * 1024 * 1024} bytes`);
  });
});

describe('RestClient.watch', () => {
  interface Seen {
    type: string;
    object: unknown;
  }

  function collector(): { events: Seen[]; onEvent: (type: string, object: unknown) => void } {
    const events: Seen[] = [];
    return { events, onEvent: (type, object) => events.push({ type, object }) };
  }

  const line = (type: string, n: number): string => `${JSON.stringify({ type, object: { n } })}\n`;

  function streamHead(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
  }

  const opts = (over: Partial<WatchOptions> = {}): WatchOptions => ({
    signal: new AbortController().signal,
    idleTimeoutMs: 5_000,
    ...over,
  });

  /** Watches /p until aborted; `onEach` gets the abort after each event is collected. */
  async function watchUntilAborted(
    server: string,
    onEach: (abort: () => void) => void,
  ): Promise<Seen[]> {
    const controller = new AbortController();
    const { events } = collector();
    await client(server).watch(
      '/p',
      {},
      (type, object) => {
        events.push({ type, object });
        onEach(() => controller.abort());
      },
      opts({ signal: controller.signal, idleTimeoutMs: 60_000 }),
    );
    return events;
  }

  it('delivers events in order across chunk boundaries and resolves at the end', async () => {
    const seen: URL[] = [];
    const server = await httpServer((_req, res, url) => {
      seen.push(url);
      streamHead(res);
      const second = Buffer.from(
        `${JSON.stringify({ type: 'MODIFIED', object: { n: 2, name: 'é' } })}\n`,
      );
      // Split inside the JSON of the second event, and inside the two bytes of "é".
      const cut = second.indexOf(Buffer.from('é')) + 1;
      void (async () => {
        res.write(Buffer.concat([Buffer.from(line('ADDED', 1)), second.subarray(0, 10)]));
        await sleep(20);
        res.write(second.subarray(10, cut));
        await sleep(20);
        res.write(second.subarray(cut));
        res.write(`\n  \n${line('BOOKMARK', 3)}${line('DELETED', 4).slice(0, 5)}`);
        await sleep(20);
        res.end(line('DELETED', 4).slice(5));
      })();
    });
    const { events, onEvent } = collector();
    await client(server).watch(
      '/api/v1/pods',
      { resourceVersion: '42', fieldSelector: 'spec.nodeName=n1', labelSelector: undefined },
      onEvent,
      opts(),
    );
    expect(events).toEqual([
      { type: 'ADDED', object: { n: 1 } },
      { type: 'MODIFIED', object: { n: 2, name: 'é' } },
      { type: 'BOOKMARK', object: { n: 3 } },
      { type: 'DELETED', object: { n: 4 } },
    ]);
    expect(seen).toHaveLength(1);
    const url = seen[0] as URL;
    expect(url.pathname).toBe('/api/v1/pods');
    expect(url.searchParams.get('watch')).toBe('true');
    expect(url.searchParams.get('resourceVersion')).toBe('42');
    expect(url.searchParams.get('fieldSelector')).toBe('spec.nodeName=n1');
    expect(url.searchParams.has('labelSelector')).toBe(false);
  });

  it('sends the bearer token', async () => {
    const seen: (string | undefined)[] = [];
    const server = await httpServer((req, res) => {
      seen.push(req.headers.authorization);
      res.end();
    });
    await client(server, undefined, () => 'w-token').watch('/x', {}, () => undefined, opts());
    expect(seen).toEqual(['Bearer w-token']);
  });

  it('rejects with KubeApiError 410 when the watch is refused as expired', async () => {
    const server = await httpServer((_req, res) =>
      json(res, 410, statusBody(410, 'Expired', 'too old resource version: 1 (200)')),
    );
    const { events, onEvent } = collector();
    const err = await rejection(
      client(server).watch('/api/v1/pods', { resourceVersion: '1' }, onEvent, opts()),
    );
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ code: 410, reason: 'Expired' });
    expect(err.message).toMatch(/^watch \/api\/v1\/pods: 410 Expired: too old resource version/);
    expect(events).toEqual([]);
  });

  it('rejects with KubeApiError when the watch is forbidden', async () => {
    const server = await httpServer((_req, res) =>
      json(res, 403, statusBody(403, 'Forbidden', 'pods is forbidden')),
    );
    const err = await rejection(client(server).watch('/api/v1/pods', {}, () => undefined, opts()));
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ code: 403, reason: 'Forbidden' });
  });

  it('rejects with a transport error on a malformed line, after the good events', async () => {
    const server = await httpServer((_req, res) => {
      streamHead(res);
      res.write(`${line('ADDED', 1)}{"type": "MODIFIED", "obj\n${line('ADDED', 2)}`);
    });
    const { events, onEvent } = collector();
    const err = await rejection(client(server).watch('/api/v1/pods', {}, onEvent, opts()));
    expect(err).toBeInstanceOf(KubeTransportError);
    expect(err.message).toMatch(/^watch \/api\/v1\/pods: event is not JSON/);
    expect(events).toEqual([{ type: 'ADDED', object: { n: 1 } }]);
  });

  it('rejects with a transport error on an event without a type', async () => {
    const server = await httpServer((_req, res) => {
      streamHead(res);
      res.write('{"object": {}}\n');
    });
    const err = await rejection(client(server).watch('/p', {}, () => undefined, opts()));
    expect(err).toBeInstanceOf(KubeTransportError);
    expect(err.message).toBe('watch /p: event has no type');
  });

  it('rejects with a transport error on an event over 8 MiB', async () => {
    const server = await httpServer((_req, res) => {
      streamHead(res);
      res.on('error', () => undefined);
      res.write(`{"type":"ADDED","object":{"data":"${'x'.repeat(9 * 1024 * 1024)}`);
    });
    const err = await rejection(client(server).watch('/p', {}, () => undefined, opts()));
    expect(err).toBeInstanceOf(KubeTransportError);
    expect(err.message).toBe(`watch /p: an event exceeds ${8 * 1024 * 1024} bytes`);
  });

  it('rejects with a transport error when the connection drops', async () => {
    const server = await httpServer((_req, res) => {
      streamHead(res);
      res.write(line('ADDED', 1), () => res.socket?.destroy());
    });
    const { events, onEvent } = collector();
    const err = await rejection(client(server).watch('/p', {}, onEvent, opts()));
    expect(err).toBeInstanceOf(KubeTransportError);
    expect(events).toEqual([{ type: 'ADDED', object: { n: 1 } }]);
  });

  it('rejects with a transport error when nothing listens', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const err = await rejection(
      client(`http://127.0.0.1:${port}`).watch('/p', {}, () => undefined, opts()),
    );
    expect(err).toBeInstanceOf(KubeTransportError);
  });

  it('resolves when the stream stays idle', async () => {
    const server = await httpServer((_req, res) => {
      streamHead(res);
      res.write(line('ADDED', 1));
    });
    const { events, onEvent } = collector();
    await client(server).watch('/p', {}, onEvent, opts({ idleTimeoutMs: 100 }));
    expect(events).toEqual([{ type: 'ADDED', object: { n: 1 } }]);
  });

  it('resolves when the server never sends the response headers', async () => {
    const server = await httpServer(() => {
      // Accepts the request, never answers.
    });
    await client(server).watch('/p', {}, () => undefined, opts({ idleTimeoutMs: 100 }));
  });

  it('keeps a stream that delivers events past the idle timeout', async () => {
    const server = await httpServer((_req, res) => {
      streamHead(res);
      void (async () => {
        for (let n = 1; n <= 6; n++) {
          res.write(line('MODIFIED', n));
          await sleep(150);
        }
        res.end();
      })();
    });
    const { events, onEvent } = collector();
    await client(server).watch('/p', {}, onEvent, opts({ idleTimeoutMs: 600 }));
    expect(events.map((e) => (e.object as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('resolves on abort while streaming', async () => {
    const server = await httpServer((_req, res) => {
      streamHead(res);
      res.write(line('ADDED', 1));
    });
    const events = await watchUntilAborted(server, (abort) => setTimeout(abort, 10));
    expect(events).toEqual([{ type: 'ADDED', object: { n: 1 } }]);
  });

  it('stops delivering when the handler aborts, even mid-chunk', async () => {
    const server = await httpServer((_req, res) => {
      streamHead(res);
      res.write(line('ADDED', 1) + line('ADDED', 2) + line('ADDED', 3));
    });
    const events = await watchUntilAborted(server, (abort) => abort());
    expect(events).toEqual([{ type: 'ADDED', object: { n: 1 } }]);
  });

  it('resolves on abort before the response arrives', async () => {
    let arrived!: () => void;
    const requested = new Promise<void>((r) => (arrived = r));
    const server = await httpServer(() => arrived());
    const controller = new AbortController();
    const pending = client(server).watch(
      '/p',
      {},
      () => undefined,
      opts({ signal: controller.signal, idleTimeoutMs: 60_000 }),
    );
    await requested;
    controller.abort();
    await pending;
  });

  it('resolves at once, without a request, when already aborted', async () => {
    let requests = 0;
    const server = await httpServer((_req, res) => {
      requests++;
      res.end();
    });
    await client(server).watch('/p', {}, () => undefined, opts({ signal: AbortSignal.abort() }));
    expect(requests).toBe(0);
  });
});
