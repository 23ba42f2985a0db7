// Test builders: real sealed ledger entries (crds sealEntry), priced by a named policy.
import { GENESIS_PREV, sealEntry, usageToWire, zeroUsage } from '@agentmeter/crds';
import type {
  Budget,
  CallRecord,
  CallsBody,
  LedgerBody,
  LedgerEntry,
  PodUsageBody,
} from '@agentmeter/crds';
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
/** One call of a calls entry: a tool call when `tool` is set, else a model call; `nano` null
 * leaves it unpriced (no rate for its kind). */
export interface CallSpec {
  readonly atMs: number;
  readonly nano?: bigint | null;
  readonly tool?: string;
  readonly argsHash?: string | null;
}

const ZERO_TOKENS = { input: '0', output: '0', cacheRead: '0', cacheCreation: '0', reasoning: '0' };

function callRecord(c: CallSpec, i: number, seq: number): CallRecord {
  const end = BigInt(c.atMs) * 1_000_000n;
  const nano = c.nano === undefined ? 1000n : c.nano;
  const kind = c.tool === undefined ? 'model' : 'tool';
  return {
    traceId: `${'a'.repeat(24)}${seq.toString(16).padStart(8, '0')}`,
    spanId: (i + 1).toString(16).padStart(16, '0'),
    parentSpanId: null,
    start: (end - 100_000_000n).toString(),
    end: end.toString(),
    kind,
    operation: kind === 'tool' ? 'execute_tool' : 'chat',
    provider: kind === 'tool' ? null : 'openai',
    model: kind === 'tool' ? null : 'gpt-5',
    tool:
      c.tool === undefined
        ? null
        : { name: c.tool, type: 'function', callId: null, argsHash: c.argsHash ?? null },
    apiHost: null,
    tokens: kind === 'tool' ? null : ZERO_TOKENS,
    errorType: null,
    costNano: nano === null ? null : nano.toString(),
    rate: nano === null ? null : (c.tool ?? '*'),
    unpriced: nano === null ? (kind === 'tool' ? 'no-tool-rate' : 'no-model-rate') : null,
  };
}

/** A calls entry of `session` in `namespace` holding `calls`, priced by policy `p`. */
export function callsBody(
  spec: { namespace: string; session: string | null; calls: readonly CallSpec[] },
  i = 0,
): CallsBody {
  const calls = spec.calls.map((c, j) => callRecord(c, j, i));
  const ends = spec.calls.map((c) => BigInt(c.atMs) * 1_000_000n);
  const end = ends.reduce((a, b) => (a > b ? a : b));
  const total = calls.reduce((a, c) => a + BigInt(c.costNano ?? '0'), 0n);
  return {
    kind: 'calls',
    time: { start: (end - 1_000_000_000n).toString(), end: end.toString() },
    tick: `t${i}`,
    session: spec.session === null ? null : { namespace: spec.namespace, id: spec.session },
    pod: { uid: `u-${spec.namespace}-${i}`, namespace: spec.namespace, name: `pod-${i}` },
    calls,
    cost: { currency: 'USD', policy: { name: 'p', generation: '1' }, totalNano: total.toString() },
    priced: true,
  };
}

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
