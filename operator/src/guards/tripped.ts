// The tripped set a policy's status holds: new trips added, expired ones dropped, all of them
// cleared by a new value of the clear annotation. Pure; the Events and marks follow from the
// difference between the stored set and this one.
import { formatMoney } from '@agentmeter/crds';
import type { GuardsStatus, TrippedGuard } from '@agentmeter/crds';
import { rfc3339 } from '../budgets/periods.ts';
import type { GuardTrip } from './evaluate.ts';

export const CLEAR_ANNOTATION = 'agentmeter.dev/clear-guards';
export const MAX_TRIPPED = 100;

export interface GuardsInput {
  readonly held: GuardsStatus | undefined;
  /** The clear annotation's value now, if set. */
  readonly clear: string | undefined;
  readonly trips: readonly GuardTrip[];
  readonly nowMs: number;
  /** When a trip made now clears by itself. */
  readonly untilMs: number;
}

export interface GuardsOutput {
  readonly status: GuardsStatus;
  /** Trips not in the held set (each gets an Event). */
  readonly fresh: readonly GuardTrip[];
}

const pairKey = (t: { guard: string; session: string }): string => `${t.guard}\u0000${t.session}`;

function shown(t: GuardTrip): string {
  return t.kind === 'spendPerMinute' ? formatMoney(BigInt(t.observed)) : t.observed;
}

function limitShown(t: GuardTrip): string {
  return t.kind === 'spendPerMinute' ? formatMoney(BigInt(t.limit)) : t.limit;
}

/** Whether a new clear was asked for: the annotation carries a value not acted on yet. */
export function clearRequested(held: GuardsStatus | undefined, clear: string | undefined): boolean {
  return clear !== undefined && clear !== held?.cleared;
}

export function nextGuards(input: GuardsInput): GuardsOutput {
  const { held, clear, trips, nowMs, untilMs } = input;
  const clearing = clearRequested(held, clear);
  const kept = clearing ? [] : (held?.tripped ?? []).filter((t) => Date.parse(t.until) > nowMs);
  const have = new Set(kept.map(pairKey));
  const added: TrippedGuard[] = [];
  const fresh: GuardTrip[] = [];
  for (const t of trips) {
    if (have.has(pairKey(t)) || kept.length + added.length >= MAX_TRIPPED) continue;
    have.add(pairKey(t));
    fresh.push(t);
    added.push({
      guard: t.guard,
      session: t.session,
      action: t.action,
      kind: t.kind,
      trippedAt: rfc3339(t.atMs),
      until: rfc3339(untilMs),
      observed: shown(t),
      limit: limitShown(t),
      ...(t.tool === undefined ? {} : { tool: t.tool }),
    });
  }
  const tripped = [...kept, ...added];
  const cleared = clearing ? clear : held?.cleared;
  const clearedAt = clearing ? rfc3339(nowMs) : held?.clearedAt;
  return {
    status: {
      // Always a list: the status is written as a merge patch, where an absent list would keep
      // the stored one.
      tripped,
      ...(cleared === undefined ? {} : { cleared }),
      ...(clearedAt === undefined ? {} : { clearedAt }),
    },
    fresh,
  };
}
