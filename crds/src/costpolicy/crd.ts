import { API_GROUP, API_VERSION } from '../schema/common.ts';
import type { CrdDefinition } from '../schema/crd.ts';
import { costPolicySchema } from './schema.ts';

export const COST_POLICY_GVK = {
  group: API_GROUP,
  version: API_VERSION,
  kind: 'CostPolicy',
  plural: 'costpolicies',
} as const;

export const costPolicyCrd: CrdDefinition = {
  kind: COST_POLICY_GVK.kind,
  listKind: 'CostPolicyList',
  plural: COST_POLICY_GVK.plural,
  singular: 'costpolicy',
  shortNames: ['cpol'],
  scope: 'Cluster',
  schema: costPolicySchema,
  statusSubresource: true,
  source: 'crds/src/costpolicy/schema.ts',
  printerColumns: [
    {
      name: 'Currency',
      type: 'string',
      jsonPath: '.spec.currency',
      description: 'Currency of rates and budgets.',
    },
    {
      name: 'Budget Usage',
      type: 'string',
      jsonPath: '.status.topBudgetUtilization',
      description: 'Utilisation of the budget nearest to its limit.',
    },
    {
      name: 'Ready',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: 'Whether the operator has accepted the policy and is metering with it.',
    },
    {
      name: 'Priority',
      type: 'integer',
      jsonPath: '.spec.priority',
      description: 'Precedence among policies selecting the same pods.',
      priority: 1,
    },
    {
      name: 'Age',
      type: 'date',
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since creation.',
    },
  ],
};
