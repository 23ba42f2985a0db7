// CostPolicies for the cluster suites: one that prices the pods of the namespaces labelled for
// it, and the operator's collection cursor as its status shows it.
import { apply } from './cluster.ts';
import { cursorSeq } from '../../../hack/demo/spend.ts';

export interface PolicyStatus {
  status?: {
    budgets?: { name: string; spent: string }[];
    collection?: { cursors?: string };
  };
}

/** The label a namespace carries to be priced by the policy `name`. */
export const POLICY_LABEL = 'agentmeter-test';

/** A Notify budget of a CostPolicy's spec. */
export interface TestBudget {
  readonly name: string;
  readonly amount: string;
  readonly period: 'Daily' | 'Weekly' | 'Monthly';
  readonly timeZone?: string;
  readonly action: 'Notify';
}

/** Applies a CostPolicy `name` with `rates` and `budgets` (one monthly budget, `all`, unless
 * given). */
export async function applyNamespacePolicy(
  name: string,
  rates: Record<string, string>,
  budgets: readonly TestBudget[] = [
    { name: 'all', amount: '1000', period: 'Monthly', action: 'Notify' },
  ],
): Promise<void> {
  await apply([
    {
      apiVersion: 'agentmeter.dev/v1alpha1',
      kind: 'CostPolicy',
      metadata: { name },
      spec: {
        selector: { namespaceSelector: { matchLabels: { [POLICY_LABEL]: name } } },
        currency: 'USD',
        rates,
        budgets,
      },
    },
  ]);
}

/** The operator's committed ledger position for the node, from status.collection.cursors. */
export function policyCursorSeq(policy: PolicyStatus, node: string): bigint | undefined {
  return cursorSeq(policy.status?.collection?.cursors, node);
}
