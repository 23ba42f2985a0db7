import { describe, expect, it } from 'vitest';
import type { Usage } from '@agentmeter/crds';
import { AgentMetrics } from './agent-metrics.ts';

const usage = (cpuNs: bigint, extra: Partial<Usage> = {}): Usage => ({
  cpuNs,
  memoryByteSeconds: 1000n,
  ioReadBytes: 1n,
  ioWriteBytes: 2n,
  netRxBytes: 3n,
  netTxBytes: 4n,
  ...extra,
});

/** `name{labels} value` lines of a Prometheus text rendering. */
async function samples(m: AgentMetrics): Promise<Map<string, string>> {
  const text = await m.render('prometheus');
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

describe('AgentMetrics', () => {
  it('sums pod usage into pod and namespace counters in base units', async () => {
    const m = new AgentMetrics();
    m.addPodUsage('a', 'p1', usage(250_000_000n));
    m.addPodUsage('a', 'p1', usage(750_000_001n));
    m.addPodUsage('a', 'p2', usage(1_000_000_000n, { gpuAllocatedUs: 2_500_000n }));
    const s = await samples(m);
    expect(s.get('agentmeter_pod_cpu_usage_seconds_total{namespace="a",pod="p1"}')).toBe(
      '1.000000001',
    );
    expect(s.get('agentmeter_pod_memory_byte_seconds_total{namespace="a",pod="p1"}')).toBe('2000');
    expect(s.get('agentmeter_pod_io_bytes_total{namespace="a",pod="p1",direction="write"}')).toBe(
      '4',
    );
    expect(
      s.get('agentmeter_pod_network_bytes_total{namespace="a",pod="p2",direction="receive"}'),
    ).toBe('3');
    expect(s.get('agentmeter_namespace_cpu_usage_seconds_total{namespace="a"}')).toBe(
      '2.000000001',
    );
    expect(
      s.get('agentmeter_namespace_network_bytes_total{namespace="a",direction="transmit"}'),
    ).toBe('12');
    // GPU series only where there is GPU usage.
    // Per-pod GPU series (with the GPU model) belong to the GPU collector's metrics.
    expect(s.get('agentmeter_namespace_gpu_allocated_seconds_total{namespace="a"}')).toBe('2.5');
    expect(s.has('agentmeter_pod_gpu_allocated_seconds_total{namespace="a",pod="p2"}')).toBe(false);
  });

  it('keeps exact totals beyond 2^53 until rendering', async () => {
    const m = new AgentMetrics();
    // 2^53 + 1 nanoseconds twice: float accumulation would lose the odd nanoseconds.
    m.addPodUsage('a', 'p', usage(2n ** 53n + 1n));
    m.addPodUsage('a', 'p', usage(2n ** 53n + 1n));
    const s = await samples(m);
    expect(s.get('agentmeter_pod_cpu_usage_seconds_total{namespace="a",pod="p"}')).toBe(
      String(18014398 + 509481986 / 1e9),
    );
  });

  it('drops a gone pod’s series after the grace period, but keeps the namespace totals', async () => {
    let now = 0;
    const m = new AgentMetrics({ podSeriesGraceMs: 1000, now: () => now });
    m.addPodUsage('a', 'gone', usage(1n));
    m.addPodUsage('a', 'back', usage(1n));
    m.podGone('a', 'gone');
    m.podGone('a', 'back');
    now = 999;
    expect(
      (await samples(m)).has('agentmeter_pod_cpu_usage_seconds_total{namespace="a",pod="gone"}'),
    ).toBe(true);
    m.addPodUsage('a', 'back', usage(1n)); // reused name reporting again cancels the removal
    now = 1000;
    const s = await samples(m);
    expect([...s.keys()].some((k) => k.includes('pod="gone"'))).toBe(false);
    expect(s.get('agentmeter_pod_cpu_usage_seconds_total{namespace="a",pod="back"}')).toBe('2e-9');
    expect(s.get('agentmeter_namespace_cpu_usage_seconds_total{namespace="a"}')).toBe('3e-9');
  });

  it('exports health metrics', async () => {
    const m = new AgentMetrics();
    m.addNodeCpu('total', 3_000_000_000n);
    m.addNodeCpu('pods', 2_000_000_000n);
    m.addNodeCpu('non_pod', 1_000_000_000n);
    m.observeTick(120);
    m.tickError('ledger-append');
    m.cgroupReadError('memory', 'missing');
    m.cgroupReadError('memory', 'missing');
    m.podWatchRestart('gone');
    m.setPodWatchSynced(true);
    m.setLedgerState({ bytes: 4096n, headSeq: 42n });
    m.ledgerAppended(5n);
    const s = await samples(m);
    expect(s.get('agentmeter_node_cpu_usage_seconds_total{scope="non_pod"}')).toBe('1');
    expect(s.get('agentmeter_tick_duration_seconds_bucket{le="0.25"}')).toBe('1');
    expect(s.get('agentmeter_tick_duration_seconds_count')).toBe('1');
    expect(s.get('agentmeter_tick_errors_total{reason="ledger-append"}')).toBe('1');
    expect(s.get('agentmeter_cgroup_read_errors_total{resource="memory",reason="missing"}')).toBe(
      '2',
    );
    expect(s.get('agentmeter_pod_watch_restarts_total{reason="gone"}')).toBe('1');
    expect(s.get('agentmeter_pod_watch_synced')).toBe('1');
    expect(s.get('agentmeter_ledger_bytes')).toBe('4096');
    expect(s.get('agentmeter_ledger_head_seq')).toBe('42');
    expect(s.get('agentmeter_ledger_entries_total')).toBe('5');
    // Both formats carry the same histogram observations.
    expect(await m.render('openmetrics')).toContain('agentmeter_tick_duration_seconds_count 1');
  });

  it('uses private registries: two instances do not collide', () => {
    expect(() => [new AgentMetrics(), new AgentMetrics()]).not.toThrow();
  });
});
