// Runaway-session guards over a window of a session's activity: pure, so the operator runs it on
// whatever the store returns for the last few minutes, and the same records always trip the same
// guards. Each limit is checked over every sliding window ("any 60 seconds"), not over clock
// minutes, so a burst that straddles a minute boundary still trips. Repeated tool calls are
// matched by the argument hash a span carries; records never hold the arguments themselves.
import type { GuardAction } from '@agentmeter/crds';
import type { CompiledGuard, GuardLimit } from './compile.ts';

export interface SessionActivity {
  /** "namespace/session-id". */
  readonly session: string;
  readonly atMs: number;
  /** Spend of this record (a call, or the session's share of a tick), integer nano-units. */
  readonly nano: bigint;
  /** Set when the record is one model, tool or API call. */
  readonly call?: { readonly tool?: string; readonly argsHash?: string };
}

export interface GuardTrip {
  readonly guard: string;
  readonly action: GuardAction;
  readonly session: string;
  readonly kind: GuardLimit['kind'];
  /** When the limit was first passed: the time of the record that passed it. */
  readonly atMs: number;
  /** Start of the window that passed it (inclusive). */
  readonly windowStartMs: number;
  /** Spend (nano-units, as a decimal string) or calls in that window. */
  readonly observed: string;
  readonly limit: string;
  /** The repeated tool, for repeatedToolCall. */
  readonly tool?: string;
}

interface Crossing {
  readonly atMs: number;
  readonly windowStartMs: number;
  readonly observed: bigint;
}

/**
 * The first sliding window (atMs − windowMs, atMs] in which the sum of `weight` passes `over`
 * (strictly greater). `records` are in time order.
 */
function firstCrossing(
  records: readonly SessionActivity[],
  windowMs: number,
  weight: (r: SessionActivity) => bigint,
  over: bigint,
): Crossing | undefined {
  let sum = 0n;
  let lo = 0;
  for (let hi = 0; hi < records.length; hi++) {
    const r = records[hi] as SessionActivity;
    sum += weight(r);
    while ((records[lo] as SessionActivity).atMs <= r.atMs - windowMs) {
      sum -= weight(records[lo] as SessionActivity);
      lo++;
    }
    if (sum > over) {
      return { atMs: r.atMs, windowStartMs: (records[lo] as SessionActivity).atMs, observed: sum };
    }
  }
  return undefined;
}

const one = (r: SessionActivity): bigint => (r.call === undefined ? 0n : 1n);
const spend = (r: SessionActivity): bigint => r.nano;

function repeatedCrossing(
  records: readonly SessionActivity[],
  count: number,
  windowMs: number,
): (Crossing & { tool: string }) | undefined {
  const byCall = new Map<string, SessionActivity[]>();
  for (const r of records) {
    const { tool, argsHash } = r.call ?? {};
    if (tool === undefined || argsHash === undefined) continue;
    const key = `${tool}\u0000${argsHash}`;
    const list = byCall.get(key);
    if (list === undefined) byCall.set(key, [r]);
    else list.push(r);
  }
  let first: (Crossing & { tool: string }) | undefined;
  for (const calls of byCall.values()) {
    const c = firstCrossing(calls, windowMs, () => 1n, BigInt(count - 1));
    if (c !== undefined && (first === undefined || c.atMs < first.atMs)) {
      first = { ...c, tool: calls[0]?.call?.tool ?? '' };
    }
  }
  return first;
}

function judge(guard: CompiledGuard, session: string, records: readonly SessionActivity[]) {
  const { limit } = guard;
  const base = { guard: guard.name, action: guard.action, session, kind: limit.kind };
  switch (limit.kind) {
    case 'spendPerMinute': {
      const c = firstCrossing(records, limit.windowMs, spend, limit.maxNano);
      return c && { ...base, ...c, observed: String(c.observed), limit: String(limit.maxNano) };
    }
    case 'callsPerMinute': {
      const c = firstCrossing(records, limit.windowMs, one, BigInt(limit.maxCalls));
      return c && { ...base, ...c, observed: String(c.observed), limit: String(limit.maxCalls) };
    }
    case 'repeatedToolCall': {
      const c = repeatedCrossing(records, limit.count, limit.windowMs);
      return c && { ...base, ...c, observed: String(c.observed), limit: String(limit.count) };
    }
  }
}

/** Every (guard, session) whose limit the records pass, in order of session then guard. */
export function evaluateGuards(
  guards: readonly CompiledGuard[],
  activity: readonly SessionActivity[],
): GuardTrip[] {
  if (guards.length === 0) return [];
  const bySession = new Map<string, SessionActivity[]>();
  for (const r of activity) {
    const list = bySession.get(r.session);
    if (list === undefined) bySession.set(r.session, [r]);
    else list.push(r);
  }
  const trips: GuardTrip[] = [];
  for (const session of [...bySession.keys()].sort()) {
    const records = (bySession.get(session) ?? []).sort((a, b) => a.atMs - b.atMs);
    for (const guard of guards) {
      const trip = judge(guard, session, records);
      if (trip !== undefined) trips.push(trip);
    }
  }
  return trips;
}
