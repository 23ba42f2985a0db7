// OTLP/HTTP trace receiver: POST /v1/traces, JSON or protobuf, optionally gzip. The only module
// of the span path that does I/O; decoding and everything after it are pure and injected.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGunzip } from 'node:zlib';
import { Router } from 'express';
import { decodeJsonRequestSteps } from './decode-json.ts';
import { decodeWireSteps } from './decode-protobuf-wire.ts';
import type { Steps } from './steps.ts';
import { TurnQueue } from './turns.ts';
import type { DecodeLimits, DecodeResult, SpanRecord, SpanRejectReason } from './types.ts';
import { DEFAULT_DECODE_LIMITS, OtlpDecodeError } from './types.ts';

export const OTLP_TRACES_PATH = '/v1/traces';
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_IN_FLIGHT = 8;

/** The request as the sink sees it: where it came from and its W3C headers. */
export interface SpanSource {
  readonly remoteAddress: string;
  readonly headers: { readonly traceparent?: string; readonly baggage?: string };
}

export interface SinkResult {
  readonly rejected: number;
  /** Short English reasons, e.g. `spoofed_pod: 3`, joined into the partial-success message. */
  readonly reasons: readonly string[];
}

export interface SpanSink {
  /** Takes the spans in steps (steps.ts) of a few milliseconds each. The first step throws
   * SinkOverloadedError, before anything is taken, when the sink cannot take more now. */
  acceptSteps(source: SpanSource, spans: SpanRecord[]): Steps<SinkResult>;
}

/** A sink that cannot take more now; answered with 429 and Retry-After. */
export class SinkOverloadedError extends Error {
  override readonly name = 'SinkOverloadedError';
}

export interface ReceiverOptions {
  readonly sink: SpanSink;
  /** After decompression. */
  readonly maxBodyBytes?: number;
  /** Requests being read or decoded at once; more get 429. */
  readonly maxInFlight?: number;
  readonly retryAfterSeconds?: number;
  readonly limits?: DecodeLimits;
  /** Wall clock in ns, for refusing spans from the future. */
  readonly clock?: () => bigint;
  /** Unexpected failures (answered with 500). */
  readonly onError?: (err: unknown) => void;
  /** A request refused as a whole, with a reason from RequestRefusal (for metrics). */
  readonly onRefused?: (reason: RequestRefusal) => void;
  /** Spans the decoder rejected in an accepted request, per reason (for metrics). */
  readonly onDecodeRejected?: (rejected: ReadonlyMap<SpanRejectReason, number>) => void;
}

/** Bounded reasons a whole export request is refused; usable as a metric label. */
export type RequestRefusal =
  | 'method_not_allowed'
  | 'unsupported_media_type'
  | 'unsupported_encoding'
  | 'too_large'
  | 'bad_body'
  | 'malformed'
  | 'overloaded'
  | 'aborted';

type Encoding = 'json' | 'protobuf';

// google.rpc.Code values.
const RPC_INVALID_ARGUMENT = 3;
const RPC_RESOURCE_EXHAUSTED = 8;
const RPC_INTERNAL = 13;

const MIME_TYPES: Readonly<Record<string, Encoding>> = {
  'application/json': 'json',
  'application/x-protobuf': 'protobuf',
};

class BodyError extends Error {
  override readonly name = 'BodyError';
  readonly status: 400 | 413;

  constructor(status: 400 | 413, message: string) {
    super(message);
    this.status = status;
  }
}

function wallClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** MIME type without parameters, lowercased (`application/json; charset=utf-8` → json). */
export function encodingOf(contentType: string | undefined): Encoding | undefined {
  if (contentType === undefined) return undefined;
  const semi = contentType.indexOf(';');
  const mime = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return MIME_TYPES[mime];
}

function readBody(req: IncomingMessage, gzip: boolean, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      if (err === null) {
        resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
        return;
      }
      chunks.length = 0;
      // Keep reading (and discarding) so the client gets the answer instead of a reset.
      req.unpipe();
      req.resume();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      if (done) return;
      size += chunk.length;
      // The limit applies after decompression, so a small gzip bomb still stops here.
      if (size > limit) finish(new BodyError(413, `body exceeds ${limit} bytes`));
      else chunks.push(chunk);
    };
    req.on('error', (err) => finish(err));
    req.on('close', () => {
      if (!req.complete) finish(new Error('request aborted'));
    });
    if (!gzip) {
      req.on('data', onData);
      req.on('end', () => finish(null));
      return;
    }
    let compressed = 0;
    req.on('data', (chunk: Buffer) => {
      compressed += chunk.length;
      if (compressed > limit) finish(new BodyError(413, `body exceeds ${limit} bytes`));
    });
    const gunzip = createGunzip();
    gunzip.on('data', onData);
    gunzip.on('end', () => finish(null));
    gunzip.on('error', (err) => {
      gunzip.destroy();
      finish(new BodyError(400, `bad gzip body: ${err.message}`));
    });
    req.pipe(gunzip);
  });
}

type ProtobufCodec = typeof import('./decode-protobuf.ts');
let protobufCodec: Promise<ProtobufCodec> | undefined;

/** protobufjs and the OTLP schema load with the first protobuf request the wire decoder leaves
 * to them, or the first protobuf answer that is not a plain success: an agent whose workloads
 * send plain requests, or JSON, or no spans at all, never holds them (~4 MiB of RSS, measured
 * with test/bench/agent-overhead.ts). */
function protobuf(): Promise<ProtobufCodec> {
  protobufCodec ??= import('./decode-protobuf.ts');
  return protobufCodec;
}

async function sendStatus(
  res: ServerResponse,
  http: number,
  encoding: Encoding,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const body =
    encoding === 'json'
      ? JSON.stringify({ code, message })
      : Buffer.from((await protobuf()).encodeStatusProtobuf({ code, message }));
  res.writeHead(http, {
    'Content-Type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
    'Content-Length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

function sendPlain(
  res: ServerResponse,
  http: number,
  message: string,
  headers: Record<string, string>,
) {
  res.writeHead(http, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(message);
}

/** The answer to a request with nothing rejected: an empty ExportTraceServiceResponse. */
const FULL_SUCCESS: Readonly<Record<Encoding, Buffer>> = {
  json: Buffer.from('{}'),
  protobuf: Buffer.alloc(0),
};

async function sendExportResponse(
  res: ServerResponse,
  encoding: Encoding,
  rejected: number,
  errorMessage: string,
): Promise<void> {
  const partial =
    rejected > 0 || errorMessage !== '' ? { rejectedSpans: BigInt(rejected), errorMessage } : null;
  const body =
    partial === null
      ? FULL_SUCCESS[encoding]
      : encoding === 'json'
        ? Buffer.from(
            JSON.stringify({ partialSuccess: { rejectedSpans: String(rejected), errorMessage } }),
          )
        : Buffer.from((await protobuf()).encodeExportResponseProtobuf(partial));
  res.writeHead(200, {
    'Content-Type': encoding === 'json' ? 'application/json' : 'application/x-protobuf',
    'Content-Length': String(body.length),
  });
  res.end(body);
}

function unreachable(): never {
  throw new Error('the general protobuf decoder always decodes or throws');
}

function headerString(value: string | string[] | undefined, join: string): string | undefined {
  return Array.isArray(value) ? value.join(join) : value;
}

/** A `(req, res)` handler for POST /v1/traces, usable with node:http or express. */
export function createOtlpHandler(
  options: ReceiverOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  // A refused request's connection is closed once answered: the body not yet sent stays unsent,
  // instead of being read and dropped, which under a flood took the event loop from everything
  // else (PERFORMANCE.md, the health listener).
  const refusalHeaders = {
    'Retry-After': String(options.retryAfterSeconds ?? 1),
    Connection: 'close',
  };
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  const clock = options.clock ?? wallClockNs;
  let inFlight = 0;
  const refused = (reason: RequestRefusal): void => options.onRefused?.(reason);
  // Decoding and ingesting take turns with all other work of the event loop.
  const turns = new TurnQueue();

  async function handle(req: IncomingMessage, res: ServerResponse, encoding: Encoding) {
    const contentEncoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (contentEncoding !== 'identity' && contentEncoding !== 'gzip') {
      refused('unsupported_encoding');
      req.resume();
      await sendStatus(
        res,
        415,
        encoding,
        RPC_INVALID_ARGUMENT,
        `unsupported Content-Encoding: ${contentEncoding.slice(0, 64)}`,
      );
      return;
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > maxBody) {
      refused('too_large');
      req.resume();
      await sendStatus(
        res,
        413,
        encoding,
        RPC_RESOURCE_EXHAUSTED,
        `body exceeds ${maxBody} bytes`,
        {
          Connection: 'close',
        },
      );
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, contentEncoding === 'gzip', maxBody);
    } catch (err) {
      if (!(err instanceof BodyError)) {
        refused('aborted');
        req.destroy();
        return;
      }
      refused(err.status === 413 ? 'too_large' : 'bad_body');
      const rpc = err.status === 413 ? RPC_RESOURCE_EXHAUSTED : RPC_INVALID_ARGUMENT;
      await sendStatus(
        res,
        err.status,
        encoding,
        rpc,
        err.message,
        err.status === 413 ? { Connection: 'close' } : {},
      );
      return;
    }
    const decodeOptions = { limits, nowNs: clock() };
    const traceparent = headerString(req.headers.traceparent, ',');
    const baggage = headerString(req.headers.baggage, ',');
    const source: SpanSource = {
      remoteAddress: req.socket.remoteAddress ?? '',
      headers: {
        ...(traceparent === undefined ? {} : { traceparent }),
        ...(baggage === undefined ? {} : { baggage }),
      },
    };
    // Decoded and taken in one job, so one request's spans are held at a time, not every
    // queued request's. Protobuf is read straight from the wire; protobufjs is loaded and
    // decodes the request only when it is not of the plain shape (decode-protobuf-wire.ts).
    function* decodeAndTake(
      general: ProtobufCodec | undefined,
    ): Steps<[DecodeResult, SinkResult] | undefined> {
      const decoded =
        encoding === 'json'
          ? yield* decodeJsonRequestSteps(body.toString('utf8'), decodeOptions)
          : general === undefined
            ? yield* decodeWireSteps(body, limits, decodeOptions.nowNs)
            : yield* general.decodeGeneralSteps(body, decodeOptions);
      if (decoded === undefined) return undefined;
      return [decoded, yield* options.sink.acceptSteps(source, decoded.spans)];
    }
    let decoded: DecodeResult;
    let result: SinkResult;
    try {
      [decoded, result] =
        (await turns.run(decodeAndTake(undefined))) ??
        (await turns.run(decodeAndTake(await protobuf()))) ??
        unreachable();
    } catch (err) {
      if (err instanceof OtlpDecodeError) {
        refused('malformed');
        await sendStatus(res, 400, encoding, RPC_INVALID_ARGUMENT, err.message.slice(0, 512));
        return;
      }
      if (!(err instanceof SinkOverloadedError)) throw err;
      refused('overloaded');
      await sendStatus(res, 429, encoding, RPC_RESOURCE_EXHAUSTED, err.message, refusalHeaders);
      return;
    }
    if (decoded.rejected.size > 0) options.onDecodeRejected?.(decoded.rejected);
    let rejected = result.rejected;
    const reasons: string[] = [];
    for (const [reason, n] of decoded.rejected) {
      rejected += n;
      reasons.push(`${reason}: ${n}`);
    }
    reasons.push(...result.reasons);
    await sendExportResponse(
      res,
      encoding,
      rejected,
      reasons.length > 0 ? `rejected spans (${reasons.join(', ')})` : '',
    );
  }

  return (req, res) => {
    if (req.method !== 'POST') {
      refused('method_not_allowed');
      req.resume();
      sendPlain(res, 405, `405 method not allowed, supported: [POST]`, { Allow: 'POST' });
      return;
    }
    const encoding = encodingOf(req.headers['content-type']);
    if (encoding === undefined) {
      refused('unsupported_media_type');
      req.resume();
      // The request's encoding is unknown, so the Status goes out as JSON.
      void sendStatus(
        res,
        415,
        'json',
        RPC_INVALID_ARGUMENT,
        'unsupported Content-Type, supported: [application/json, application/x-protobuf]',
      );
      return;
    }
    if (inFlight >= maxInFlight) {
      refused('overloaded');
      req.resume();
      sendStatus(
        res,
        429,
        encoding,
        RPC_RESOURCE_EXHAUSTED,
        'too many requests in flight',
        refusalHeaders,
      ).catch((err: unknown) => {
        options.onError?.(err);
        res.destroy();
      });
      return;
    }
    inFlight++;
    handle(req, res, encoding)
      .catch((err: unknown) => {
        options.onError?.(err);
        if (res.headersSent) return res.destroy();
        // The protobuf codec itself may be what failed to load: then the connection just ends.
        return sendStatus(res, 500, encoding, RPC_INTERNAL, 'internal error').catch(() =>
          res.destroy(),
        );
      })
      .finally(() => {
        inFlight--;
      });
  };
}

/** An express Router serving the handler at /v1/traces (all methods, so non-POST gets 405). */
export function otlpRouter(options: ReceiverOptions): Router {
  const router = Router();
  const handler = createOtlpHandler(options);
  router.all(OTLP_TRACES_PATH, (req, res) => handler(req, res));
  return router;
}
