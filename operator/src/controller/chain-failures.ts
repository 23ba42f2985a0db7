// Tells every policy when an agent's ledger chain starts failing verification: one Warning Event
// per policy at the onset, not one every round the failure lasts.
import type { CostPolicy } from '@agentmeter/crds';
import type { EventRecorder } from '../runtime/index.ts';
import type { ChainFailure } from '../collect/pull.ts';
import { policyRef } from './policies.ts';

export class ChainFailureEvents {
  readonly #events: Pick<EventRecorder, 'record'>;
  /** Nodes whose chain failed last round. */
  #failing = new Set<string>();

  constructor(events: Pick<EventRecorder, 'record'>) {
    this.#events = events;
  }

  /** `refused`: this round's failing nodes; a node failing since last round is not repeated. */
  async report(
    refused: readonly { node: string; failure: ChainFailure }[],
    policies: readonly CostPolicy[],
  ): Promise<void> {
    for (const { node, failure: f } of refused) {
      if (this.#failing.has(node)) continue;
      for (const policy of policies) {
        await this.#events.record(policyRef(policy), {
          type: 'Warning',
          reason: 'LedgerChainBroken',
          action: 'Collect',
          note: `ledger of node ${node} does not verify (${f.reason} at seq ${f.seq}: ${f.detail}); its entries from there on are refused`,
        });
      }
    }
    this.#failing = new Set(refused.map((r) => r.node));
  }
}
