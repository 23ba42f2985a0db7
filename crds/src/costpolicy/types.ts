/**
 * CostPolicy API types, written by hand for reading; types.test.ts proves them equal to the
 * types derived from schema.ts.
 */
import type {
  Condition,
  LabelSelector,
  Money,
  ObjectMeta,
  Timestamp,
} from '../schema/common-types.ts';

export type BudgetPeriod = 'Daily' | 'Weekly' | 'Monthly';
export type BudgetScope = 'Policy' | 'Namespace' | 'Session';
export type BudgetAction = 'Notify' | 'Suspend';
export type GpuBasis = 'Allocation' | 'Utilization';

export interface CostPolicySelector {
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
}

export interface GpuModelRate {
  model: string;
  rate: Money;
}

export interface GpuRates {
  default: Money;
  /** Defaults to Allocation. */
  basis?: GpuBasis;
  models?: GpuModelRate[];
}

export interface TokenPrices {
  /** Input tokens neither read from nor written to the cache. */
  inputPerMillion: Money;
  /** Reasoning tokens are part of output. */
  outputPerMillion: Money;
  /** Defaults to inputPerMillion (never silently free). */
  cacheReadPerMillion?: Money;
  /** Defaults to inputPerMillion. */
  cacheCreationPerMillion?: Money;
}

/** Prices of every token of a call whose input (cached included) is above aboveInputTokens. */
export interface LongContextRate extends TokenPrices {
  /** Greater than zero. */
  aboveInputTokens: number;
}

export interface TokenRate extends TokenPrices {
  /** A model name, or "*" for every model not listed. */
  model: string;
  longContext?: LongContextRate;
}

export interface ToolRate {
  /** A tool name, or "*" for every tool not listed. */
  name: string;
  perCall: Money;
}

export interface ApiRate {
  /** A DNS name, or "*." and a DNS name for every host under it; never a bare "*". */
  host: string;
  perCall: Money;
}

/** Omitted rates cost nothing; at least one must be set. */
export interface Rates {
  cpuCoreHour?: Money;
  memoryGiBHour?: Money;
  gpuHour?: GpuRates;
  ioGiB?: Money;
  networkGiB?: Money;
  tokens?: TokenRate[];
  tools?: ToolRate[];
  apis?: ApiRate[];
}

export interface Budget {
  name: string;
  /** Greater than zero; per namespace or session for those scopes. */
  amount: Money;
  period: BudgetPeriod;
  /** An IANA name listed in TIME_ZONES; defaults to UTC. */
  timeZone?: string;
  /** Defaults to Policy. */
  scope?: BudgetScope;
  /** Percentages of amount, 1 to 1000. */
  thresholds?: number[];
  /** Defaults to Notify. */
  action?: BudgetAction;
}

export type GuardAction = 'MarkOverBudget' | 'Suspend';

export interface RepeatedToolCall {
  /** 2 to 10,000 calls of one tool with one argument hash. */
  count: number;
  /** 1 to 86,400; defaults to 300. */
  windowSeconds?: number;
}

/** Exactly one of maxSpendPerMinute, maxCallsPerMinute and repeatedToolCall is set. */
export interface Guard {
  name: string;
  /** Greater than zero. */
  maxSpendPerMinute?: Money;
  /** 1 to 1,000,000. */
  maxCallsPerMinute?: number;
  repeatedToolCall?: RepeatedToolCall;
  /** Defaults to MarkOverBudget. */
  action?: GuardAction;
}

/** A cost-center tag; exactly one of namespaceLabel, podLabel and spanAttribute is set. */
export interface AllocationTag {
  /** Lowercase letters, digits, "-", "_" and "."; unique within the policy. */
  name: string;
  namespaceLabel?: string;
  podLabel?: string;
  spanAttribute?: string;
}

export interface Allocation {
  /** At most MAX_ALLOCATION_TAGS. */
  tags?: AllocationTag[];
}

export interface CostPolicySpec {
  selector?: CostPolicySelector;
  /** 0 to 1000, default 0; the highest wins, ties go to the name that sorts first. */
  priority?: number;
  /** ISO 4217 code; immutable. */
  currency: string;
  rates: Rates;
  budgets?: Budget[];
  guards?: Guard[];
  allocation?: Allocation;
}

export interface ScopeSpend {
  /** "*" (Policy scope), a namespace, or "namespace/session-id". */
  key: string;
  spent: Money;
}

export interface BudgetStatus {
  name: string;
  periodStart: Timestamp;
  periodEnd: Timestamp;
  spent: Money;
  remaining?: Money;
  forecast?: Money;
  forecastLow?: Money;
  forecastHigh?: Money;
  utilizationPercent?: number;
  thresholdsReached?: number[];
  topScopes?: ScopeSpend[];
  /** Scope keys with spend in the current period. */
  scopeKeys?: number;
  /** Scope keys whose spend reached the amount. */
  scopeKeysExceeded?: number;
}

export interface CollectionState {
  /** One "<node> <seq> <hash>" line per node agent, sorted by node. */
  cursors?: string;
}

/** Spend of one scope key of one budget in its current period. */
export interface Accumulator {
  budget: string;
  key: string;
  /** Integer nano-units of the currency, as a decimal string. */
  nano: string;
}

export type GuardKind = 'spendPerMinute' | 'callsPerMinute' | 'repeatedToolCall';

/** A session a guard tripped on: marked over budget on every agent until `until`. */
export interface TrippedGuard {
  guard: string;
  /** "namespace/session-id". */
  session: string;
  action: GuardAction;
  kind: GuardKind;
  /** When the limit was passed (the time of the ledger entry that passed it). */
  trippedAt: Timestamp;
  /** End of the policy's shortest budget period open at the trip (the UTC day without budgets). */
  until: Timestamp;
  /** Spend (Money) or calls in the window that passed the limit. */
  observed: string;
  limit: string;
  tool?: string;
}

export interface GuardsStatus {
  tripped?: TrippedGuard[];
  /** The agentmeter.dev/clear-guards annotation value last acted on. */
  cleared?: string;
  /** Activity up to this time was forgiven by the last clear. */
  clearedAt?: Timestamp;
  /** Operator-private: the guard window, written together with collection.cursors. */
  window?: string;
}

export interface CostPolicyStatus {
  observedGeneration?: number;
  guards?: GuardsStatus;
  conditions?: Condition[];
  /** e.g. "82%". */
  topBudgetUtilization?: string;
  budgets?: BudgetStatus[];
  lastCollectionTime?: Timestamp;
  collection?: CollectionState;
  /** Operator-private, versioned and compressed; written together with collection.cursors. */
  accumulatorState?: string;
  /** Operator-private: the hourly spend history, written together with collection.cursors. */
  spendHistory?: string;
  accumulators?: Accumulator[];
}

export interface CostPolicy {
  apiVersion: 'agentmeter.dev/v1alpha1';
  kind: 'CostPolicy';
  metadata: ObjectMeta;
  spec: CostPolicySpec;
  status?: CostPolicyStatus;
}
