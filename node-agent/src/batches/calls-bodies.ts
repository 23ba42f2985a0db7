// One tick's calls of one pod and session → priced call records and their `calls` entries.
// Each call is priced on its own (rounded once), the entry's total is their exact sum, and a
// call with no rate is recorded unpriced with the reason: never silently free.
import {
  MAX_CALLS_PER_ENTRY,
  mergeTags,
  type CallPrice,
  type CallRecord,
  type CallsBody,
  type CallTool,
  type CallUsage,
  type EntryTags,
  type SessionRef,
  type TimeRange,
} from '@agentmeter/crds';
import type { CallDraft, CallPod } from '../calls/index.ts';
import type { PricingRef } from './tick-batcher.ts';

export interface CallPricing {
  readonly ref: PricingRef;
  readonly price: (call: CallUsage) => CallPrice;
}

const NO_POLICY: CallPrice = { costNano: null, rate: null, unpriced: 'no-policy' };

/** By start, then trace id and span id (fixed-width hex, so the order of their concatenation). */
function byStart(a: CallDraft, b: CallDraft): number {
  if (a.startNs !== b.startNs) return a.startNs < b.startNs ? -1 : 1;
  if (a.traceId !== b.traceId) return a.traceId < b.traceId ? -1 : 1;
  return a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0;
}

// A tool without an argument hash leaves the key out, as entries of agents before hashing did.
function toolRecord(tool: NonNullable<CallDraft['tool']>): CallTool {
  const { argsHash, ...rest } = tool;
  return argsHash === null ? rest : tool;
}

export function callRecord(call: CallDraft, price: CallPrice): CallRecord {
  const t = call.tokens;
  return {
    traceId: call.traceId,
    spanId: call.spanId,
    parentSpanId: call.parentSpanId,
    start: call.startNs.toString(),
    end: call.endNs.toString(),
    kind: call.kind,
    operation: call.operation,
    provider: call.provider,
    model: call.model,
    tool: call.tool === null ? null : toolRecord(call.tool),
    apiHost: call.apiHost,
    tokens:
      t === null
        ? null
        : {
            input: t.input.toString(),
            output: t.output.toString(),
            cacheRead: t.cacheRead.toString(),
            cacheCreation: t.cacheCreation.toString(),
            reasoning: t.reasoning.toString(),
          },
    errorType: call.errorType,
    costNano: price.costNano === null ? null : price.costNano.toString(),
    rate: price.rate,
    unpriced: price.unpriced,
  };
}

export function callUsage(call: CallDraft): CallUsage {
  return {
    kind: call.kind,
    model: call.model,
    toolName: call.tool?.name ?? null,
    apiHost: call.apiHost,
    tokens: call.tokens,
  };
}

/**
 * The group's priced records, in start order, and its entries of at most MAX_CALLS_PER_ENTRY.
 * Calls whose span-attribute tags differ go to different entries, so each entry's tags are true
 * of all its calls; an unpriced group records no tags (tags are a policy's).
 */
export function callsBodies(
  tick: string,
  time: TimeRange,
  pod: CallPod,
  session: SessionRef | null,
  drafts: readonly CallDraft[],
  pricing: CallPricing | null,
): { records: CallRecord[]; bodies: CallsBody[] } {
  const sorted = [...drafts].sort(byStart);
  const records = sorted.map((d) =>
    callRecord(d, pricing === null ? NO_POLICY : pricing.price(callUsage(d))),
  );
  const byTags = new Map<string, { tags: EntryTags | undefined; calls: CallRecord[] }>();
  sorted.forEach((draft, i) => {
    const tags = pricing === null ? undefined : mergeTags(pricing.ref.tags, draft.spanTags);
    const key = JSON.stringify(tags ?? {});
    let group = byTags.get(key);
    if (group === undefined) {
      group = { tags, calls: [] };
      byTags.set(key, group);
    }
    group.calls.push(records[i] as CallRecord);
  });
  const bodies: CallsBody[] = [];
  for (const group of byTags.values()) {
    for (let i = 0; i < group.calls.length; i += MAX_CALLS_PER_ENTRY) {
      const calls = group.calls.slice(i, i + MAX_CALLS_PER_ENTRY);
      let totalNano = 0n;
      for (const c of calls) if (c.costNano !== null) totalNano += BigInt(c.costNano);
      bodies.push({
        kind: 'calls',
        tick,
        time,
        session,
        pod: { uid: pod.uid, namespace: pod.namespace, name: pod.name },
        calls,
        cost:
          pricing === null
            ? null
            : {
                currency: pricing.ref.currency,
                policy: pricing.ref.policy,
                totalNano: totalNano.toString(),
              },
        priced: pricing !== null,
        ...(group.tags === undefined ? {} : { tags: group.tags }),
      });
    }
  }
  return { records, bodies };
}
