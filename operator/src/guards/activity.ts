// Session activity from what the operator already collects: each ledger entry's session shares
// become spend records at the entry's time, which is all the spend-per-minute guard needs. Call
// and repeated-tool guards need one record per call, with the tool and the argument hash, from
// the call entries.
import type { Contribution } from '../budgets/contribution.ts';
import type { SessionActivity } from './evaluate.ts';

export function activityOf(c: Contribution): SessionActivity[] {
  return c.sessions.map((s) => ({ session: s.key, atMs: c.timeMs, nano: s.nano }));
}
