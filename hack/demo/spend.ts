// The demo's total: what the operator reports as the demo policy's spend (CostPolicy status)
// and what the agent's ledger holds up to the operator's cursor. Pure functions on the status
// and the entries; the two must agree to the nano-unit.
import type { LedgerEntry } from '@agentmeter/crds';
import { pricedBy, type PolicyIdentity } from '../../operator/src/budgets/contribution.ts';

/** A policy as the operator tells its entries apart: name, currency and creation time. */
export type SpendPolicy = Pick<PolicyIdentity, 'name' | 'currency' | 'createdMs'>;

/** The SpendPolicy of a CostPolicy object as the apiserver returns it. */
export function spendPolicy(policy: {
  readonly metadata: { readonly name?: string; readonly creationTimestamp?: string | Date };
  readonly spec: { readonly currency: string };
}): SpendPolicy {
  const created = policy.metadata.creationTimestamp;
  if (created === undefined)
    throw new Error(`CostPolicy ${policy.metadata.name} has no creationTimestamp`);
  return {
    name: policy.metadata.name ?? '',
    currency: policy.spec.currency,
    createdMs: new Date(created).getTime(),
  };
}

/** The operator's committed ledger position for `node`, from status.collection.cursors. */
export function cursorSeq(cursors: string | undefined, node: string): bigint | undefined {
  for (const line of (cursors ?? '').split('\n')) {
    const [name, seq] = line.split(' ');
    if (name === node && seq) return BigInt(seq);
  }
  return undefined;
}

/**
 * Sum, in nano-units, of the entries up to `seq` that `policy` covers by the operator's own rule
 * (pricedBy): pods' usage, tokens (older ledgers) and calls priced under its name and currency,
 * measured after it was created (an earlier policy of the same name is not counted).
 */
export function ledgerSpendNano(
  entries: readonly LedgerEntry[],
  policy: SpendPolicy,
  seq: bigint,
): bigint {
  let sum = 0n;
  for (const e of entries) {
    if (BigInt(e.seq) > seq) continue;
    if (e.kind !== 'pod-usage' && e.kind !== 'tokens' && e.kind !== 'calls') continue;
    if (e.cost !== null && pricedBy(e.cost, e.time.end, policy)) sum += BigInt(e.cost.totalNano);
  }
  return sum;
}
