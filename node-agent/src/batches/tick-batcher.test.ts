import {
  GENESIS_PREV,
  canonicalSplitFast,
  compilePolicy,
  priceShares,
  zeroUsage,
  type Usage,
} from '@agentmeter/crds';
import { describe, expect, it } from 'vitest';
import type { PodMeta } from '../pods/pod-meta.ts';
import { Settlement, TokenCounter } from '../sessions/index.ts';
import {
  TickBatcher,
  tokenKey,
  type MeasuredTick,
  type Pricer,
  type PricingRef,
} from './tick-batcher.ts';

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

const policy = compilePolicy('p', 3n, {
  currency: 'USD',
  rates: {
    cpuCoreHour: '3600',
    tokens: [{ model: 'm', inputPerMillion: '1', outputPerMillion: '2' }],
  },
});
const ref: PricingRef = { policy: { name: 'p', generation: '3' }, currency: 'USD' };
const pricer: Pricer = {
  policyFor: () => ref,
  priceUsage: (_ref, usage, shares) => {
    const price = priceShares(policy.rates, usage, shares);
    return {
      currency: 'USD',
      policy: ref.policy,
      totalNano: price.totalNano.toString(),
      bySession: price.bySession.map((s) => ({
        session: s.session,
        totalNano: s.totalNano.toString(),
      })),
    };
  },
  priceTokens: (_ref, _model, input, output) => ({
    currency: 'USD',
    policy: ref.policy,
    totalNano: (input * 1000n + output * 2000n).toString(),
  }),
};

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

function batcher(watermarkTicks: number) {
  const settlement = new Settlement<Usage>({ watermarkTicks: 0 });
  const tokens = new TokenCounter();
  const s = new TickBatcher({
    settlement,
    tokens,
    pricer,
    podByUid: () => meta,
    watermarkTicks,
    releaseSpans: () => undefined,
  });
  return { s, settlement, tokens };
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
    const kinds = batch?.bodies.map((body) => {
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
      return [body.kind, canonicalSplitFast(unsealed) !== undefined];
    });
    expect(kinds).toEqual([
      ['pod-usage', true],
      ['node-usage', false],
      ['checkpoint', true],
    ]);
  });

  it('writes token counts with the pod that produced them', () => {
    const { s, tokens } = batcher(0);
    tokens.add(tokenKey(meta.uid, 'agents/x'), { model: 'm', inputTokens: 10n, outputTokens: 5n });
    const [batch] = s.push(measured(1n, 0n));
    const entry = batch?.bodies.find((b) => b.kind === 'tokens');
    expect(entry).toMatchObject({
      kind: 'tokens',
      session: { namespace: 'agents', id: 'x' },
      pod: { uid: 'pod-1', namespace: 'agents', name: 'runtime' },
      models: [{ model: 'm', inputTokens: '10', outputTokens: '5' }],
      cost: { currency: 'USD', totalNano: '20000' },
      priced: true,
    });
    expect(batch?.tokens[0]).toMatchObject({ model: 'm', inputTokens: 10n, costNano: 20000n });
  });
});

describe('TickBatcher with a ledger interval of several ticks', () => {
  it('sums the settled ticks of an interval into one batch that still conserves', () => {
    const settlement = new Settlement<Usage>({ watermarkTicks: 0 });
    const s = new TickBatcher({
      settlement,
      tokens: new TokenCounter(),
      pricer,
      podByUid: () => meta,
      watermarkTicks: 0,
      ticksPerBatch: 3,
      releaseSpans: () => undefined,
    });
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
      tokens: new TokenCounter(),
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
