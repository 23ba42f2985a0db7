// A stand-in apiserver for unit tests, in the manner of kube-rs controller-rs's fixtures.rs: a
// test scripts the requests it expects, in order, and the answer to each (a 409 Conflict, an
// object). The real client (@kubernetes/client-node) talks to it over loopback HTTP, so what is
// checked is what goes over the wire: method, path, content type and body. verify() fails on a
// request that was not expected, on a check that failed, and on an expectation never met.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface SeenRequest {
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The JSON body, parsed; undefined when there was none. */
  readonly body: unknown;
}

export interface Reply {
  /** Default 200. */
  readonly status?: number;
  readonly body?: unknown;
}

export interface Expectation {
  readonly method: string;
  readonly path: string;
  /** Further checks on the request; throw (e.g. through expect()) to fail it. */
  readonly check?: (request: SeenRequest) => void;
  readonly reply: Reply | ((request: SeenRequest) => Reply);
}

/** A metav1.Status failure, as the apiserver sends it. */
export function statusReply(code: number, reason: string, message: string): Reply {
  return {
    status: code,
    body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message },
  };
}

export class FakeApiServer {
  /** Every request received, in order. */
  readonly seen: SeenRequest[] = [];
  readonly #script: Expectation[] = [];
  readonly #problems: string[] = [];
  readonly #server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const reply = this.#answer({
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: text === '' ? undefined : (JSON.parse(text) as unknown),
      });
      res.statusCode = reply.status ?? 200;
      res.setHeader('Content-Type', 'application/json');
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });

  private constructor() {}

  static async start(): Promise<FakeApiServer> {
    const fake = new FakeApiServer();
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** A kubeconfig whose current context is this server, with a bearer token. */
  kubeConfig(token = 'test-token'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'u', token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'u' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** Appends steps to the script: each answers the next request, which must match it. */
  expect(...steps: Expectation[]): this {
    this.#script.push(...steps);
    return this;
  }

  /** Throws with every mismatch and failed check seen, and every step not yet used. */
  verify(): void {
    const problems = [
      ...this.#problems,
      ...this.#script.map((s) => `expected ${s.method} ${s.path}, never received`),
    ];
    if (problems.length > 0) throw new Error(`fake apiserver:\n  ${problems.join('\n  ')}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #answer(request: SeenRequest): Reply {
    this.seen.push(request);
    const step = this.#script.shift();
    const what = `${request.method} ${request.path}`;
    if (step === undefined || step.method !== request.method || step.path !== request.path) {
      const wanted = step ? `${step.method} ${step.path}` : 'nothing';
      this.#problems.push(`received ${what}, expected ${wanted}`);
      return statusReply(500, 'InternalError', `fake apiserver: unexpected ${what}`);
    }
    try {
      step.check?.(request);
    } catch (err) {
      this.#problems.push(`${what}: ${(err as Error).message}`);
      return statusReply(500, 'InternalError', `fake apiserver: check failed for ${what}`);
    }
    return typeof step.reply === 'function' ? step.reply(request) : step.reply;
  }
}
