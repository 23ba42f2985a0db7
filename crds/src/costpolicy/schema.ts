/**
 * The OpenAPI v3 schema of CostPolicy (agentmeter.dev/v1alpha1, cluster-scoped), defined once.
 * The CRD manifest is generated from it (hack/generate-crds.ts) and the hand-written types in
 * types.ts are proven equal to `FromSchema` of it (types.test.ts).
 *
 * Bounds: every string, list and map is bounded so the apiserver can prove the CEL rules cheap
 * and an object stays far below etcd's 1.5 MiB limit except in the collection state, whose
 * bounds are sized for the largest clusters agentmeter supports (see `accumulators`).
 */
import {
  CONDITION,
  CURRENCY,
  DNS_LABEL_PATTERN,
  API_HOST_RATE_PATTERN,
  LABEL_KEY_INPUT,
  LABEL_SELECTOR,
  MONEY,
  MONEY_INPUT,
  MONEY_RULE,
  TIMESTAMP,
} from '../schema/common.ts';
import { FIELD_MAX_LENGTH, MAX_ENTRY_TAGS, TAG_NAME_PATTERN_SOURCE } from '../ledger/limits.ts';
import type { SchemaNode } from '../schema/from-schema.ts';
import { TIME_ZONES } from './time-zones.ts';

export const MAX_BUDGETS = 16;
export const MAX_THRESHOLDS = 10;
export const MAX_TOP_SCOPES = 20;
export const MAX_AGENT_NODES = 5000;
export const MAX_ACCUMULATORS = 20000;
/** Bound of status.accumulatorState; the operator keeps it far lower (size test). */
export const MAX_ACCUMULATOR_STATE_BYTES = 1024 * 1024;
/** Bound of status.collection.cursors: MAX_AGENT_NODES lines of a long node name. */
export const MAX_CURSORS_BYTES = 1024 * 1024;

/** A model name as reported by the GPU driver or a GenAI span: printable ASCII, trimmed. */
const MODEL_NAME = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  'x-kubernetes-validations': [
    {
      rule: "self.matches('^[!-~]([ -~]*[!-~])?$')",
      message: 'model must be printable ASCII without leading or trailing spaces',
    },
  ],
} as const satisfies SchemaNode;

/**
 * A scope key: `*` for the Policy scope, the namespace for the Namespace scope and
 * `namespace/session-id` for the Session scope.
 */
const SCOPE_KEY = { type: 'string', minLength: 1, maxLength: 320 } as const satisfies SchemaNode;

const BUDGET_NAME = {
  type: 'string',
  description: 'Name of the budget, unique within the policy (a DNS label).',
  minLength: 1,
  maxLength: 63,
  pattern: DNS_LABEL_PATTERN,
} as const satisfies SchemaNode;

/** A DNS-label name people write, checked by CEL so the message explains the format. */
function nameInput(what: string, description: string) {
  return {
    type: 'string',
    description,
    minLength: 1,
    maxLength: 63,
    'x-kubernetes-validations': [
      {
        rule: `self.matches('${DNS_LABEL_PATTERN}')`,
        message: `${what} name must be lowercase letters, digits and "-", starting and ending with a letter or digit (a DNS label)`,
      },
    ],
  } as const satisfies SchemaNode;
}

const BUDGET_NAME_INPUT = nameInput('budget', BUDGET_NAME.description);

/**
 * Checked by CEL membership rather than `enum`, whose error would list all ~600 names. The
 * operator computes period boundaries with Intl, which knows every one of them.
 */
const TIME_ZONE = {
  type: 'string',
  description: 'IANA time zone the period boundaries are computed in, e.g. Europe/Berlin.',
  maxLength: 64,
  default: 'UTC',
  'x-kubernetes-validations': [
    {
      rule: `self in [${TIME_ZONES.map((zone) => `'${zone}'`).join(', ')}]`,
      message:
        'timeZone must be an IANA time zone name such as UTC, Europe/Berlin or America/New_York',
    },
  ],
} as const satisfies SchemaNode;

/** Per-million token prices of a model, or of its long-context tier. */
const TOKEN_PRICES = {
  inputPerMillion: {
    ...MONEY_INPUT,
    description:
      'Price of one million input (prompt) tokens that were neither read from nor written to the cache.',
  },
  outputPerMillion: {
    ...MONEY_INPUT,
    description: 'Price of one million output (completion) tokens, reasoning tokens included.',
  },
  cacheReadPerMillion: {
    ...MONEY_INPUT,
    description:
      'Price of one million input tokens read from the prompt cache. Defaults to inputPerMillion.',
  },
  cacheCreationPerMillion: {
    ...MONEY_INPUT,
    description:
      'Price of one million input tokens written to the prompt cache. Defaults to inputPerMillion.',
  },
} as const satisfies Record<string, SchemaNode>;

export const MAX_CALL_RATES = 128;

/** A tool name as a span reports it: printable ASCII, trimmed; "*" for every other tool. */
const TOOL_NAME = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  'x-kubernetes-validations': [
    {
      rule: "self.matches('^[!-~]([ -~]*[!-~])?$')",
      message: 'tool name must be printable ASCII without leading or trailing spaces',
    },
  ],
} as const satisfies SchemaNode;

/** A DNS name, or `*.` and a DNS name for its subdomains: never a URL, a port or a bare `*`. */
const API_HOST = {
  type: 'string',
  description:
    'A host name such as api.stripe.com, or "*." and a domain for every host under it (not the domain itself).',
  minLength: 1,
  maxLength: 253,
  'x-kubernetes-validations': [
    {
      rule: "self != '*'",
      message:
        'host must not be a bare "*": only hosts a policy prices are API calls; write "*." and a domain',
    },
    {
      rule: `self.matches('${API_HOST_RATE_PATTERN}')`,
      message:
        'host must be a lower-case DNS name such as api.stripe.com, or "*." and one such as *.example.com; no scheme, port, path or query',
    },
  ],
} as const satisfies SchemaNode;

const rates = {
  type: 'object',
  description:
    'Prices of resources, tokens, tool calls and API calls, as decimal strings in spec.currency. A rate that is left out costs nothing.',
  properties: {
    cpuCoreHour: { ...MONEY_INPUT, description: 'Price of one CPU core used for one hour.' },
    memoryGiBHour: { ...MONEY_INPUT, description: 'Price of one GiB of memory held for one hour.' },
    gpuHour: {
      type: 'object',
      description: 'Price of one GPU for one hour.',
      required: ['default'],
      properties: {
        default: {
          ...MONEY_INPUT,
          description: 'Hourly price of a GPU whose model is not listed in models.',
        },
        basis: {
          type: 'string',
          description:
            'Allocation charges every hour a GPU is allocated to a pod; Utilization charges the hour scaled by the busy fraction the driver reports.',
          enum: ['Allocation', 'Utilization'],
          default: 'Allocation',
        },
        models: {
          type: 'array',
          description:
            'Hourly prices per GPU model, as the driver names it (e.g. "NVIDIA H100 80GB HBM3").',
          maxItems: 32,
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['model'],
          items: {
            type: 'object',
            required: ['model', 'rate'],
            properties: { model: MODEL_NAME, rate: MONEY_INPUT },
          },
        },
      },
    },
    ioGiB: { ...MONEY_INPUT, description: 'Price of one GiB of block I/O read or written.' },
    networkGiB: {
      ...MONEY_INPUT,
      description: 'Price of one GiB of network traffic sent or received.',
    },
    tokens: {
      type: 'array',
      description:
        'Prices per million tokens by model, matched against gen_ai.response.model (else gen_ai.request.model). The model "*" prices every model not listed.',
      maxItems: 128,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['model'],
      items: {
        type: 'object',
        required: ['model', 'inputPerMillion', 'outputPerMillion'],
        properties: {
          model: MODEL_NAME,
          ...TOKEN_PRICES,
          longContext: {
            type: 'object',
            description:
              'Prices for long prompts: every token of a call whose input (cached tokens included) is above aboveInputTokens is priced at these rates instead.',
            required: ['aboveInputTokens', 'inputPerMillion', 'outputPerMillion'],
            properties: {
              aboveInputTokens: {
                type: 'integer',
                format: 'int64',
                description: 'Input tokens of one call above which these rates apply.',
                maximum: Number.MAX_SAFE_INTEGER,
                'x-kubernetes-validations': [
                  { rule: 'self > 0', message: 'aboveInputTokens must be greater than zero' },
                ],
              },
              ...TOKEN_PRICES,
            },
          },
        },
      },
    },
    tools: {
      type: 'array',
      description:
        'Prices per tool call by tool name (gen_ai.tool.name, or the MCP tool). The name "*" prices every tool not listed.',
      maxItems: MAX_CALL_RATES,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: {
        type: 'object',
        required: ['name', 'perCall'],
        properties: {
          name: TOOL_NAME,
          perCall: { ...MONEY_INPUT, description: 'Price of one call of the tool.' },
        },
      },
    },
    apis: {
      type: 'array',
      description:
        'Prices per HTTP request by host. An HTTP client span to a host listed here is an API call; requests to other hosts are not recorded as calls.',
      maxItems: MAX_CALL_RATES,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['host'],
      items: {
        type: 'object',
        required: ['host', 'perCall'],
        properties: {
          host: API_HOST,
          perCall: { ...MONEY_INPUT, description: 'Price of one request to the host.' },
        },
      },
    },
  },
  'x-kubernetes-validations': [
    {
      rule: 'has(self.cpuCoreHour) || has(self.memoryGiBHour) || has(self.gpuHour) || has(self.ioGiB) || has(self.networkGiB) || (has(self.tokens) && size(self.tokens) > 0) || (has(self.tools) && size(self.tools) > 0) || (has(self.apis) && size(self.apis) > 0)',
      message:
        'rates must set at least one of cpuCoreHour, memoryGiBHour, gpuHour, ioGiB, networkGiB, tokens, tools or apis',
    },
  ],
} as const satisfies SchemaNode;

const budget = {
  type: 'object',
  required: ['name', 'amount', 'period'],
  properties: {
    name: BUDGET_NAME_INPUT,
    amount: {
      ...MONEY_INPUT,
      description:
        'Spend allowed per period, in spec.currency. With the Namespace or Session scope every namespace or session gets this amount.',
      'x-kubernetes-validations': [
        MONEY_RULE,
        { rule: "!self.matches('^[0.]*$')", message: 'budget amount must be greater than zero' },
      ],
    },
    period: {
      type: 'string',
      description:
        'Length of a budget period. Daily starts at midnight, Weekly on Monday at midnight and Monthly on the first day at midnight, all in timeZone.',
      enum: ['Daily', 'Weekly', 'Monthly'],
    },
    timeZone: TIME_ZONE,
    scope: {
      type: 'string',
      description:
        'What the amount applies to: Policy (everything the policy selects, together), Namespace (each namespace on its own) or Session (each agent session on its own).',
      enum: ['Policy', 'Namespace', 'Session'],
      default: 'Policy',
    },
    thresholds: {
      type: 'array',
      description:
        'Percentages of the amount (1-1000) at which a BudgetWarning (below 100) or BudgetExceeded (100 and above) event is raised, once per period and scope key.',
      maxItems: 10,
      'x-kubernetes-list-type': 'set',
      items: { type: 'integer', minimum: 1, maximum: 1000 },
    },
    action: {
      type: 'string',
      description:
        'What happens when spend reaches 100% of the amount: Notify only raises conditions and events; Suspend also stops the pods of the exhausted scope until the period ends.',
      enum: ['Notify', 'Suspend'],
      default: 'Notify',
    },
  },
} as const satisfies SchemaNode;

/** A positive money amount people write. */
const POSITIVE_MONEY_INPUT = {
  ...MONEY_INPUT,
  'x-kubernetes-validations': [
    MONEY_RULE,
    { rule: "!self.matches('^[0.]*$')", message: 'must be greater than zero' },
  ],
} as const satisfies SchemaNode;

export const MAX_GUARDS = 16;

const guard = {
  type: 'object',
  description:
    'A runaway-session limit. When a session passes it, the session is marked over budget on every agent so its runtime stops, and an Event names the guard.',
  required: ['name'],
  properties: {
    name: nameInput('guard', 'Name of the guard, unique within the policy (a DNS label).'),
    maxSpendPerMinute: {
      ...POSITIVE_MONEY_INPUT,
      description: 'Most one session may spend in any 60 seconds, in spec.currency.',
    },
    maxCallsPerMinute: {
      type: 'integer',
      format: 'int32',
      description: 'Most model, tool and API calls one session may make in any 60 seconds.',
      minimum: 1,
      maximum: 1_000_000,
    },
    repeatedToolCall: {
      type: 'object',
      description:
        'Trips when one session calls the same tool with the same arguments `count` times within `windowSeconds`. Arguments are compared by the hash a span carries (never the arguments themselves); a call without a hash never counts.',
      required: ['count'],
      properties: {
        count: {
          type: 'integer',
          format: 'int32',
          description: 'Identical calls that trip the guard.',
          minimum: 2,
          maximum: 10_000,
        },
        windowSeconds: {
          type: 'integer',
          format: 'int32',
          description: 'Length of the sliding window the identical calls are counted in.',
          minimum: 1,
          maximum: 86_400,
          default: 300,
        },
      },
    },
    action: {
      type: 'string',
      description:
        'MarkOverBudget stops the session through its runtime; Suspend also suspends the pods the session ran in, as a Suspend budget does.',
      enum: ['MarkOverBudget', 'Suspend'],
      default: 'MarkOverBudget',
    },
  },
  'x-kubernetes-validations': [
    {
      rule: '(has(self.maxSpendPerMinute) ? 1 : 0) + (has(self.maxCallsPerMinute) ? 1 : 0) + (has(self.repeatedToolCall) ? 1 : 0) == 1',
      message:
        'a guard sets exactly one of maxSpendPerMinute, maxCallsPerMinute or repeatedToolCall',
    },
  ],
} as const satisfies SchemaNode;

/** Every tag may have a value in an entry, so the ledger's bound is the policy's. */
export const MAX_ALLOCATION_TAGS = MAX_ENTRY_TAGS;
export const SPAN_ATTRIBUTE_KEY_MAX_LENGTH = 128;

const allocationTag = {
  type: 'object',
  description:
    'A cost-center tag: its value for an entry is read, when the agent measures it, from exactly one source.',
  required: ['name'],
  properties: {
    name: {
      type: 'string',
      description: 'Name of the tag, unique within the policy, e.g. team or cost-center.',
      minLength: 1,
      maxLength: FIELD_MAX_LENGTH.tagName,
      'x-kubernetes-validations': [
        {
          rule: `self.matches('${TAG_NAME_PATTERN_SOURCE}')`,
          message:
            'tag name must be lowercase letters, digits, "-", "_" and ".", starting with a letter and ending with a letter or digit',
        },
      ],
    },
    namespaceLabel: {
      ...LABEL_KEY_INPUT,
      description: "The value of this label of the pod's namespace.",
    },
    podLabel: { ...LABEL_KEY_INPUT, description: 'The value of this label of the pod.' },
    spanAttribute: {
      type: 'string',
      description:
        'The value of this attribute of the span a call came from (its resource attribute when the span has none), e.g. gen_ai.agent.name. Applies to calls; infrastructure usage has no span.',
      minLength: 1,
      maxLength: SPAN_ATTRIBUTE_KEY_MAX_LENGTH,
      'x-kubernetes-validations': [
        {
          rule: "self.matches('^[!-~]+$')",
          message: 'spanAttribute must be printable ASCII without spaces',
        },
      ],
    },
  },
  'x-kubernetes-validations': [
    {
      rule: '(has(self.namespaceLabel) ? 1 : 0) + (has(self.podLabel) ? 1 : 0) + (has(self.spanAttribute) ? 1 : 0) == 1',
      message: 'a tag sets exactly one of namespaceLabel, podLabel or spanAttribute',
    },
  ],
} as const satisfies SchemaNode;

const allocation = {
  type: 'object',
  description:
    'Cost centers: tags the agent records in every entry it prices with this policy, with their values at measurement time, so reports group by them (agentmeter report --by tag:NAME).',
  properties: {
    tags: {
      type: 'array',
      description: `Allocation tags (at most ${MAX_ALLOCATION_TAGS}), each with a unique name.`,
      maxItems: MAX_ALLOCATION_TAGS,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: allocationTag,
    },
  },
} as const satisfies SchemaNode;

export const costPolicySpecSchema = {
  type: 'object',
  description: 'Rates and budgets for the pods selected by the policy.',
  required: ['currency', 'rates'],
  properties: {
    selector: {
      type: 'object',
      description:
        'Which pods the policy prices: pods matching podSelector in namespaces matching namespaceSelector. An omitted or empty selector matches everything.',
      properties: {
        namespaceSelector: {
          ...LABEL_SELECTOR,
          description: 'Selects namespaces by their labels.',
        },
        podSelector: { ...LABEL_SELECTOR, description: 'Selects pods by their labels.' },
      },
    },
    priority: {
      type: 'integer',
      format: 'int32',
      description:
        'When several policies select a pod, the highest priority wins; ties go to the policy whose name sorts first.',
      minimum: 0,
      maximum: 1000,
      default: 0,
    },
    currency: CURRENCY,
    rates,
    budgets: {
      type: 'array',
      description: `Spending limits tracked per period (at most ${MAX_BUDGETS}).`,
      maxItems: MAX_BUDGETS,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: budget,
    },
    guards: {
      type: 'array',
      description: `Runaway-session limits checked every collection round (at most ${MAX_GUARDS}) over the recent ledger activity of each session.`,
      maxItems: MAX_GUARDS,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: guard,
    },
    allocation,
  },
  'x-kubernetes-validations': [
    {
      rule: 'self.currency == oldSelf.currency',
      message:
        'currency is immutable: spend already recorded would be misread in another currency; create a new CostPolicy instead',
    },
  ],
} as const satisfies SchemaNode;

const budgetStatus = {
  type: 'object',
  required: ['name', 'periodStart', 'periodEnd', 'spent'],
  properties: {
    name: BUDGET_NAME,
    periodStart: { ...TIMESTAMP, description: 'Start of the current period (inclusive).' },
    periodEnd: { ...TIMESTAMP, description: 'End of the current period (exclusive).' },
    spent: {
      ...MONEY,
      description:
        'Spend in the current period: the total over all scope keys for Namespace and Session scopes.',
    },
    remaining: {
      ...MONEY,
      description: 'Amount left before the limit for the scope key nearest to it; 0 once exceeded.',
    },
    forecast: {
      ...MONEY,
      description:
        "Projected spend at period end for the scope key nearest to its limit. With the key's hourly spend of earlier weeks: each remaining hour from the same hour in earlier weeks, scaled by the recent level against those weeks (the last day's rate with under a week of history). Without it: the linear projection from the period start.",
    },
    forecastLow: {
      ...MONEY,
      description:
        'Low bound of the forecast: the remaining hours at the lowest level of the last seven days. Absent for the linear projection.',
    },
    forecastHigh: {
      ...MONEY,
      description:
        'High bound of the forecast: the remaining hours at the highest level of the last seven days. Absent for the linear projection.',
    },
    utilizationPercent: {
      type: 'integer',
      format: 'int64',
      description:
        'Spend of the scope key nearest to its limit, in whole percent of the amount (rounded down).',
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
    },
    thresholdsReached: {
      type: 'array',
      description: 'Thresholds already reached (and notified) in the current period.',
      maxItems: 10,
      'x-kubernetes-list-type': 'set',
      items: { type: 'integer', minimum: 1, maximum: 1000 },
    },
    topScopes: {
      type: 'array',
      description: `The scope keys with the highest spend in the current period (at most ${MAX_TOP_SCOPES}).`,
      maxItems: MAX_TOP_SCOPES,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['key'],
      items: {
        type: 'object',
        required: ['key', 'spent'],
        properties: { key: SCOPE_KEY, spent: MONEY },
      },
    },
    scopeKeys: {
      type: 'integer',
      format: 'int64',
      description:
        'Scope keys with spend in the current period (namespaces, sessions); topScopes lists the highest.',
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
    },
    scopeKeysExceeded: {
      type: 'integer',
      format: 'int64',
      description: 'Scope keys whose spend in the current period reached the amount.',
      minimum: 0,
      maximum: Number.MAX_SAFE_INTEGER,
    },
  },
} as const satisfies SchemaNode;

export const MAX_TRIPPED_GUARDS = 100;
/** Bounds of status.guards.window and status.spendHistory; the operator trims to fit. */
export const MAX_GUARD_WINDOW_BYTES = 256 * 1024;
export const MAX_SPEND_HISTORY_BYTES = 256 * 1024;

const guardsStatus = {
  type: 'object',
  description:
    'Sessions the guards tripped on. Each stays marked over budget on every agent until the end of the period it tripped in, or until the agentmeter.dev/clear-guards annotation is given a new value.',
  properties: {
    tripped: {
      type: 'array',
      description: `Tripped (guard, session) pairs (at most ${MAX_TRIPPED_GUARDS}, the earliest kept).`,
      maxItems: MAX_TRIPPED_GUARDS,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['guard', 'session'],
      items: {
        type: 'object',
        required: ['guard', 'session', 'action', 'kind', 'trippedAt', 'until', 'observed', 'limit'],
        properties: {
          guard: { type: 'string', minLength: 1, maxLength: 63 },
          session: SCOPE_KEY,
          action: { type: 'string', enum: ['MarkOverBudget', 'Suspend'] },
          kind: { type: 'string', enum: ['spendPerMinute', 'callsPerMinute', 'repeatedToolCall'] },
          trippedAt: {
            ...TIMESTAMP,
            description: 'Time of the ledger entry that passed the limit.',
          },
          until: { ...TIMESTAMP, description: 'When the mark clears by itself.' },
          observed: {
            type: 'string',
            maxLength: 40,
            description: 'Spend (in spec.currency) or calls in the window that passed the limit.',
          },
          limit: { type: 'string', maxLength: 40 },
          tool: { type: 'string', maxLength: 256 },
        },
      },
    },
    cleared: {
      type: 'string',
      maxLength: 253,
      description: 'The agentmeter.dev/clear-guards annotation value last acted on.',
    },
    clearedAt: {
      ...TIMESTAMP,
      description: 'Activity up to this time was forgiven by the last clear.',
    },
    window: {
      type: 'string',
      description:
        'The recent session activity the guards judge (spend and calls of the counted ledger entries within twice the longest guard window), as "v1." + base64(gzip(JSON)). Written in the same update as collection.cursors, so a new operator leader goes on judging the same window.',
      maxLength: MAX_GUARD_WINDOW_BYTES,
    },
  },
} as const satisfies SchemaNode;

export const costPolicyStatusSchema = {
  type: 'object',
  description: 'Written by the operator only, through the status subresource.',
  properties: {
    observedGeneration: {
      type: 'integer',
      format: 'int64',
      description: 'The metadata.generation this status was computed from.',
      minimum: 0,
    },
    conditions: {
      type: 'array',
      description: 'Ready, BudgetWarning, BudgetExceeded and other conditions of the policy.',
      maxItems: 16,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: CONDITION,
    },
    topBudgetUtilization: {
      type: 'string',
      description: 'Highest utilizationPercent over all budgets, e.g. "82%", for kubectl get.',
      maxLength: 17,
      pattern: '^(0|[1-9][0-9]{0,15})%$',
    },
    budgets: {
      type: 'array',
      description: 'Spend per budget in its current period.',
      maxItems: MAX_BUDGETS,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: budgetStatus,
    },
    guards: guardsStatus,
    lastCollectionTime: {
      ...TIMESTAMP,
      description: 'When the operator last collected ledger entries.',
    },
    collection: {
      type: 'object',
      description:
        'Collection cursors, written in the same update as accumulators so every entry counts once.',
      properties: {
        cursors: {
          type: 'string',
          description: `Last ledger entry counted per node agent (at most ${MAX_AGENT_NODES}): one line "<node> <seq> <sha256 hex>" per node, sorted by node. One string rather than a list of objects, because the apiserver validates and tracks managed fields of every list item on each status write, which made a write with thousands of cursors several times slower.`,
          maxLength: MAX_CURSORS_BYTES,
        },
      },
    },
    accumulatorState: {
      type: 'string',
      description:
        'Running spend per budget, scope key and period plus the per-namespace report totals of the open periods, as "v1." + base64(gzip(JSON)). Written by the operator in the same update as collection.cursors; compact so 10,000 namespaces stay far below the etcd object size limit. Read budgets[] instead.',
      maxLength: MAX_ACCUMULATOR_STATE_BYTES,
    },
    spendHistory: {
      type: 'string',
      description:
        'Hourly spend per stream (policy, namespace, session) the forecasts and anomaly detectors read, as "v1." + base64(gzip(JSON)). Written in the same update as collection.cursors, so a new operator leader starts from the weeks already counted.',
      maxLength: MAX_SPEND_HISTORY_BYTES,
    },
    accumulators: {
      type: 'array',
      description:
        "Running spend per budget and scope key in the current period, in integer nano-units of the currency. Bounded by etcd's object size as much as by maxItems: keep keys short and drop a budget's entries when its period rolls over.",
      maxItems: MAX_ACCUMULATORS,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['budget', 'key'],
      items: {
        type: 'object',
        required: ['budget', 'key', 'nano'],
        properties: {
          budget: BUDGET_NAME,
          key: SCOPE_KEY,
          nano: { type: 'string', maxLength: 37, pattern: '^(0|[1-9][0-9]{0,35})$' },
        },
      },
    },
  },
} as const satisfies SchemaNode;

export const costPolicySchema = {
  type: 'object',
  description: 'CostPolicy sets the rates and budgets agentmeter meters agent sessions with.',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: costPolicySpecSchema,
    status: costPolicyStatusSchema,
  },
} as const satisfies SchemaNode;
