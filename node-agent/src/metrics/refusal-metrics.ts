// Every answer and refusal the agent's HTTP surface gives, countable in Prometheus: HTTP answers
// by listener, route and status class; OTLP requests refused and spans rejected while decoding,
// by reason; token and access reviews by outcome (including those the bound refused). Labels
// stay bounded (invariant 7): routes are the route templates the agent defines (`unmatched`
// for anything else), reasons come from fixed sets.
import type { NextFunction, Request, Response } from 'express';
import { LabelSums, sumsCounter, type AnyRegistry } from './label-sums.ts';

export type Listener = 'api' | 'metrics' | 'otlp';

function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

export class RefusalMetrics {
  readonly #responses = new LabelSums();
  readonly #requestsRefused = new LabelSums();
  readonly #spansRejected = new LabelSums();
  readonly #reviews = new LabelSums();

  /** Express middleware counting each answer once it is sent. */
  countResponses(listener: Listener) {
    return (req: Request, res: Response, next: NextFunction): void => {
      res.once('finish', () => {
        // Set once a route matched: its template (`/v1/sessions/:namespace/:id`), never the URL.
        const route = (req.route as { path?: unknown } | undefined)?.path;
        this.#responses.add({
          listener,
          route: typeof route === 'string' ? route : 'unmatched',
          status_class: statusClass(res.statusCode),
        });
      });
      next();
    };
  }

  /** An OTLP request refused as a whole; `reason` from the receiver's fixed set. */
  otlpRequestRefused(reason: string): void {
    this.#requestsRefused.add({ reason });
  }

  /** Spans the decoder rejected, per SpanRejectReason. */
  otlpSpansRejected(rejected: ReadonlyMap<string, number>): void {
    for (const [reason, n] of rejected) this.#spansRejected.add({ reason }, BigInt(n));
  }

  review(kind: string, outcome: string): void {
    this.#reviews.add({ kind, outcome });
  }

  register(registry: AnyRegistry): void {
    const counter = (name: string, help: string, labelNames: string[], sums: LabelSums) =>
      sumsCounter(registry, { name, help, labelNames }, sums);
    counter(
      'agentmeter_http_responses_total',
      'HTTP answers by listener (api|metrics|otlp), route template (unmatched otherwise) and status class.',
      ['listener', 'route', 'status_class'],
      this.#responses,
    );
    counter(
      'agentmeter_otlp_requests_refused_total',
      'OTLP export requests refused as a whole, by reason.',
      ['reason'],
      this.#requestsRefused,
    );
    counter(
      'agentmeter_otlp_decode_rejected_spans_total',
      'Spans rejected while decoding an OTLP request, by reason.',
      ['reason'],
      this.#spansRejected,
    );
    counter(
      'agentmeter_token_reviews_total',
      'Caller checks: TokenReviews (kind=token) and SubjectAccessReviews (kind=access) by outcome; throttled ones never reached the apiserver.',
      ['kind', 'outcome'],
      this.#reviews,
    );
  }
}
