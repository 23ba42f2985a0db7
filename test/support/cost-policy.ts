// Suites make, read and delete their CostPolicies on the apiserver through these calls, which fill
// in the group, version and kind.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { COST_POLICY_GVK, type CostPolicy, type CostPolicySpec } from '@agentmeter/crds';

export async function createCostPolicy(
  custom: CustomObjectsApi,
  name: string,
  spec: CostPolicySpec,
): Promise<CostPolicy> {
  const { group, version, plural } = COST_POLICY_GVK;
  return (await custom.createClusterCustomObject({
    group,
    version,
    plural,
    body: { apiVersion: `${group}/${version}`, kind: 'CostPolicy', metadata: { name }, spec },
  })) as CostPolicy;
}

export async function getCostPolicy(custom: CustomObjectsApi, name: string): Promise<CostPolicy> {
  const { group, version, plural } = COST_POLICY_GVK;
  return (await custom.getClusterCustomObject({ group, version, plural, name })) as CostPolicy;
}

/** Deletes a CostPolicy if it is there (suites' clean-up). */
export async function deleteCostPolicy(custom: CustomObjectsApi, name: string): Promise<void> {
  const { group, version, plural } = COST_POLICY_GVK;
  await custom.deleteClusterCustomObject({ group, version, plural, name }).catch(() => undefined);
}
