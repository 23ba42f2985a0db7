// The agent's HTTP surfaces: the API app (the ledger pull API and the routers given; health is
// runtime/health-server.ts) and the metrics app (/metrics alone, on its own port so a NetworkPolicy can admit only
// Prometheus there). The factories only build apps; listen() binds them, so tests can use
// 127.0.0.1:0.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Express, NextFunction, Request, RequestHandler, Response, Router } from 'express';
import { parseSeq } from '@agentmeter/crds';
import type { InformerLogger } from '@agentmeter/kube-client';
import type { AgentMetrics } from '../metrics/agent-metrics.ts';
import { requireAccess, type Authorize } from '@agentmeter/kube-client/access';

/** What the ledger store offers the pull API. Entries are parsed ledger entries (JSON objects
 * whose `seq` is a decimal string), in ascending seq order, all with seq > `after`. */
export interface LedgerReader {
  readAfter(after: bigint, limit: number): Promise<unknown[]>;
  head(): { seq: bigint; hash: string };
}

export interface LedgerPage {
  entries: unknown[];
  /** Pass as `after` for the next page; null when this page reached the head. */
  next: string | null;
  head: { seq: string; hash: string };
}

export interface AppOptions {
  readonly ledger: LedgerReader;
  /** Gate for /v1/ledger: the operator's TokenReview and SubjectAccessReview (auth.ts). */
  readonly authorize?: Authorize;
  readonly logger?: InformerLogger;
  /** More routes (session API, ledger acknowledgements), mounted before the 404 handler. */
  readonly routers?: readonly Router[];
  /** Runs first on every request, e.g. RefusalMetrics.countResponses. */
  readonly countResponses?: RequestHandler;
}

export interface MetricsAppOptions {
  readonly metrics: AgentMetrics;
  readonly countResponses?: RequestHandler;
  readonly logger?: InformerLogger;
}

export const LEDGER_DEFAULT_LIMIT = 500;
export const LEDGER_MAX_LIMIT = 5000;
const U64_MAX = 2n ** 64n - 1n;
// Offered with their version parameters: an Accept entry that carries `version=` only matches
// an offer with the same parameter (Prometheus sends `…openmetrics-text;version=1.0.0`).
const PROMETHEUS_OFFER = 'text/plain; version=0.0.4';
const OPENMETRICS_OFFER = 'application/openmetrics-text; version=1.0.0';

class BadRequest extends Error {
  override readonly name = 'BadRequest';
}

function baseApp(countResponses: RequestHandler | undefined): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (countResponses !== undefined) app.use(countResponses);
  return app;
}

function finish(app: Express, logger: InformerLogger | undefined): Express {
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof BadRequest) {
      res.status(400).json({ error: err.message });
      return;
    }
    logger?.error(
      { path: req.path, err: err instanceof Error ? err.message : String(err) },
      'request failed',
    );
    if (!res.headersSent) res.status(500).json({ error: 'internal error' });
  });
  return app;
}

export function createMetricsApp(options: MetricsAppOptions): Express {
  const { metrics } = options;
  const app = baseApp(options.countResponses);
  app.get('/metrics', async (req, res) => {
    // Prometheus text first: it is the answer for a missing Accept header or */*; Prometheus
    // asks for OpenMetrics with the higher q-value.
    const format =
      req.accepts([PROMETHEUS_OFFER, OPENMETRICS_OFFER]) === OPENMETRICS_OFFER
        ? 'openmetrics'
        : 'prometheus';
    const body = await metrics.render(format);
    res.status(200).type(metrics.contentType(format)).send(body);
  });
  return finish(app, options.logger);
}

export function createApp(options: AppOptions): Express {
  const { ledger, authorize, logger } = options;
  const app = baseApp(options.countResponses);

  app.get('/v1/ledger', requireAccess(authorize), async (req, res) => {
    const { after, limit } = ledgerQuery(req);
    const entries = await ledger.readAfter(after, limit);
    const lastSeq = checkOrder(entries, after);
    const head = ledger.head();
    const page: LedgerPage = {
      entries,
      next: lastSeq !== undefined && lastSeq < head.seq ? lastSeq.toString() : null,
      head: { seq: head.seq.toString(), hash: head.hash },
    };
    res.status(200).json(page);
  });

  for (const router of options.routers ?? []) app.use(router);
  return finish(app, logger);
}

function ledgerQuery(req: Request): { after: bigint; limit: number } {
  const query = req.query as Record<string, unknown>;
  for (const key of Object.keys(query)) {
    if (key !== 'after' && key !== 'limit')
      throw new BadRequest(`unknown query parameter "${key}"; use after and limit`);
  }
  const after = single(query.after, 'after');
  const limit = single(query.limit, 'limit');
  let afterSeq = 0n;
  if (after !== undefined) {
    const parsed = parseSeq(after);
    if (parsed === undefined) {
      throw new BadRequest(
        `after must be a sequence number (a decimal integer from 0 to ${U64_MAX}), got ${quote(after)}`,
      );
    }
    afterSeq = parsed;
  }
  let pageSize = LEDGER_DEFAULT_LIMIT;
  if (limit !== undefined) {
    if (!/^[1-9]\d{0,8}$/.test(limit)) {
      throw new BadRequest(
        `limit must be a positive integer (at most ${LEDGER_MAX_LIMIT} are served), got ${quote(limit)}`,
      );
    }
    pageSize = Math.min(Number(limit), LEDGER_MAX_LIMIT);
  }
  return { after: afterSeq, limit: pageSize };
}

function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequest(`${name} must be given once`);
  return value;
}

function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** The pull API promises ascending order after `after`, gapless within a page (the first entry
 * may be later than after + 1 when retention removed older ones). A page may exceed `limit` so
 * that a tick's batch is never cut in two. A store breaking that is a bug to surface as a 500,
 * not a page the operator would silently mis-count. */
function checkOrder(entries: unknown[], after: bigint): bigint | undefined {
  let prev: bigint | undefined;
  for (const entry of entries) {
    const text = (entry as { seq?: unknown } | null)?.seq;
    const seq = parseSeq(text);
    const ok = seq !== undefined && (prev === undefined ? seq > after : seq === prev + 1n);
    if (!ok) throw new Error(`ledger returned seq ${String(text)} after ${prev ?? after}`);
    prev = seq;
  }
  return prev;
}

export interface Listening {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** Stops accepting, closes idle keep-alive connections and waits for in-flight requests. */
  close(): Promise<void>;
}

export async function listen(app: Express, host: string, port: number): Promise<Listening> {
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
