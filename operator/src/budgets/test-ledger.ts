// Test builders: real sealed ledger entries (crds sealEntry), priced by a named policy.
import { GENESIS_PREV, sealEntry, usageToWire, zeroUsage } from '@agentmeter/crds';
import type { Budget, LedgerBody, LedgerEntry, PodUsageBody } from '@agentmeter/crds';
import type { PolicyView } from './accumulate.ts';

const ZERO = usageToWire(zeroUsage());

export interface PodCostSpec {
  readonly namespace: string;
  readonly nano: bigint;
  readonly atMs: number;
  readonly policy?: string | null;
  readonly session?: string;
}

export function podBody(spec: PodCostSpec, i = 0): PodUsageBody {
  const end = BigInt(spec.atMs) * 1_000_000n;
  const usage = { ...ZERO, cpuNs: '1000000000' };
  const session = spec.session ? { namespace: spec.namespace, id: spec.session } : null;
  const policy = spec.policy === undefined ? 'p' : spec.policy;
  return {
    kind: 'pod-usage',
    time: { start: (end - 1_000_000_000n).toString(), end: end.toString() },
    tick: `t${i}`,
    pod: {
      uid: `u-${spec.namespace}-${i}`,
      namespace: spec.namespace,
      name: `pod-${i}`,
      qos: 'Burstable',
    },
    usage,
    shares: [{ session, usage }],
    cost:
      policy === null
        ? null
        : {
            currency: 'USD',
            policy: { name: policy, generation: '1' },
            totalNano: spec.nano.toString(),
            bySession: [{ session, totalNano: spec.nano.toString() }],
          },
    priced: policy !== null,
    flags: [],
  };
}

/** Seals bodies one batch each, continuing after `after` (default: genesis). */
export function chainOf(
  node: string,
  bodies: readonly LedgerBody[],
  after?: LedgerEntry,
): LedgerEntry[] {
  const out: LedgerEntry[] = [];
  let prev = after?.hash ?? GENESIS_PREV;
  let seq = after ? BigInt(after.seq) : 0n;
  for (const body of bodies) {
    seq += 1n;
    const e = sealEntry({ node, agentId: 'a', ...body }, prev, seq);
    out.push(e);
    prev = e.hash;
  }
  return out;
}

/** Budgets of each scope, with three different period specs. */
export const budgets: Budget[] = [
  { name: 'all', amount: '10', period: 'Monthly' },
  { name: 'ns', amount: '1', period: 'Daily', scope: 'Namespace', timeZone: 'Europe/Berlin' },
  { name: 'sess', amount: '1', period: 'Weekly', scope: 'Session' },
];

/** Policy `p` (USD, CPU at 1 per core-hour) with `budgets`. */
export const view: PolicyView = {
  identity: { name: 'p', currency: 'USD', createdMs: 0, rates: { cpuCoreHour: '1' } },
  generation: 1,
  budgets,
};
