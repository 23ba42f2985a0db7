/**
 * Schema pieces shared by the CostPolicy and CostReport CRDs.
 *
 * Fields people write (the CostPolicy spec) check their format with a CEL rule and a message
 * that explains the format, rather than with `pattern`, whose error only shows the regular
 * expression; and the apiserver skips every CEL rule of an object that already failed an
 * OpenAPI keyword. Fields agentmeter writes (status, reports) use plain patterns.
 *
 * Our own regular expressions use `[.]` rather than `\.` so the same text is valid as an
 * OpenAPI `pattern` and inside a CEL string literal without another layer of escaping.
 */
import { SEQ_PATTERN } from '../ledger/position.ts';
import { CURRENCY_CODES } from '../money/currencies.ts';
import { DECIMAL_PATTERN_SOURCE, MAX_DECIMAL_LENGTH } from '../money/decimal-syntax.ts';
import type { CelRule, SchemaNode } from './from-schema.ts';

export const API_GROUP = 'agentmeter.dev';
export const API_VERSION = 'v1alpha1';

/** The money syntax parseMoney accepts, so the apiserver refuses exactly what it would. */
export const MONEY_PATTERN = DECIMAL_PATTERN_SOURCE;

/** An amount written by agentmeter. */
export const MONEY = {
  type: 'string',
  maxLength: MAX_DECIMAL_LENGTH,
  pattern: MONEY_PATTERN,
} as const satisfies SchemaNode;

export const MONEY_RULE = {
  // A raw CEL string, because the pattern escapes its dot with a backslash.
  rule: `self.matches(r'${MONEY_PATTERN}')`,
  message:
    'must be a non-negative decimal amount such as "12.50": digits without leading zeros, an optional "." and at most 9 decimals; no sign, exponent or separators',
} as const satisfies CelRule;

/** An amount written by people. */
export const MONEY_INPUT = {
  type: 'string',
  maxLength: MAX_DECIMAL_LENGTH,
  'x-kubernetes-validations': [MONEY_RULE],
} as const satisfies SchemaNode;

export const CURRENCY = {
  type: 'string',
  description:
    'ISO 4217 alphabetic code of the currency every amount is expressed in, e.g. USD or EUR.',
  enum: CURRENCY_CODES,
} as const satisfies SchemaNode;

/** A non-negative integer that JavaScript clients can read from JSON without losing precision. */
export const SAFE_COUNT = {
  type: 'integer',
  format: 'int64',
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
} as const satisfies SchemaNode;

export const TIMESTAMP = { type: 'string', format: 'date-time' } as const satisfies SchemaNode;

/** A DNS-1123 label, as used for namespace names and budget names. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A DNS-1123 subdomain, as used for node names. */
export const DNS_SUBDOMAIN_PATTERN =
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A CostPolicy API host: a DNS subdomain, or `*.` and one for every host under it. */
export const API_HOST_RATE_PATTERN = `^([*][.])?${DNS_SUBDOMAIN_PATTERN.slice(1)}`;

/** A label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters. */
export const LABEL_KEY_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
export const LABEL_KEY_MAX_LENGTH = 317;
export const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';

const LABEL_KEY_MESSAGE =
  'must be a label key: an optional DNS subdomain prefix and "/", then 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';

const LABEL_VALUE = {
  type: 'string',
  maxLength: 63,
  'x-kubernetes-validations': [
    {
      rule: `self.matches('${LABEL_VALUE_PATTERN}')`,
      message:
        'must be a label value: empty, or up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
    },
  ],
} as const satisfies SchemaNode;

/** A label key people write. */
export const LABEL_KEY_INPUT = {
  type: 'string',
  maxLength: LABEL_KEY_MAX_LENGTH,
  'x-kubernetes-validations': [
    { rule: `self.matches('${LABEL_KEY_PATTERN}')`, message: LABEL_KEY_MESSAGE },
  ],
} as const satisfies SchemaNode;

/** metav1.LabelSelector, bounded so CEL rules over it stay cheap. */
export const LABEL_SELECTOR = {
  type: 'object',
  properties: {
    matchLabels: {
      type: 'object',
      description: 'Labels that must all be present with exactly these values (at most 32).',
      maxProperties: 32,
      additionalProperties: LABEL_VALUE,
      'x-kubernetes-validations': [
        {
          rule: `self.all(k, size(k) <= ${LABEL_KEY_MAX_LENGTH} && k.matches('${LABEL_KEY_PATTERN}'))`,
          message: `every key ${LABEL_KEY_MESSAGE}`,
        },
      ],
    },
    matchExpressions: {
      type: 'array',
      description: 'Label requirements that must all hold (at most 16).',
      maxItems: 16,
      'x-kubernetes-list-type': 'atomic',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: LABEL_KEY_INPUT,
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: {
            type: 'array',
            maxItems: 64,
            'x-kubernetes-list-type': 'atomic',
            items: LABEL_VALUE,
          },
        },
        'x-kubernetes-validations': [
          {
            rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
            message:
              'values must be non-empty when operator is In or NotIn, and empty when it is Exists or DoesNotExist',
          },
        ],
      },
    },
  },
} as const satisfies SchemaNode;

/** metav1.Condition, as kubebuilder renders it. */
export const CONDITION = {
  type: 'object',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: {
      type: 'string',
      description: 'Condition type in CamelCase, e.g. Ready, BudgetWarning, BudgetExceeded.',
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    lastTransitionTime: { ...TIMESTAMP, description: 'When status last changed.' },
    reason: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    },
    message: { type: 'string', maxLength: 32768 },
  },
} as const satisfies SchemaNode;

/** Where the operator stands in one node agent's hash-chained ledger. */
export const LEDGER_POSITION = {
  type: 'object',
  required: ['node', 'seq', 'hash'],
  properties: {
    node: {
      type: 'string',
      description: 'Name of the node whose agent wrote the ledger.',
      minLength: 1,
      maxLength: 253,
      pattern: DNS_SUBDOMAIN_PATTERN,
    },
    seq: {
      type: 'string',
      description: 'Sequence number of the last ledger entry covered, as a decimal string.',
      maxLength: 20,
      pattern: SEQ_PATTERN,
    },
    hash: {
      type: 'string',
      description: 'Hex SHA-256 of that entry, so a rewritten or truncated ledger is detected.',
      maxLength: 64,
      pattern: '^[0-9a-f]{64}$',
    },
  },
} as const satisfies SchemaNode;
