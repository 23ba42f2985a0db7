// Typed view of apiserver errors, so callers branch on `reason`/`code` instead of probing
// client-node's ApiException bodies (a raw JSON string for most statuses) or watch errors
// (`statusCode` on a plain Error) themselves. ApiException is recognised by shape, not by
// instanceof, so the agent, which never loads client-node, can share this module.

/** The fields of a metav1.Status body that callers act on. */
export interface KubeStatus {
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
  readonly details?: unknown;
}

/** A non-2xx answer from the apiserver, with the Status body parsed when there was one. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  /** HTTP status code. */
  readonly code: number;
  /** metav1.Status reason such as `NotFound`, `Conflict`, `Expired`, `Gone`; undefined if none. */
  readonly reason: string | undefined;
  readonly details: unknown;

  constructor(code: number, status: KubeStatus, context: string, options?: { cause?: unknown }) {
    const detail = status.message ?? status.reason ?? `HTTP ${code}`;
    super(`${context}: ${code}${status.reason ? ` ${status.reason}` : ''}: ${detail}`, options);
    this.code = code;
    this.reason = status.reason;
    this.details = status.details;
  }
}

/** Parses a Status body given as a JSON string, an object, or anything else (ignored). */
export function parseStatus(body: unknown): KubeStatus {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      // A proxy or load balancer answered with HTML or text: keep a bounded excerpt.
      const text = body.trim();
      return text ? { message: text.length > 200 ? `${text.slice(0, 200)}…` : text } : {};
    }
  }
  if (typeof value !== 'object' || value === null) return {};
  const o = value as Record<string, unknown>;
  return {
    ...(typeof o.code === 'number' ? { code: o.code } : {}),
    ...(typeof o.reason === 'string' && o.reason ? { reason: o.reason } : {}),
    ...(typeof o.message === 'string' && o.message ? { message: o.message } : {}),
    ...(o.details !== undefined ? { details: o.details } : {}),
  };
}

/**
 * Converts client-node errors to KubeApiError: ApiException (generated clients), an Error with
 * `statusCode` (Watch), or a KubeApiError (returned as is). Anything else (network errors,
 * aborts) is not an apiserver answer and yields undefined.
 */
export function toKubeApiError(err: unknown, context = 'kubernetes API'): KubeApiError | undefined {
  if (err instanceof KubeApiError) return err;
  if (isApiException(err)) {
    return new KubeApiError(err.code, parseStatus(err.body), context, { cause: err });
  }
  if (err instanceof Error) {
    const statusCode = (err as { statusCode?: unknown }).statusCode;
    if (typeof statusCode === 'number') {
      return new KubeApiError(statusCode, { message: err.message }, context, { cause: err });
    }
  }
  return undefined;
}

/** client-node's ApiException: `code`, `body` and `headers`, thrown by its generated clients. */
function isApiException(err: unknown): err is Error & { code: number; body: unknown } {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'number' &&
    'body' in err &&
    'headers' in err
  );
}

/** HTTP status of an apiserver error, or undefined when the error is not one. */
export function statusCodeOf(err: unknown): number | undefined {
  return toKubeApiError(err)?.code;
}

export function isNotFound(err: unknown): boolean {
  return statusCodeOf(err) === 404;
}

export function isConflict(err: unknown): boolean {
  return statusCodeOf(err) === 409;
}

/** 410 Gone / reason Expired: the resourceVersion or continue token is too old; relist. */
export function isGone(err: unknown): boolean {
  const e = toKubeApiError(err);
  return e !== undefined && (e.code === 410 || e.reason === 'Expired' || e.reason === 'Gone');
}
