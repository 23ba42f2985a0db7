import { API_GROUP, API_VERSION } from '../schema/common.ts';
import type { CrdDefinition } from '../schema/crd.ts';
import { costReportSchema } from './schema.ts';

export const COST_REPORT_GVK = {
  group: API_GROUP,
  version: API_VERSION,
  kind: 'CostReport',
  plural: 'costreports',
} as const;

export const costReportCrd: CrdDefinition = {
  kind: COST_REPORT_GVK.kind,
  listKind: 'CostReportList',
  plural: COST_REPORT_GVK.plural,
  singular: 'costreport',
  shortNames: ['crep'],
  scope: 'Cluster',
  schema: costReportSchema,
  statusSubresource: false,
  source: 'crds/src/costreport/schema.ts',
  printerColumns: [
    {
      name: 'Policy',
      type: 'string',
      jsonPath: '.spec.policy.name',
      description: 'The CostPolicy reported on.',
    },
    {
      name: 'Start',
      type: 'string',
      jsonPath: '.spec.period.start',
      description: 'Start of the closed period.',
    },
    {
      name: 'End',
      type: 'string',
      jsonPath: '.spec.period.end',
      description: 'End of the closed period.',
    },
    {
      name: 'Currency',
      type: 'string',
      jsonPath: '.spec.currency',
      description: 'Currency of all amounts.',
    },
    {
      name: 'Total',
      type: 'string',
      jsonPath: '.spec.totals.cost.total',
      description: 'Total cost of this shard.',
    },
    {
      name: 'Shard',
      type: 'integer',
      jsonPath: '.spec.shard.index',
      description: 'Shard index.',
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
