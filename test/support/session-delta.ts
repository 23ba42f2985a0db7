// A session's day as a round adds it to the store: tests that fill the store give the session,
// its day and its infrastructure and token spend; a token spend is one call.
import type { SessionDelta } from '../../operator/src/store/accounting.ts';

const DAY_NS = 86_400_000_000_000n;

export function sessionDelta(
  ns: string,
  id: string,
  day: number,
  infra: bigint,
  tokens: bigint,
): SessionDelta {
  return {
    namespace: ns,
    sessionId: id,
    day,
    infraNano: infra,
    tokensNano: tokens,
    toolsNano: 0n,
    apisNano: 0n,
    calls: tokens > 0n ? 1n : 0n,
    unpricedCalls: 0n,
    inputTokens: 10n,
    outputTokens: 5n,
    firstNs: BigInt(day) * DAY_NS + 1n,
    lastNs: BigInt(day) * DAY_NS + 2n,
  };
}
