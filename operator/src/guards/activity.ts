// Session activity from what the operator already collects: each ledger entry's session shares
// become spend records at the entry's time, which is all the spend-per-minute guard needs. Call
// and repeated-tool guards need one record per call, with the tool and the argument hash, from
// the call entries.
import type { Contribution } from '../budgets/contribution.ts';
import type { SessionActivity } from './evaluate.ts';

export function activityOf(c: Contribution): SessionActivity[] {
  const session = c.sessions[0]?.key;
  if (c.calls === null || session === undefined) {
    return c.sessions.map((s) => ({ session: s.key, atMs: c.timeMs, nano: s.nano }));
  }
  // One record per call at the call's end; spans carry no argument hash in the ledger.
  return c.calls.calls.map((call) => ({
    session,
    atMs: Number(BigInt(call.end) / 1_000_000n),
    nano: call.costNano === null ? 0n : BigInt(call.costNano),
    call: call.tool === null ? {} : { tool: call.tool.name },
  }));
}
