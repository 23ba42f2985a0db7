// Pulls one agent's ledger from a starting position and verifies it: every entry must parse,
// belong to the agent's node, and chain from the start hash (invariant 6). What verifies is
// returned even when a later entry does not, cut back to a whole batch, so one tampered entry
// stops its agent at that point and nowhere else.
import { LedgerFormatError, parseEntry, verifyChain } from '@agentmeter/crds';
import type { LedgerEntry, LedgerPosition } from '@agentmeter/crds';
import type { NodeChain } from '../budgets/accumulate.ts';
import type { Agent } from './agents.ts';
import type { AgentApi, Position } from './client.ts';

export interface ChainFailure {
  readonly seq: string;
  readonly reason: string;
  readonly detail: string;
}

export interface PullResult {
  readonly chain: NodeChain;
  readonly head: Position;
  /** True when the pull reached the agent's head. */
  readonly complete: boolean;
  readonly failure: ChainFailure | null;
}

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
  options: PullOptions = {},
): Promise<PullResult> {
  const pageSize = options.pageSize ?? 5000;
  const maxEntries = options.maxEntries ?? 50_000;
  const anchor = { seq: BigInt(from.seq), hash: from.hash };
  const entries: LedgerEntry[] = [];
  let after = anchor.seq;
  let head: Position = { seq: from.seq.toString(), hash: from.hash };
  let failure: ChainFailure | null = null;
  let complete = false;
  while (entries.length < maxEntries) {
    const page = await api.page(agent, after, pageSize);
    head = page.head;
    const parsed: LedgerEntry[] = [];
    for (const raw of page.entries) {
      try {
        const entry = parseEntry(raw);
        if (entry.node !== agent.node) {
          failure = {
            seq: entry.seq,
            reason: 'node-mismatch',
            detail: `entry of node ${entry.node} served by ${agent.node}`,
          };
          break;
        }
        parsed.push(entry);
      } catch (err) {
        if (!(err instanceof LedgerFormatError)) throw err;
        const seq = (raw as { seq?: unknown } | null)?.seq;
        failure = { seq: String(seq), reason: 'malformed', detail: err.message };
        break;
      }
    }
    const last = entries.at(-1);
    const verified = verifyChain(
      parsed,
      last ? { seq: BigInt(last.seq), hash: last.hash } : anchor,
    );
    if (!verified.ok) {
      failure = { seq: verified.seq, reason: verified.reason, detail: verified.detail };
      entries.push(...parsed.slice(0, verified.index));
      break;
    }
    entries.push(...parsed);
    if (failure !== null) break;
    if (page.next === null || parsed.length === 0) {
      complete = true;
      break;
    }
    after = BigInt(page.next);
  }
  const keep =
    failure === null && complete ? entries.length : wholeBatches(entries, entries.length);
  return {
    chain: { node: agent.node, anchor: from, entries: entries.slice(0, keep) },
    head,
    complete: complete && failure === null,
    failure,
  };
}
