// A small apiserver client over node:http(s): JSON requests and NDJSON watch streams, with one
// keep-alive connection pool. The node agent needs four calls (list and watch, TokenReview,
// SubjectAccessReview); loading @kubernetes/client-node for them costs ~40 MiB of RSS per node
// (measured, see README), more than the agent's whole budget allows. The operator keeps
// client-node for everything but its informers.
import http from 'node:http';
import https from 'node:https';
import { KubeApiError, parseStatus } from './errors.ts';
import type { RestConfig } from './rest-config.ts';

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /** Whole request, response body included. Default 30 s. */
  readonly timeoutMs?: number;
}

export interface WatchOptions {
  readonly signal: AbortSignal;
  /** The stream ends cleanly (resolves) when nothing arrives for this long; a server that
   * honours timeoutSeconds ends it sooner. */
  readonly idleTimeoutMs: number;
}

export type WatchHandler = (type: string, object: unknown) => void;

/** The connection failed or the answer was unusable; there is no apiserver Status to parse. */
export class KubeTransportError extends Error {
  override readonly name = 'KubeTransportError';
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Larger answers are refused rather than buffered: far above any list the agent makes. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** One watch event; an object near etcd's 1.5 MiB limit fits with room to spare. */
const MAX_EVENT_BYTES = 8 * 1024 * 1024;

export class RestClient {
  readonly server: string;
  readonly #config: RestConfig;
  readonly #agent: http.Agent;
  readonly #userAgent: string;

  constructor(config: RestConfig, options: { userAgent?: string } = {}) {
    this.server = config.server;
    this.#config = config;
    this.#userAgent = options.userAgent ?? 'agentmeter';
    const common = { keepAlive: true, keepAliveMsecs: 30_000 };
    this.#agent = config.server.startsWith('https:')
      ? new https.Agent({ ...common, ...config.tls })
      : new http.Agent(common);
  }

  /** Sends a JSON request; resolves with the parsed 2xx body, throws KubeApiError otherwise. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const context = `${method} ${path}`;
    const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const res = await this.#send(method, this.#url(path, options.query), body, signal, context);
    const text = await readBody(res, context);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw new KubeApiError(status, parseStatus(text), context);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new KubeTransportError(`${context}: answer is not JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /**
   * Opens a watch (`watch=true` is added) and calls `onEvent` for each event in order. Resolves
   * when the server ends the stream, when it stays idle for `idleTimeoutMs`, or on `signal`;
   * rejects with KubeApiError when the server refuses the watch, or a transport error.
   */
  async watch(
    path: string,
    query: Query,
    onEvent: WatchHandler,
    options: WatchOptions,
  ): Promise<void> {
    const context = `watch ${path}`;
    if (options.signal.aborted) return;
    let res: http.IncomingMessage;
    // The idle timeout covers the wait for the response headers too: a server or proxy that
    // accepts the request and never answers would otherwise hold the watch forever.
    const headers = new AbortController();
    const headersTimer = setTimeout(() => headers.abort(), options.idleTimeoutMs);
    try {
      res = await this.#send(
        'GET',
        this.#url(path, { ...query, watch: true }),
        undefined,
        AbortSignal.any([options.signal, headers.signal]),
        context,
      );
    } catch (err) {
      if (options.signal.aborted || headers.signal.aborted) return;
      throw err;
    } finally {
      clearTimeout(headersTimer);
    }
    if (res.statusCode !== 200) {
      const text = await readBody(res, context);
      throw new KubeApiError(res.statusCode ?? 0, parseStatus(text), context);
    }
    await new Promise<void>((resolve, reject) => {
      let pending = '';
      let idle: NodeJS.Timeout | undefined;
      const done = (err?: Error): void => {
        clearTimeout(idle);
        options.signal.removeEventListener('abort', onAbort);
        res.removeAllListeners('data');
        res.destroy();
        if (err === undefined || options.signal.aborted) resolve();
        else reject(err);
      };
      const arm = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => done(), options.idleTimeoutMs);
      };
      const onAbort = (): void => done();
      options.signal.addEventListener('abort', onAbort, { once: true });
      arm();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        arm();
        pending += chunk;
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          if (line.trim() !== '') {
            let event: { type?: unknown; object?: unknown };
            try {
              event = JSON.parse(line) as { type?: unknown; object?: unknown };
            } catch (err) {
              done(
                new KubeTransportError(`${context}: event is not JSON: ${(err as Error).message}`),
              );
              return;
            }
            if (typeof event.type !== 'string') {
              done(new KubeTransportError(`${context}: event has no type`));
              return;
            }
            try {
              onEvent(event.type, event.object);
            } catch (err) {
              // A handler that throws ends this watch as a failure instead of the process.
              done(err instanceof Error ? err : new Error(String(err)));
              return;
            }
            if (res.destroyed) return;
          }
          newline = pending.indexOf('\n');
        }
        if (pending.length > MAX_EVENT_BYTES) {
          done(new KubeTransportError(`${context}: an event exceeds ${MAX_EVENT_BYTES} bytes`));
        }
      });
      res.on('end', () => done());
      res.on('error', (err) =>
        done(new KubeTransportError(`${context}: ${err.message}`, { cause: err })),
      );
    });
  }

  /** Closes idle pooled connections; open requests and watches end through their signals. */
  close(): void {
    this.#agent.destroy();
  }

  #url(path: string, query: Query = {}): URL {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  #send(
    method: string,
    url: URL,
    body: Buffer | undefined,
    signal: AbortSignal,
    context: string,
  ): Promise<http.IncomingMessage> {
    const headers: http.OutgoingHttpHeaders = {
      accept: 'application/json',
      'user-agent': this.#userAgent,
    };
    const token = this.#config.token();
    if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers, agent: this.#agent, signal }, resolve);
      req.on('error', (err) => {
        const why = signal.aborted && signal.reason instanceof Error ? signal.reason : err;
        reject(new KubeTransportError(`${context}: ${why.message}`, { cause: why }));
      });
      req.end(body);
    });
  }
}

async function readBody(res: http.IncomingMessage, context: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        res.destroy();
        throw new KubeTransportError(`${context}: answer exceeds ${MAX_RESPONSE_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof KubeTransportError) throw err;
    throw new KubeTransportError(`${context}: reading the answer: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return Buffer.concat(chunks).toString('utf8');
}
