// CostPolicies for the cluster suites: one that prices the pods of the namespaces labelled for
// it, and the operator's collection cursor as its status shows it.
import { apply, kubectlOk } from './cluster.ts';
import { createNamespace, deleteNamespace } from './pods.ts';
import { cursorSeq } from '../../../hack/demo/spend.ts';

export interface PolicyStatus {
  status?: {
    budgets?: { name: string; spent: string }[];
    collection?: { cursors?: string };
  };
}

/** The label a namespace carries to be priced by the policy `name`. */
export const POLICY_LABEL = 'agentmeter-test';

/** Creates a namespace named from `prefix`, labelled to be priced by the policy `policy`. */
export async function createPolicyNamespace(prefix: string, policy: string): Promise<string> {
  const namespace = await createNamespace(prefix);
  await kubectlOk(['label', 'namespace', namespace, `${POLICY_LABEL}=${policy}`]);
  return namespace;
}

/** Deletes the policy `policy` if it is there, and `namespace` if one was made. */
export async function deletePolicyNamespace(policy: string, namespace: string): Promise<void> {
  await kubectlOk(['delete', 'costpolicy', policy, '--ignore-not-found']);
  if (namespace) await deleteNamespace(namespace);
}

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
  await apply([namespacePolicy(name, { rates, budgets })]);
}

/** A USD CostPolicy `name` over the namespaces labelled for it; `spec` gives the rest (rates,
 * budgets, guards). */
export function namespacePolicy(name: string, spec: Record<string, unknown>): object {
  return {
    apiVersion: 'agentmeter.dev/v1alpha1',
    kind: 'CostPolicy',
    metadata: { name },
    spec: {
      selector: { namespaceSelector: { matchLabels: { [POLICY_LABEL]: name } } },
      currency: 'USD',
      ...spec,
    },
  };
}

/** The operator's committed ledger position for the node, from status.collection.cursors. */
export function policyCursorSeq(policy: PolicyStatus, node: string): bigint | undefined {
  return cursorSeq(policy.status?.collection?.cursors, node);
}
