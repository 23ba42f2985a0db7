// A CostPolicy's guards in the form the evaluator reads: money parsed to nano-units, windows in
// milliseconds, and the one limit each guard sets as a tagged variant. The CRD schema already
// refused a guard with none or several limits; a guard that still arrives so is a typed error.
import { parseMoney } from '@agentmeter/crds';
import type { Guard, GuardAction } from '@agentmeter/crds';

export const MINUTE_MS = 60_000;

export type GuardLimit =
  | { readonly kind: 'spendPerMinute'; readonly maxNano: bigint; readonly windowMs: number }
  | { readonly kind: 'callsPerMinute'; readonly maxCalls: number; readonly windowMs: number }
  | { readonly kind: 'repeatedToolCall'; readonly count: number; readonly windowMs: number };

export interface CompiledGuard {
  readonly name: string;
  readonly action: GuardAction;
  readonly limit: GuardLimit;
}

export class GuardSpecError extends Error {
  override readonly name = 'GuardSpecError';
  readonly guard: string;
  constructor(guard: string, detail: string) {
    super(`guard ${JSON.stringify(guard)}: ${detail}`);
    this.guard = guard;
  }
}

function limitOf(g: Guard): GuardLimit {
  const set = [g.maxSpendPerMinute, g.maxCallsPerMinute, g.repeatedToolCall].filter(
    (v) => v !== undefined,
  );
  if (set.length !== 1) {
    throw new GuardSpecError(
      g.name,
      'sets none or several of maxSpendPerMinute, maxCallsPerMinute and repeatedToolCall',
    );
  }
  if (g.maxSpendPerMinute !== undefined) {
    return {
      kind: 'spendPerMinute',
      maxNano: parseMoney(g.maxSpendPerMinute),
      windowMs: MINUTE_MS,
    };
  }
  if (g.maxCallsPerMinute !== undefined) {
    return { kind: 'callsPerMinute', maxCalls: g.maxCallsPerMinute, windowMs: MINUTE_MS };
  }
  const r = g.repeatedToolCall;
  if (r === undefined) throw new GuardSpecError(g.name, 'has no limit');
  return { kind: 'repeatedToolCall', count: r.count, windowMs: (r.windowSeconds ?? 300) * 1000 };
}

export function compileGuards(guards: readonly Guard[]): CompiledGuard[] {
  return guards.map((g) => ({
    name: g.name,
    action: g.action ?? 'MarkOverBudget',
    limit: limitOf(g),
  }));
}

/** How far back the evaluator needs records: the longest window of the guards. */
export function lookbackMs(guards: readonly CompiledGuard[]): number {
  return guards.reduce((m, g) => Math.max(m, g.limit.windowMs), 0);
}
