/**
 * CostReport API types, written by hand for reading; types.test.ts proves them equal to the
 * types derived from schema.ts.
 */
import type { WireLedgerPosition } from '../ledger/types.ts';
import type { Money, ObjectMeta, Timestamp } from '../schema/common-types.ts';

export interface CostBreakdown {
  /** The sum of the other fields. */
  total: Money;
  cpu: Money;
  memory: Money;
  gpu: Money;
  io: Money;
  network: Money;
  /** Model calls. */
  tokens: Money;
  /** Tool calls; absent from reports written before calls were priced. */
  tools?: Money;
  /** External API calls; absent from reports written before calls were priced. */
  apis?: Money;
}

export interface TokenCounts {
  input: number;
  output: number;
}

export interface NamespaceTotals {
  namespace: string;
  cost: CostBreakdown;
  tokens: TokenCounts;
  sessions: number;
}

export interface ReportTotals {
  cost: CostBreakdown;
  tokens: TokenCounts;
  sessions: number;
}

export interface ReportPolicy {
  name: string;
  /** The policy's metadata.generation when the period closed. */
  generation: number;
  budget?: string;
}

export interface ReportPeriod {
  start: Timestamp;
  end: Timestamp;
}

export interface ReportShard {
  index: number;
  count: number;
}

/** Immutable once created. */
export interface CostReportSpec {
  policy: ReportPolicy;
  period: ReportPeriod;
  currency: string;
  shard: ReportShard;
  totals: ReportTotals;
  namespaces: NamespaceTotals[];
  chainHeads: WireLedgerPosition[];
}

export interface CostReport {
  apiVersion: 'agentmeter.dev/v1alpha1';
  kind: 'CostReport';
  metadata: ObjectMeta;
  spec: CostReportSpec;
}
