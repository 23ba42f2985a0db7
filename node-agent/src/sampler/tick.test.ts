import { addUsage, usageEquals } from '@agentmeter/crds';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeTick, type NodeReading, type PodReading, type SamplerBaselines } from './tick.ts';

const empty: SamplerBaselines = { pods: new Map(), node: undefined };
const SECOND = 1_000_000_000n;

function pod(uid: string, cpuNs: bigint, extra: Partial<PodReading> = {}): PodReading {
  return {
    uid,
    identity: `ino-${uid}`,
    cpuNs,
    ioReadBytes: 0n,
    ioWriteBytes: 0n,
    netNs: `net-${uid}`,
    netRxBytes: 0n,
    netTxBytes: 0n,
    memoryWorkingSetBytes: 1000n,
    memoryRssBytes: 500n,
    ...extra,
  };
}

function node(cpuNs: bigint): NodeReading {
  return {
    cpuNs,
    ioReadBytes: 0n,
    ioWriteBytes: 0n,
    memoryWorkingSetBytes: 10_000n,
    memoryRssBytes: 5000n,
  };
}

/** computeTick over a second, not a cold start, unless told otherwise. */
function tick(
  previous: SamplerBaselines,
  pods: PodReading[],
  nodeCpuNs: bigint,
  o: { coldStart?: boolean; intervalNs?: bigint } = {},
): ReturnType<typeof computeTick> {
  return computeTick({
    previous,
    pods,
    node: node(nodeCpuNs),
    intervalNs: o.intervalNs ?? SECOND,
    coldStart: o.coldStart ?? false,
  });
}

describe('computeTick', () => {
  it('only establishes baselines for cgroups found on a cold start', () => {
    const result = tick(empty, [pod('a', 500n)], 10_000n, { coldStart: true });
    expect(result.pods[0]?.usage.cpuNs).toBe(0n);
    expect(result.node.total.cpuNs).toBe(0n);
    expect(result.baselines.pods.get('a')?.cpuNs).toBe(500n);
  });

  it('counts the whole history of a cgroup created after the agent started', () => {
    const first = tick(empty, [], 10_000n, { coldStart: true });
    const second = tick(first.baselines, [pod('a', 700n)], 11_000n);
    expect(second.pods[0]?.usage.cpuNs).toBe(700n);
    expect(second.node.total.cpuNs).toBe(1000n);
    expect(second.node.nonPod.cpuNs).toBe(300n);
  });

  it('counts a recreated cgroup from zero and flags the reset', () => {
    const previous: SamplerBaselines = {
      pods: new Map([['a', { identity: 'old', cpuNs: 900n }]]),
      node: { identity: 'node', cpuNs: 0n },
    };
    const result = tick(previous, [pod('a', 40n, { identity: 'new' })], 1000n);
    expect(result.pods[0]?.usage.cpuNs).toBe(40n);
    expect(result.pods[0]?.flags).toContain('cpu-ns-reset-identity');
  });

  it('keeps the baseline of an unreadable counter so its usage is counted later', () => {
    const previous: SamplerBaselines = {
      pods: new Map([['a', { identity: 'ino-a', cpuNs: 100n }]]),
      node: { identity: 'node', cpuNs: 0n },
    };
    const missing = tick(previous, [pod('a', 0n, { cpuNs: null })], 0n);
    expect(missing.pods[0]?.usage.cpuNs).toBe(0n);
    const back = tick(missing.baselines, [pod('a', 350n)], 1000n);
    expect(back.pods[0]?.usage.cpuNs).toBe(250n);
  });

  it('counts a pod namespace once across a tick that read only a host-namespace process', () => {
    const net = (netNs: string, rx: bigint | null) =>
      pod('a', 0n, { netNs, netRxBytes: rx, netTxBytes: rx });
    const first = tick(empty, [net('net-a', 100n)], 0n, { coldStart: true });
    const skipped = tick(first.baselines, [net('host', null)], 0n);
    const back = tick(skipped.baselines, [net('net-a', 150n)], 0n);
    expect(skipped.pods[0]?.usage.netRxBytes).toBe(0n);
    expect(back.pods[0]?.usage.netRxBytes).toBe(50n);
    expect(back.pods[0]?.usage.netTxBytes).toBe(50n);
    expect(back.pods[0]?.flags).toEqual([]);
  });

  it('integrates memory as the mean of consecutive readings', () => {
    const previous: SamplerBaselines = {
      pods: new Map([['a', { identity: 'ino-a', cpuNs: 0n, memoryWorkingSetBytes: 1000n }]]),
      node: undefined,
    };
    const result = tick(previous, [pod('a', 0n, { memoryWorkingSetBytes: 3000n })], 0n, {
      intervalNs: 2n * SECOND,
    });
    expect(result.pods[0]?.usage.memoryByteSeconds).toBe(4000n);
  });

  it('conserves the node total and never goes negative', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { minLength: 1, maxLength: 8 }),
        fc.bigInt({ min: 0n, max: 10n ** 13n }),
        (podCpu, nodeCpu) => {
          const previous: SamplerBaselines = {
            pods: new Map(podCpu.map((_, i) => [`p${i}`, { identity: `ino-p${i}`, cpuNs: 0n }])),
            node: { identity: 'node', cpuNs: 0n },
          };
          const result = tick(
            previous,
            podCpu.map((cpu, i) => pod(`p${i}`, cpu)),
            nodeCpu,
          );
          const { total, pods, nonPod, skew } = result.node;
          expect(usageEquals(total, addUsage(pods, nonPod))).toBe(true);
          expect(nonPod.cpuNs >= 0n && skew.cpuNs >= 0n).toBe(true);
          expect(total.cpuNs).toBe(nodeCpu + skew.cpuNs);
        },
      ),
    );
  });

  it('gives the same totals whether usage is read in many ticks or one', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 9n }), { maxLength: 30 }), (steps) => {
        let baselines: SamplerBaselines = {
          pods: new Map([['a', { identity: 'ino-a', cpuNs: 0n }]]),
          node: { identity: 'node', cpuNs: 0n },
        };
        let value = 0n;
        let counted = 0n;
        for (const step of steps) {
          value += step;
          const result = tick(baselines, [pod('a', value)], value);
          counted += result.pods[0]?.usage.cpuNs ?? 0n;
          baselines = result.baselines;
        }
        expect(counted).toBe(value);
      }),
    );
  });
});
