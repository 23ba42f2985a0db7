// Pulls one agent's ledger from a starting position and verifies it: every entry must parse,
// belong to the agent's node, and chain from the start hash (invariant 6). Verified entries go
// to a sink page by page, in whole batches, so the caller can count them and drop them. What
// verifies is handed over even when a later entry does not, so one tampered entry stops its
// agent at that point and nowhere else.
import { LedgerFormatError, parseEntry, verifyChain } from '@agentmeter/crds';
import type { ChainHead, LedgerEntry, LedgerPosition } from '@agentmeter/crds';
import type { Agent } from './agents.ts';
import type { AgentApi } from './client.ts';

export interface ChainFailure {
  /** The first entry refused; undefined when even its seq is unreadable. */
  readonly seq: bigint | undefined;
  readonly reason: string;
  readonly detail: string;
}

export interface PullResult {
  readonly head: ChainHead;
  /** True when the pull reached the agent's head. */
  readonly complete: boolean;
  readonly failure: ChainFailure | null;
  /** Entries handed to the sink, and the last of them. */
  readonly count: number;
  readonly last: LedgerEntry | undefined;
}

/** Receives verified entries in order; entries[0] follows `after` directly. */
export type PageSink = (after: LedgerPosition, entries: readonly LedgerEntry[]) => void;

export interface PullOptions {
  readonly pageSize?: number;
  /** Bound per round, so one far-behind agent cannot stall the others. */
  readonly maxEntries?: number;
}

/** Index just past the last entry that closes its batch, at or before `limit`. */
function wholeBatches(entries: readonly LedgerEntry[], limit: number): number {
  for (let i = limit - 1; i >= 0; i--) {
    const e = entries[i] as LedgerEntry;
    if (BigInt(e.seq) === BigInt(e.batch.first) + BigInt(e.batch.size) - 1n) return i + 1;
  }
  return 0;
}

export async function pullChain(
  api: AgentApi,
  agent: Agent,
  from: LedgerPosition,
  sink: PageSink,
  options: PullOptions = {},
): Promise<PullResult> {
  const pageSize = options.pageSize ?? 1000;
  const maxEntries = options.maxEntries ?? 50_000;
  let verifiedTo: ChainHead = { seq: from.seq, hash: from.hash };
  let handed: LedgerPosition = from;
  // Verified entries of a batch that is not complete yet: handed over with the rest of it.
  let held: LedgerEntry[] = [];
  let count = 0;
  let last: LedgerEntry | undefined;
  const hand = (entries: readonly LedgerEntry[]): void => {
    const end = entries.at(-1);
    if (end === undefined) return;
    sink(handed, entries);
    handed = { node: agent.node, seq: BigInt(end.seq), hash: end.hash };
    count += entries.length;
    last = end;
  };
  let after = verifiedTo.seq;
  let head: ChainHead = { seq: from.seq, hash: from.hash };
  let failure: ChainFailure | null = null;
  let complete = false;
  while (count + held.length < maxEntries) {
    const page = await api.page(agent, after, pageSize);
    head = page.head;
    const parsed: LedgerEntry[] = [];
    for (const raw of page.entries) {
      try {
        const entry = parseEntry(raw);
        if (entry.node !== agent.node) {
          failure = {
            seq: BigInt(entry.seq),
            reason: 'node-mismatch',
            detail: `entry of node ${entry.node} served by ${agent.node}`,
          };
          break;
        }
        parsed.push(entry);
      } catch (err) {
        if (!(err instanceof LedgerFormatError)) throw err;
        failure = { seq: err.seq, reason: 'malformed', detail: err.message };
        break;
      }
    }
    const verified = verifyChain(parsed, verifiedTo);
    const good = verified.ok ? parsed : parsed.slice(0, verified.index);
    if (!verified.ok) {
      failure = { seq: verified.seq, reason: verified.reason, detail: verified.detail };
    }
    const end = good.at(-1);
    if (end !== undefined) verifiedTo = { seq: BigInt(end.seq), hash: end.hash };
    const pending = held.length === 0 ? good : [...held, ...good];
    if (failure === null && (page.next === null || parsed.length === 0)) {
      complete = true;
      hand(pending);
      break;
    }
    const whole = wholeBatches(pending, pending.length);
    hand(pending.slice(0, whole));
    held = pending.slice(whole);
    if (failure !== null || page.next === null) break;
    after = page.next;
  }
  return { head, complete, failure, count, last };
}
