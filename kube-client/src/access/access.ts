// How a route refuses a caller. An Authorize hook answers true (go on) or false (403), or
// throws AccessRefused for the other refusals: 401 for a token the apiserver did not accept, and
// 429 with Retry-After when checking the caller would cost more apiserver reviews than the agent
// allows itself. requireAccess() turns a hook into route middleware, so every route that needs
// a caller check (ledger, acknowledgements, budget marks, session reads) answers the same way.
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export type Authorize = (req: Request) => Promise<boolean>;

export class AccessRefused extends Error {
  override readonly name = 'AccessRefused';
  readonly status: 401 | 403 | 429;
  readonly retryAfterSeconds: number | undefined;

  constructor(status: 401 | 403 | 429, message: string, retryAfterSeconds?: number) {
    super(message);
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function sendRefusal(res: Response, refusal: AccessRefused): void {
  if (refusal.retryAfterSeconds !== undefined) {
    res.set('Retry-After', String(Math.max(1, Math.ceil(refusal.retryAfterSeconds))));
  }
  if (refusal.status === 401) res.set('WWW-Authenticate', 'Bearer');
  res.status(refusal.status).json({ error: refusal.message });
}

/** Route middleware: lets the request on when `authorize` allows it; no hook lets every caller on. */
export function requireAccess(authorize: Authorize | undefined): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (authorize === undefined) return next();
    let allowed: boolean;
    try {
      allowed = await authorize(req);
    } catch (err) {
      if (err instanceof AccessRefused) return sendRefusal(res, err);
      return next(err);
    }
    if (allowed) return next();
    sendRefusal(res, new AccessRefused(403, 'forbidden'));
  };
}

/** The bearer token of a request, if it carries one. */
export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
