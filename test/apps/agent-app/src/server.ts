// The app's HTTP API. Anyone who can reach the port may run sessions: it is a test workload that
// listens inside its pod, and it holds no data of its own.
//   POST /sessions/{id}?turns=&tools=&cpu_ms=&input_tokens=&output_tokens=&model=
//        runs one session to its end; answers its trace id and token totals (decimal strings)
//   POST /flush   exports every ended span now (the BatchSpanProcessor otherwise waits)
//   GET  /healthz
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import { parseSessionRequest, runSession, SessionRequestError } from './session.ts';

export interface AppOptions {
  readonly tracer: Tracer;
  readonly agentName: string;
  readonly defaultModel: string;
  readonly flush: () => Promise<void>;
  readonly log: (fields: Record<string, unknown>) => void;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function handle(opts: AppOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://app');
  const session = /^\/sessions\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'POST' && session) {
    const request = parseSessionRequest(
      decodeURIComponent(session[1] ?? ''),
      url.searchParams,
      opts.defaultModel,
    );
    const result = await runSession(opts.tracer, request, opts.agentName);
    const body = {
      session: result.sessionId,
      traceId: result.traceId,
      turns: result.turns,
      toolCalls: result.toolCalls,
      inputTokens: result.inputTokens.toString(),
      outputTokens: result.outputTokens.toString(),
      cacheReadTokens: result.cacheReadTokens.toString(),
      apiCalls: result.apiCalls,
    };
    opts.log({ level: 'info', msg: 'session done', ...body });
    reply(res, 200, body);
  } else if (req.method === 'POST' && url.pathname === '/flush') {
    await opts.flush();
    reply(res, 200, { flushed: true });
  } else if (req.method === 'GET' && url.pathname === '/healthz') {
    reply(res, 200, { ok: true });
  } else {
    reply(res, 404, { error: `no route for ${req.method} ${url.pathname}` });
  }
}

export function createAppServer(opts: AppOptions): Server {
  return createServer((req, res) => {
    req.resume();
    handle(opts, req, res).catch((err: unknown) => {
      const status = err instanceof SessionRequestError ? 400 : 500;
      const message = err instanceof Error ? err.message : String(err);
      opts.log({
        level: status === 400 ? 'warn' : 'error',
        msg: 'request failed',
        path: req.url,
        error: message,
      });
      if (!res.headersSent) reply(res, status, { error: message });
    });
  });
}
