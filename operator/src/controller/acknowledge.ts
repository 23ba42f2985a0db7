// Acknowledging to each agent what every policy has durably counted, so it may compact its
// ledger up to there and no further.
import type { Logger } from 'pino';
import type { LedgerPosition } from '@agentmeter/crds';
import type { AgentApi } from '../collect/client.ts';
import { mapLimit } from './map-limit.ts';
import type { AgentPull } from './pull-ledgers.ts';

/** The lowest seq on `node` over every policy's cursors; undefined when some policy has counted
 * nothing there yet (acknowledging would let the agent drop what that policy still needs). */
export function lowestCounted(
  node: string,
  cursorsByPolicy: readonly ReadonlyMap<string, LedgerPosition>[],
): bigint | undefined {
  let min: bigint | undefined;
  for (const cursors of cursorsByPolicy) {
    const c = cursors.get(node);
    if (c === undefined) return undefined;
    min = min === undefined || c.seq < min ? c.seq : min;
  }
  return min;
}

export interface AcknowledgeDeps {
  readonly agentApi: AgentApi;
  readonly logger: Logger;
  readonly concurrency: number;
}

/** Sends each answering agent the lowest seq all policies counted, when it moved past what the
 * agent holds as acknowledged. `cursors` has one list per policy. A failure waits a round. */
export async function acknowledge(
  deps: AcknowledgeDeps,
  pulls: readonly AgentPull[],
  cursors: readonly (readonly LedgerPosition[])[],
): Promise<void> {
  if (cursors.length === 0) return;
  const byPolicy = cursors.map((cs) => new Map(cs.map((c) => [c.node, c])));
  await mapLimit(pulls, deps.concurrency, async (p) => {
    const min = lowestCounted(p.agent.node, byPolicy);
    if (min === undefined || min <= p.info.acked) return;
    try {
      await deps.agentApi.ack(p.agent, min);
    } catch (err) {
      deps.logger.warn(
        { node: p.agent.node, err: (err as Error).message },
        'acknowledgement failed; retried next round',
      );
    }
  });
}
