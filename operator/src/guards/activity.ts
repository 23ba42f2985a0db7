// Session activity from what the operator already collects, each ledger entry counted once: a
// calls entry becomes one record per call (its cost, the tool and the argument hash the agent
// recorded, never the arguments), which the call-rate and repeated-tool guards count; any other
// entry becomes its session shares as spend records at the entry's time, which only the spend
// guard reads. A calls entry's spend is in its call records alone (their costs sum to the
// entry's total), so no spend is judged twice.
import type { CallRecord, LedgerEntry } from '@agentmeter/crds';
import { pricedBy, type Contribution, type PolicyIdentity } from '../budgets/contribution.ts';
import type { SessionActivity } from './evaluate.ts';

function callActivity(session: string, call: CallRecord): SessionActivity {
  const tool = call.tool;
  return {
    session,
    atMs: Number(BigInt(call.end) / 1_000_000n),
    nano: call.costNano === null ? 0n : BigInt(call.costNano),
    call: {
      ...(tool === null ? {} : { tool: tool.name }),
      ...(tool?.argsHash == null ? {} : { argsHash: tool.argsHash }),
    },
  };
}

/** The activity `entry` adds for `policy`: `c` is its contribution (null when it adds none). */
export function activityOf(
  entry: LedgerEntry,
  c: Contribution | null,
  policy: PolicyIdentity,
): SessionActivity[] {
  if (entry.kind !== 'calls') {
    if (c === null) return [];
    return c.sessions.map((s) => ({ session: s.key, atMs: c.timeMs, nano: s.nano }));
  }
  // Calls of spans without a session charge the namespace; no session guard judges them. A
  // policy judges the calls it priced, tool calls without a tool rate included.
  if (entry.session === null || !pricedBy(entry.cost, entry.time.end, policy)) return [];
  const key = `${entry.session.namespace}/${entry.session.id}`;
  return entry.calls.map((call) => callActivity(key, call));
}
