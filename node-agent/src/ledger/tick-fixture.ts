import type { LedgerBody, PodUsageBody, WireUsage } from '@agentmeter/crds';
import { checkpointBody } from './counter-state.ts';
import type { Baseline, CgroupCounters } from './counter-state.ts';

/**
 * A simulated node for the ledger tests and the crash-test child: each pod's cumulative CPU
 * counter is a pure function of wall time, like a kernel counter that keeps running while the
 * agent is dead, so a test can check that the ledger's deltas add up to the counters exactly.
 */

export function cpuCounterAt(pod: number, nowMs: bigint, t0Ms: bigint): bigint {
  return (nowMs - t0Ms) * BigInt(1000 * (pod + 1));
}

export function nodeCounterAt(pods: number, nowMs: bigint, t0Ms: bigint): bigint {
  let total = (nowMs - t0Ms) * 7n;
  for (let pod = 0; pod < pods; pod++) total += cpuCounterAt(pod, nowMs, t0Ms);
  return total;
}

export function podKey(pod: number): string {
  return `uid-${pod}/${1000 + pod}`;
}

function cpuUsage(cpuNs: bigint): WireUsage {
  return {
    cpuNs: cpuNs.toString(),
    memoryByteSeconds: '0',
    ioReadBytes: '0',
    ioWriteBytes: '0',
    netRxBytes: '0',
    netTxBytes: '0',
  };
}

/** One tick's batch — pod entries, the node entry, then the checkpoint — and the new baseline readings. */
export function simulatedTick(
  pods: number,
  nowMs: bigint,
  t0Ms: bigint,
  baseline: Baseline | null,
): { bodies: LedgerBody[]; readings: CgroupCounters[] } {
  const end = (nowMs * 1_000_000n).toString();
  const start = baseline === null ? end : baseline.time.end;
  const time = { start, end };
  const tick = end;
  const readings: CgroupCounters[] = [];
  const bodies: LedgerBody[] = [];
  let podsTotal = 0n;
  for (let pod = 0; pod < pods; pod++) {
    const counter = cpuCounterAt(pod, nowMs, t0Ms);
    const key = podKey(pod);
    readings.push({ key, podUid: `uid-${pod}`, counters: { cpu: counter } });
    const before = baseline?.cgroups.get(key)?.counters.cpu;
    const delta = before === undefined ? 0n : counter - before;
    podsTotal += delta;
    const usage = cpuUsage(delta);
    const body: PodUsageBody = {
      kind: 'pod-usage',
      time,
      tick,
      pod: { uid: `uid-${pod}`, namespace: 'agents', name: `pod-${pod}`, qos: 'Burstable' },
      usage,
      shares: [{ session: null, usage }],
      cost: null,
      priced: false,
      flags: before === undefined ? ['first-sample'] : [],
    };
    bodies.push(body);
  }
  const nodeCounter = nodeCounterAt(pods, nowMs, t0Ms);
  readings.push({ key: 'node', podUid: null, counters: { cpu: nodeCounter } });
  const nodeBefore = baseline?.cgroups.get('node')?.counters.cpu;
  const nodeDelta = nodeBefore === undefined ? podsTotal : nodeCounter - nodeBefore;
  bodies.push({
    kind: 'node-usage',
    time,
    tick,
    nodeTotal: cpuUsage(nodeDelta),
    pods: cpuUsage(podsTotal),
    nonPod: cpuUsage(nodeDelta - podsTotal),
    podEntries: pods.toString(),
  });
  bodies.push(checkpointBody(tick, time, readings));
  return { bodies, readings };
}
