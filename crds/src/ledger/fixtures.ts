import { sealEntry } from './chain.ts';
import { GENESIS_PREV } from './types.ts';
import { usageToWire, zeroUsage } from './usage.ts';
import type {
  CallRecord,
  CallsBody,
  LedgerBody,
  LedgerDraft,
  LedgerEntry,
  PodUsageBody,
} from './types.ts';

/** Test data builders shared by the ledger tests (not exported from the package). */

export const IDENTITY = { node: 'node-a', agentId: 'agent-1', bootId: 'boot-1' } as const;

export function podUsage(i: number, overrides: Partial<PodUsageBody> = {}): PodUsageBody {
  const usage = {
    cpuNs: (18_446_744_073_709_551_000n + BigInt(i)).toString(),
    memoryByteSeconds: '1073741824',
    ioReadBytes: '0',
    ioWriteBytes: '4096',
    netRxBytes: '12',
    netTxBytes: '34',
  };
  return {
    kind: 'pod-usage',
    time: { start: '1700000000000000000', end: '1700000001000000000' },
    tick: `t${i}`,
    pod: { uid: `uid-${i}`, namespace: 'agents', name: `pod-${i}`, qos: 'Burstable' },
    usage,
    shares: [{ session: null, usage }],
    cost: null,
    priced: false,
    flags: [],
    ...overrides,
  };
}

export function sampleBodies(): LedgerBody[] {
  const time = { start: '1700000000000000000', end: '1700000001000000000' };
  const zero = usageToWire(zeroUsage());
  return [
    podUsage(1, {
      pod: {
        uid: 'u1',
        namespace: 'agents',
        name: 'p1',
        qos: 'Guaranteed',
        workload: { kind: 'Job', name: 'run-1' },
      },
      usage: { ...zero, cpuNs: '10', gpuAllocatedUs: '7' },
      shares: [
        {
          session: { namespace: 'agents', id: 's-1' },
          usage: { ...zero, cpuNs: '6', gpuAllocatedUs: '4' },
        },
        { session: null, usage: { ...zero, cpuNs: '4', gpuAllocatedUs: '3' } },
      ],
      cost: {
        currency: 'EUR',
        policy: { name: 'default', generation: '3' },
        totalNano: '1500',
        bySession: [
          { session: { namespace: 'agents', id: 's-1' }, totalNano: '900' },
          { session: null, totalNano: '600' },
        ],
      },
      priced: true,
      flags: ['first-sample'],
    }),
    {
      kind: 'node-usage',
      time,
      tick: 't1',
      nodeTotal: { ...zero, cpuNs: '15', gpuAllocatedUs: '7' },
      pods: { ...zero, cpuNs: '10', gpuAllocatedUs: '7' },
      nonPod: { ...zero, cpuNs: '5' },
      podEntries: '1',
    },
    {
      kind: 'tokens',
      time,
      tick: 't1',
      session: { namespace: 'agents', id: 's-1' },
      pod: { uid: 'u1', namespace: 'agents', name: 'p1' },
      models: [{ model: 'gpt-x', inputTokens: '1200', outputTokens: '80' }],
      cost: null,
      priced: false,
    },
    {
      kind: 'checkpoint',
      time,
      tick: 't1',
      cgroups: [{ key: 'u1/4242', podUid: 'u1', counters: { usage_usec: '18446744073709551615' } }],
    },
    {
      kind: 'marker',
      time: { start: time.end, end: time.end },
      event: 'agent-start',
      detail: { version: '0.1.0' },
    },
    callsBody(),
  ];
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** A model call priced by the "*" rate: 10,000 input tokens of which 8,000 read from cache. */
export function modelCall(overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    traceId: TRACE,
    spanId: '00f067aa0ba902b7',
    parentSpanId: 'a3ce929d0e0e4736',
    start: '1700000000100000000',
    end: '1700000000900000000',
    kind: 'model',
    operation: 'chat',
    provider: 'anthropic',
    model: 'claude-sonnet-4',
    tool: null,
    apiHost: null,
    tokens: {
      input: '10000',
      output: '500',
      cacheRead: '8000',
      cacheCreation: '0',
      reasoning: '0',
    },
    errorType: null,
    costNano: '15900000',
    rate: '*',
    unpriced: null,
    ...overrides,
  };
}

/** One tick's calls of a session: a priced model call, an unpriced tool call and an API call. */
export function callsBody(overrides: Partial<CallsBody> = {}): CallsBody {
  return {
    kind: 'calls',
    time: { start: '1700000000000000000', end: '1700000001000000000' },
    tick: 't1',
    session: { namespace: 'agents', id: 's-1' },
    pod: { uid: 'u1', namespace: 'agents', name: 'p1' },
    calls: [
      modelCall(),
      {
        ...modelCall({ spanId: '00f067aa0ba902b8', kind: 'tool', operation: 'execute_tool' }),
        provider: null,
        model: null,
        tool: { name: 'web_search', type: 'function', callId: 'call_1' },
        tokens: null,
        costNano: null,
        rate: null,
        unpriced: 'no-tool-rate',
      },
      {
        ...modelCall({ spanId: '00f067aa0ba902b9', kind: 'api', operation: 'http' }),
        provider: null,
        model: null,
        apiHost: 'api.stripe.com',
        tokens: null,
        errorType: '503',
        costNano: '2000000',
        rate: 'api.stripe.com',
      },
    ],
    cost: {
      currency: 'USD',
      policy: { name: 'default', generation: '3' },
      totalNano: '17900000',
    },
    priced: true,
    ...overrides,
  };
}

export function draft(body: LedgerBody): LedgerDraft {
  return { ...IDENTITY, ...body };
}

/** A sealed chain from seq 1: one batch of pod entries per item of `batchSizes`, that size. */
export function buildChain(batchSizes: readonly number[]): LedgerEntry[] {
  const entries: LedgerEntry[] = [];
  let prev = GENESIS_PREV;
  let seq = 1n;
  for (const size of batchSizes) {
    const first = seq;
    for (let i = 0; i < size; i++) {
      const entry = sealEntry(draft(podUsage(Number(seq))), prev, seq, {
        first,
        size: BigInt(size),
      });
      entries.push(entry);
      prev = entry.hash;
      seq += 1n;
    }
  }
  return entries;
}
