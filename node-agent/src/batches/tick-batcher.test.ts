import {
  GENESIS_PREV,
  canonicalSplitFast,
  decodeEntry,
  sealEntryLine,
  zeroUsage,
  type LedgerBody,
  type Usage,
} from '@agentmeter/crds';
import { describe, expect, it } from 'vitest';
import type { PodMeta } from '../pods/pod-meta.ts';
import { CallCollector, type CallDraft } from '../calls/index.ts';
import { Settlement } from '../sessions/index.ts';
import { modelCallDraft } from '../../../test/support/call-draft.ts';
import { testPricer } from './test-pricer.ts';
import { TickBatcher, type MeasuredTick } from './tick-batcher.ts';

const meta: PodMeta = {
  uid: 'pod-1',
  namespace: 'agents',
  name: 'runtime',
  phase: 'Running',
  annotations: {},
  labels: {},
  podIPs: ['127.0.0.61'],
  hostNetwork: false,
  terminated: false,
};

const { pricer, ref } = testPricer({
  currency: 'USD',
  rates: {
    cpuCoreHour: '3600',
    tokens: [
      {
        model: 'm',
        inputPerMillion: '1',
        outputPerMillion: '2',
        cacheReadPerMillion: '0.1',
        cacheCreationPerMillion: '1.25',
      },
    ],
    tools: [{ name: 'web_search', perCall: '0.01' }],
  },
});

const T0 = 1_000_000_000n;

const draft = (n: number, over: Partial<CallDraft> = {}): CallDraft =>
  modelCallDraft(n, {
    startNs: T0 + BigInt(n),
    endNs: T0 + BigInt(n) + 10n,
    model: 'm',
    tokens: { input: 10_000n, output: 500n, cacheRead: 8_000n, cacheCreation: 0n, reasoning: 100n },
    ...over,
  });

const pod = { uid: meta.uid, namespace: meta.namespace, name: meta.name };

function measured(n: bigint, cpuNs: bigint): MeasuredTick {
  const usage: Usage = { ...zeroUsage(), cpuNs };
  const start = n * 1_000_000_000n;
  return {
    tick: String(n),
    time: { start: String(start), end: String(start + 1_000_000_000n) },
    pods: [{ meta, qos: 'Burstable', usage, flags: [], pricing: ref }],
    result: {
      pods: [{ uid: meta.uid, usage, flags: [] }],
      node: { total: usage, pods: usage, nonPod: zeroUsage(), skew: zeroUsage() },
      baselines: { pods: new Map(), node: undefined },
    },
  };
}

function batcher(watermarkTicks: number, ticksPerBatch = 1) {
  const settlement = new Settlement<Usage>({ watermarkTicks: 0 });
  const calls = new CallCollector();
  const s = new TickBatcher({
    settlement,
    calls,
    pricer,
    podByUid: () => meta,
    watermarkTicks,
    ticksPerBatch,
    releaseSpans: () => undefined,
  });
  return { s, settlement, calls };
}

/** Whether the ledger writer seals the body on its fast path. */
function onFastPath(body: LedgerBody): boolean {
  const unsealed = {
    node: 'n',
    agentId: 'a',
    ...body,
    v: 1,
    seq: '1',
    prev: GENESIS_PREV,
    batch: { first: '1', size: '1' },
    hash: undefined,
  };
  return canonicalSplitFast(unsealed) !== undefined;
}

describe('TickBatcher', () => {
  it('holds ticks for the watermark, then writes them in order', () => {
    const { s } = batcher(2);
    expect(s.push(measured(1n, 100n))).toEqual([]);
    expect(s.push(measured(2n, 100n))).toEqual([]);
    const out = s.push(measured(3n, 100n));
    expect(out.map((b) => b.tick)).toEqual(['1']);
    expect(s.flush().map((b) => b.tick)).toEqual(['2', '3']);
  });

  it('splits by session activity and prices every share to the nano', () => {
    const { s, settlement } = batcher(0);
    // Session x is active for the first half of tick 1.
    settlement.recordSpan(meta.uid, 'agents/x', 1_000_000_000n, 1_500_000_000n);
    const [batch] = s.push(measured(1n, 1_000_000_001n));
    const pod = batch?.bodies.find((b) => b.kind === 'pod-usage');
    expect(pod?.kind).toBe('pod-usage');
    if (pod?.kind !== 'pod-usage') return;
    const shares = pod.shares.map((share) => [share.session?.id ?? null, share.usage.cpuNs]);
    expect(shares).toEqual([
      ['x', '500000000'],
      [null, '500000001'],
    ]);
    // 1 CPU-second at 3600/core-hour is 1 currency unit.
    expect(pod.cost?.totalNano).toBe('1000000001');
    const bySession = pod.cost?.bySession.map((c) => BigInt(c.totalNano)) ?? [];
    expect(bySession.reduce((a, b) => a + b, 0n)).toBe(1_000_000_001n);
    expect(batch?.bodies.at(-1)?.kind).toBe('checkpoint');
  });

  it('writes pod and checkpoint entries that the ledger writer seals on its fast path', () => {
    const { s, settlement } = batcher(0);
    settlement.recordSpan(meta.uid, 'agents/x', 1_000_000_000n, 1_500_000_000n);
    const tick = measured(1n, 1_000_000_001n);
    const withOwner: MeasuredTick = {
      ...tick,
      pods: tick.pods.map((p) => ({
        ...p,
        meta: { ...p.meta, ownerRef: { kind: 'Job', name: 'run-1' } },
        flags: ['first-sample'],
      })),
      result: {
        ...tick.result,
        baselines: {
          pods: new Map([
            [meta.uid, { identity: '11/12/13', cpuNs: 5n, netNs: 'net:[4026531993]' }],
          ]),
          node: { identity: '1/1/1', cpuNs: 9n, memoryWorkingSetBytes: 4096n, memoryCarry: 0n },
        },
      },
    };
    const [batch] = s.push(withOwner);
    const kinds = batch?.bodies.map((body) => [body.kind, onFastPath(body)]);
    expect(kinds).toEqual([
      ['pod-usage', true],
      ['node-usage', false],
      ['checkpoint', true],
    ]);
  });

  it("records the pod's tags as measured, an entry per tag set, on the writer's fast path", () => {
    const { s } = batcher(0, 2);
    const tagged = (n: bigint, team: string): MeasuredTick => {
      const tick = measured(n, 1_000_000_000n);
      return {
        ...tick,
        pods: tick.pods.map((p) => ({ ...p, pricing: { ...ref, tags: { team } } })),
      };
    };
    expect(s.push(tagged(1n, 'red'))).toEqual([]);
    const [batch] = s.push(tagged(2n, 'blue'));
    const pods = batch?.bodies.filter((b) => b.kind === 'pod-usage') ?? [];
    expect(pods.map((b) => [b.tags, b.usage.cpuNs])).toEqual([
      [{ team: 'red' }, '1000000000'],
      [{ team: 'blue' }, '1000000000'],
    ]);
    expect(pods.map(onFastPath)).toEqual([true, true]);
  });

  it('writes each call priced on its own, the entry total their exact sum, in a valid entry', () => {
    const { s, calls } = batcher(0);
    calls.add(pod, 'agents/x', draft(2));
    calls.add(
      pod,
      'agents/x',
      draft(1, {
        kind: 'tool',
        operation: 'execute_tool',
        provider: null,
        model: null,
        tokens: null,
        tool: { name: 'web_search', type: 'function', callId: 'c1', argsHash: null },
      }),
    );
    calls.add(
      pod,
      'agents/x',
      draft(3, {
        kind: 'tool',
        operation: 'execute_tool',
        provider: null,
        model: null,
        tokens: null,
        tool: { name: 'calculator', type: null, callId: null, argsHash: null },
      }),
    );
    calls.add(pod, 'agents/', draft(4, { model: 'other-model' }));
    const [batch] = s.push(measured(1n, 0n));
    const entries = batch?.bodies.filter((b) => b.kind === 'calls') ?? [];
    expect(entries.map((e) => e.session)).toEqual([null, { namespace: 'agents', id: 'x' }]);
    const [unattributed, session] = entries;
    // 2,000 uncached input at $1/M + 8,000 cache reads at $0.10/M + 500 output at $2/M.
    const chat = (2_000n * 1000n + 8_000n * 100n + 500n * 2000n).toString();
    expect(session).toMatchObject({
      kind: 'calls',
      pod: { uid: 'pod-1', namespace: 'agents', name: 'runtime' },
      calls: [
        {
          spanId: '0000000000000001',
          kind: 'tool',
          costNano: '10000000',
          rate: 'web_search',
          unpriced: null,
        },
        {
          spanId: '0000000000000002',
          kind: 'model',
          tokens: {
            input: '10000',
            output: '500',
            cacheRead: '8000',
            cacheCreation: '0',
            reasoning: '100',
          },
          costNano: chat,
          rate: 'm',
        },
        {
          spanId: '0000000000000003',
          kind: 'tool',
          costNano: null,
          rate: null,
          unpriced: 'no-tool-rate',
        },
      ],
      cost: {
        currency: 'USD',
        policy: { name: 'p', generation: '3' },
        totalNano: (10_000_000n + BigInt(chat)).toString(),
      },
      priced: true,
    });
    expect(unattributed).toMatchObject({
      calls: [{ costNano: null, unpriced: 'no-model-rate' }],
      cost: { totalNano: '0' },
    });
    // The entries pass the ledger's own parser, as the operator will read them.
    for (const body of entries) {
      const sealed = sealEntryLine({ node: 'n', agentId: 'a', ...body }, GENESIS_PREV, 1n);
      expect(() => decodeEntry(sealed.line)).not.toThrow();
    }
    expect(batch?.calls.map((c) => [c.session?.id ?? null, c.calls.length, c.currency])).toEqual([
      [null, 1, 'USD'],
      ['x', 3, 'USD'],
    ]);
    expect(calls.pending).toBe(0);
  });

  it('records every call unpriced no-policy when no policy selects the pod', () => {
    const settlement = new Settlement<Usage>({ watermarkTicks: 0 });
    const calls = new CallCollector();
    const s = new TickBatcher({
      settlement,
      calls,
      pricer: { ...pricer, policyFor: () => null },
      podByUid: () => meta,
      watermarkTicks: 0,
      releaseSpans: () => undefined,
    });
    calls.add(pod, 'agents/x', draft(1));
    const [batch] = s.push({ ...measured(1n, 0n), pods: [] });
    expect(batch?.bodies.find((b) => b.kind === 'calls')).toMatchObject({
      calls: [{ costNano: null, rate: null, unpriced: 'no-policy' }],
      cost: null,
      priced: false,
    });
  });
});

describe('TickBatcher with a ledger interval of several ticks', () => {
  it('sums the settled ticks of an interval into one batch that still conserves', () => {
    const { s, settlement } = batcher(0, 3);
    settlement.recordSpan(meta.uid, 'agents/x', 1_000_000_000n, 2_000_000_000n);
    expect(s.push(measured(1n, 100n))).toEqual([]);
    expect(s.push(measured(2n, 200n))).toEqual([]);
    const [batch] = s.push(measured(3n, 300n));
    expect(batch?.tick).toBe('3');
    const pod = batch?.bodies.find((b) => b.kind === 'pod-usage');
    if (pod?.kind !== 'pod-usage') throw new Error('no pod entry');
    expect(pod.time).toEqual({ start: '1000000000', end: '4000000000' });
    expect(pod.usage.cpuNs).toBe('600');
    // Session x was active for all of tick 1 only.
    expect(pod.shares.map((sh) => [sh.session?.id ?? null, sh.usage.cpuNs])).toEqual([
      ['x', '100'],
      [null, '500'],
    ]);
    const node = batch?.bodies.find((b) => b.kind === 'node-usage');
    expect(node?.kind === 'node-usage' ? node.nodeTotal.cpuNs : undefined).toBe('600');
    expect(s.flush()).toEqual([]);
  });
});

describe('TickBatcher GPU rows', () => {
  it('sums per-model GPU rows across the ticks of a batch once each', () => {
    const s = new TickBatcher({
      settlement: new Settlement<Usage>({ watermarkTicks: 0 }),
      calls: new CallCollector(),
      pricer,
      podByUid: () => meta,
      watermarkTicks: 0,
      ticksPerBatch: 2,
      releaseSpans: () => undefined,
    });
    const withGpu = (n: bigint): MeasuredTick => {
      const tick = measured(n, 10n);
      const pod = tick.pods[0];
      if (pod === undefined) throw new Error('no pod');
      const usage: Usage = { ...pod.usage, gpuAllocatedUs: 1000n, gpuActiveUs: 400n };
      return {
        ...tick,
        pods: [{ ...pod, usage, gpu: [{ model: 'L4', allocatedUs: '1000', activeUs: '400' }] }],
      };
    };
    s.push(withGpu(1n));
    const [batch] = s.push(withGpu(2n));
    const pod = batch?.bodies.find((b) => b.kind === 'pod-usage');
    if (pod?.kind !== 'pod-usage') throw new Error('no pod entry');
    expect(pod.gpu).toEqual([{ model: 'L4', allocatedUs: '2000', activeUs: '800' }]);
    expect(pod.usage.gpuAllocatedUs).toBe('2000');
  });
});
