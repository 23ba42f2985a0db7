// Suites make their CostPolicies on the apiserver through this one call, which fills in the kind.
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
