/**
 * The OpenAPI v3 schema of CostReport (agentmeter.dev/v1alpha1, cluster-scoped): the
 * chargeback record of one closed budget period of one CostPolicy, split into shards so that
 * clusters with thousands of namespaces stay under etcd's object size limit. A report is a
 * record, not desired state: CEL transition rules make its spec immutable once created.
 */
import {
  CURRENCY,
  DNS_LABEL_PATTERN,
  LEDGER_POSITION,
  MONEY,
  SAFE_COUNT,
  TIMESTAMP,
} from '../schema/common.ts';
import type { SchemaNode } from '../schema/from-schema.ts';

export const MAX_REPORT_NAMESPACES = 1000;
export const MAX_REPORT_SHARDS = 256;
export const MAX_CHAIN_HEADS = 5000;

const costBreakdown = {
  type: 'object',
  description: 'Cost by resource, as decimal strings in spec.currency; total is their sum.',
  required: ['total', 'cpu', 'memory', 'gpu', 'io', 'network', 'tokens'],
  properties: {
    total: MONEY,
    cpu: MONEY,
    memory: MONEY,
    gpu: MONEY,
    io: MONEY,
    network: MONEY,
    tokens: { ...MONEY, description: 'Model calls: tokens priced by rates.tokens.' },
    tools: {
      ...MONEY,
      description:
        'Tool calls priced by rates.tools. Absent from reports written before tool calls were priced.',
    },
    apis: {
      ...MONEY,
      description:
        'External API calls priced by rates.apis. Absent from reports written before API calls were priced.',
    },
  },
} as const satisfies SchemaNode;

const tokenCounts = {
  type: 'object',
  description: 'Tokens counted, by direction.',
  required: ['input', 'output'],
  properties: { input: SAFE_COUNT, output: SAFE_COUNT },
} as const satisfies SchemaNode;

const namespaceTotals = {
  type: 'object',
  required: ['namespace', 'cost', 'tokens', 'sessions'],
  properties: {
    namespace: { type: 'string', minLength: 1, maxLength: 63, pattern: DNS_LABEL_PATTERN },
    cost: costBreakdown,
    tokens: tokenCounts,
    sessions: { ...SAFE_COUNT, description: 'Agent sessions that incurred cost in the namespace.' },
  },
} as const satisfies SchemaNode;

export const costReportSpecSchema = {
  type: 'object',
  required: ['policy', 'period', 'currency', 'shard', 'totals', 'namespaces', 'chainHeads'],
  properties: {
    policy: {
      type: 'object',
      description: 'The CostPolicy the period belongs to.',
      required: ['name', 'generation'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 253 },
        generation: {
          type: 'integer',
          format: 'int64',
          description: 'metadata.generation of the policy when the period closed.',
          minimum: 1,
        },
        budget: {
          type: 'string',
          description: 'The budget whose period closed, when the report covers one budget.',
          maxLength: 63,
          pattern: DNS_LABEL_PATTERN,
        },
      },
    },
    period: {
      type: 'object',
      required: ['start', 'end'],
      properties: {
        start: { ...TIMESTAMP, description: 'Start of the period (inclusive).' },
        end: { ...TIMESTAMP, description: 'End of the period (exclusive).' },
      },
      'x-kubernetes-validations': [
        { rule: 'self.end > self.start', message: 'period.end must be after period.start' },
      ],
    },
    currency: CURRENCY,
    shard: {
      type: 'object',
      description:
        'This report is shard index of count; together the shards cover every namespace once.',
      required: ['index', 'count'],
      properties: {
        index: { type: 'integer', format: 'int32', minimum: 0, maximum: MAX_REPORT_SHARDS - 1 },
        count: { type: 'integer', format: 'int32', minimum: 1, maximum: MAX_REPORT_SHARDS },
      },
      'x-kubernetes-validations': [
        { rule: 'self.index < self.count', message: 'shard.index must be less than shard.count' },
      ],
    },
    totals: {
      type: 'object',
      description: 'Sum over the namespaces of this shard.',
      required: ['cost', 'tokens', 'sessions'],
      properties: { cost: costBreakdown, tokens: tokenCounts, sessions: SAFE_COUNT },
    },
    namespaces: {
      type: 'array',
      description: `Totals per namespace in this shard (at most ${MAX_REPORT_NAMESPACES}).`,
      maxItems: MAX_REPORT_NAMESPACES,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['namespace'],
      items: namespaceTotals,
    },
    chainHeads: {
      type: 'array',
      description:
        'For every node agent, the last ledger entry the period covers, so totals can be audited.',
      maxItems: MAX_CHAIN_HEADS,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['node'],
      items: LEDGER_POSITION,
    },
  },
  'x-kubernetes-validations': [
    {
      rule: 'self == oldSelf',
      message: 'a CostReport is immutable: its period is closed and its totals are final',
    },
  ],
} as const satisfies SchemaNode;

export const costReportSchema = {
  type: 'object',
  description: 'CostReport is the immutable chargeback record of one closed budget period.',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: costReportSpecSchema,
  },
} as const satisfies SchemaNode;
