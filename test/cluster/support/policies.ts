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

/** Applies a CostPolicy `name` with `rates` and one monthly Notify budget, `all`. */
export async function applyNamespacePolicy(
  name: string,
  rates: Record<string, string>,
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
        budgets: [{ name: 'all', amount: '1000', period: 'Monthly', action: 'Notify' }],
      },
    },
  ]);
}

/** The operator's committed ledger position for the node, from status.collection.cursors. */
export function policyCursorSeq(policy: PolicyStatus, node: string): bigint | undefined {
  return cursorSeq(policy.status?.collection?.cursors, node);
}
