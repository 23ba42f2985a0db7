// What the benchmark asks of a store engine: apply one pull in one transaction (cursor, calls,
// sums), and answer the questions of issue 17. Amounts come back as decimal strings.
import type { PullDeltas } from './deltas.ts';
import type { Pull, TagSet } from './month.ts';

export interface CursorMove {
  readonly node: string;
  readonly agentId: string;
  /** The cursor the pull was read after; the transaction fails if the store holds another. */
  readonly afterSeq: bigint;
  readonly toSeq: bigint;
  readonly hash: string;
}

export interface SessionTotal {
  readonly totalNano: string;
  readonly infraNano: string;
  readonly calls: string;
  readonly days: number;
}

export interface Ranked {
  readonly key: string;
  readonly nano: string;
}

export interface Store {
  /** The engine's own version string. */
  version(): Promise<string>;
  migrate(): Promise<number>;
  registerTagSets(sets: readonly TagSet[]): Promise<void>;
  apply(pull: Pull, deltas: PullDeltas, cursor: CursorMove): Promise<void>;
  session(namespace: string, id: string): Promise<SessionTotal | undefined>;
  /** From the Session-scope budget's sums (index on spend). */
  topFromBudget(budget: string, periodStartNs: bigint, n: number): Promise<Ranked[]>;
  /** From per-session daily totals over [fromDay, toDay): any date range, no budget needed. */
  topFromDays(fromDay: number, toDay: number, n: number): Promise<Ranked[]>;
  /** What status needs per budget: the number of scope keys (the top entries are topFromBudget). */
  scopeKeyCount(budget: string, periodStartNs: bigint): Promise<number>;
  chargebackFromRollups(fromDay: number, toDay: number, tagKey: string): Promise<Ranked[]>;
  /** The same question asked of the call rows (calls only, no infrastructure), for comparison. */
  chargebackFromCalls(fromNs: bigint, toNs: bigint, tagKey: string): Promise<Ranked[]>;
  /** Sum over every key of a budget, and of all session totals and rollups: they must agree. */
  totals(budget: string): Promise<{ budget: string; sessions: string; rollups: string }>;
  deleteCallsBefore(ns: bigint): Promise<number>;
  close(): Promise<void>;
}

export class CursorConflictError extends Error {
  override readonly name = 'CursorConflictError';
}

export class DuplicateCallsError extends Error {
  override readonly name = 'DuplicateCallsError';
}
