// FinOps FOCUS (1.0) cost-and-usage rows from the store's daily spend: one row per day and
// group, charged in that day, billed in its calendar month. Pure: rows in, records out.
import { formatMoney } from '@agentmeter/crds';
import type { Breakdown, DailyRow } from '../store/accounting.ts';
import { dayStart, monthOf } from './period.ts';

/** FOCUS column name to value; null is FOCUS's null (an empty CSV cell). */
export type FocusRecord = Readonly<Record<(typeof FOCUS_COLUMNS)[number], string | null>>;

export interface FocusContext {
  /** The CostPolicy: agentmeter's billing unit, so FOCUS's billing account. */
  readonly policy: string;
  /** ISO 4217, the policy's currency. */
  readonly currency: string;
  readonly by: Breakdown;
}

const ISSUER = 'agentmeter';
const SERVICE: Record<Breakdown['by'], string> = {
  namespace: 'AI agent sessions',
  tag: 'AI agent sessions',
  model: 'AI model calls',
  tool: 'AI agent tool calls',
  api: 'External API calls',
};

function groupName(by: Breakdown): string {
  return by.by === 'tag' ? `tag:${by.tag}` : by.by;
}

/** The columns written, in this order: FOCUS 1.0's mandatory ones, then those that apply here. */
export const FOCUS_COLUMNS = [
  'BilledCost',
  'BillingAccountId',
  'BillingAccountName',
  'BillingCurrency',
  'BillingPeriodStart',
  'BillingPeriodEnd',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargeFrequency',
  'ChargePeriodStart',
  'ChargePeriodEnd',
  'ContractedCost',
  'EffectiveCost',
  'InvoiceIssuerName',
  'ListCost',
  'PricingQuantity',
  'PricingUnit',
  'ProviderName',
  'PublisherName',
  'ServiceCategory',
  'ServiceName',
  'SubAccountId',
  'SubAccountName',
  'Tags',
  'x_AgentmeterGroupBy',
  'x_AgentmeterGroup',
] as const;

export function focusRecords(rows: readonly DailyRow[], ctx: FocusContext): FocusRecord[] {
  return rows.map((r) => {
    const billing = monthOf(r.day);
    // agentmeter prices at list: no negotiated or commitment discounts exist to apply.
    const cost = formatMoney(r.costNano);
    const key = r.key ?? '';
    return {
      BilledCost: cost,
      BillingAccountId: ctx.policy,
      BillingAccountName: ctx.policy,
      BillingCurrency: ctx.currency,
      BillingPeriodStart: dayStart(billing.fromDay),
      BillingPeriodEnd: dayStart(billing.toDay),
      ChargeCategory: 'Usage',
      ChargeClass: null,
      ChargeDescription: `${groupName(ctx.by)} ${r.key ?? '(none)'}: ${r.calls} calls`,
      ChargeFrequency: 'Usage-Based',
      ChargePeriodStart: dayStart(r.day),
      ChargePeriodEnd: dayStart(r.day + 1),
      ContractedCost: cost,
      EffectiveCost: cost,
      InvoiceIssuerName: ISSUER,
      ListCost: cost,
      PricingQuantity: r.calls.toString(),
      PricingUnit: 'Calls',
      ProviderName: ISSUER,
      PublisherName: ISSUER,
      ServiceCategory: 'AI and Machine Learning',
      ServiceName: SERVICE[ctx.by.by],
      SubAccountId: ctx.by.by === 'namespace' ? key : null,
      SubAccountName: ctx.by.by === 'namespace' ? key : null,
      Tags: ctx.by.by === 'tag' && r.key !== null ? JSON.stringify({ [ctx.by.tag]: r.key }) : null,
      x_AgentmeterGroupBy: groupName(ctx.by),
      x_AgentmeterGroup: r.key,
    };
  });
}
