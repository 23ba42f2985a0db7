// Session ids and the (namespace, id) key that scopes them to a tenant (design: Identity).

export const SESSION_ID_MAX_LENGTH = 128;

/** Pod annotation giving the whole pod to one session, and the OTel-style alias. */
export const SESSION_ANNOTATION = 'agentmeter.dev/session-id';
export const SESSION_ANNOTATION_ALIAS = 'resource.opentelemetry.io/session.id';

const SESSION_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export function isValidSessionId(id: string): boolean {
  return SESSION_ID_RE.test(id);
}

export type SessionIdErrorReason = 'empty' | 'too-long' | 'bad-character';

export class SessionIdError extends Error {
  override readonly name = 'SessionIdError';
  readonly reason: SessionIdErrorReason;

  constructor(input: string, reason: SessionIdErrorReason) {
    // The input is untrusted and may be huge: quote only a prefix.
    super(`invalid session id ${JSON.stringify(input.slice(0, 40))}: ${reason}`);
    this.reason = reason;
  }
}

export function parseSessionId(input: string): string {
  if (SESSION_ID_RE.test(input)) return input;
  if (input.length === 0) throw new SessionIdError(input, 'empty');
  if (input.length > SESSION_ID_MAX_LENGTH) throw new SessionIdError(input, 'too-long');
  throw new SessionIdError(input, 'bad-character');
}

/** A session belongs to the namespace of the pod that reported it, so tenants cannot collide. */
export interface SessionKey {
  readonly namespace: string;
  readonly id: string;
}

/**
 * `namespace/id`. Unambiguous because neither a namespace (DNS label) nor a session id can
 * contain `/`; ordering these strings by code unit is the deterministic tie-break of the split.
 */
export type SessionKeyString = string;

export function sessionKeyString(key: SessionKey): SessionKeyString {
  return `${key.namespace}/${key.id}`;
}

export function parseSessionKeyString(value: SessionKeyString): SessionKey {
  const slash = value.indexOf('/');
  if (slash <= 0) throw new SessionIdError(value, 'bad-character');
  return { namespace: value.slice(0, slash), id: parseSessionId(value.slice(slash + 1)) };
}

/** Code-unit order, independent of locale, for deterministic tie-breaks. */
export function compareKeyStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export type AnnotationSession =
  | { readonly kind: 'none' }
  | { readonly kind: 'session'; readonly id: string; readonly annotation: string }
  | { readonly kind: 'invalid'; readonly annotation: string; readonly error: SessionIdError };

/** The pod-scoped session from annotations; the agentmeter key wins over the alias. */
export function sessionFromAnnotations(
  annotations: Readonly<Record<string, string>> | undefined,
): AnnotationSession {
  for (const annotation of [SESSION_ANNOTATION, SESSION_ANNOTATION_ALIAS]) {
    const value = annotations?.[annotation];
    if (value === undefined) continue;
    try {
      return { kind: 'session', id: parseSessionId(value), annotation };
    } catch (err) {
      return { kind: 'invalid', annotation, error: err as SessionIdError };
    }
  }
  return { kind: 'none' };
}
