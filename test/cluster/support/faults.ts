// What every fault suite needs: a CPU burner pod, its cgroup frozen so its counter is at rest,
// the agent's ledger for it summed once the agent has settled past the freeze, the checks that
// nothing was lost or counted twice, and the figures (expected and measured) printed per fault.
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { usageFromWire, type LedgerEntry, type PodUsageEntry } from '@agentmeter/crds';
import { waitFor } from '../../support/wait.ts';
import { apply } from './cluster.ts';
export { TEST_TICK_MS } from '../../../hack/real-node/chart.ts';
import {
  busyboxContainer,
  getPod,
  listPods,
  podCgroupCounters,
  podCgroupDir,
  singleContainerPod,
  waitForPodPhase,
  type PodStatus,
} from './pods.ts';
import { agentLedgerAccess, pullLedger } from './views.ts';

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** A busy loop limited to 100m (Guaranteed): steady CPU that leaves the 2 cores to the node. */
export async function startBurner(
  namespace: string,
  name: string,
  annotations: Readonly<Record<string, string>> = {},
): Promise<PodStatus> {
  await apply([
    singleContainerPod(
      name,
      namespace,
      busyboxContainer('burn', 'while :; do :; done', {
        resources: {
          requests: { cpu: '100m', memory: '16Mi' },
          limits: { cpu: '100m', memory: '16Mi' },
        },
      }),
      annotations,
    ),
  ]);
  return waitForPodPhase(namespace, name, ['Running']);
}

async function setFreezer(pod: PodStatus, state: 'FROZEN' | 'THAWED'): Promise<void> {
  const file = join(podCgroupDir('freezer', pod), 'freezer.state');
  await writeFile(file, state);
  await waitFor(`pod ${pod.metadata.name} ${state}`, async () => {
    return (await readFile(file, 'utf8')).trim() === state;
  });
}

/** Frozen tasks cannot die: thaw before a pod or its namespace is deleted. */
export async function thaw(pod: PodStatus): Promise<void> {
  await setFreezer(pod, 'THAWED').catch(() => undefined);
}

export function podEntries(entries: readonly LedgerEntry[], uid: string): PodUsageEntry[] {
  return entries.filter((e): e is PodUsageEntry => e.kind === 'pod-usage' && e.pod.uid === uid);
}

export function cpuNs(entries: readonly PodUsageEntry[]): bigint {
  return entries.reduce((s, e) => s + usageFromWire(e.usage).cpuNs, 0n);
}

/**
 * The whole ledger once it holds two ticks that began after `t`: two of the pod's entries when
 * `uid` is given, else two node entries.
 */
export async function ledgerSettledPast(t: bigint, uid?: string): Promise<LedgerEntry[]> {
  let entries: LedgerEntry[] = [];
  await waitFor(
    `two agent ticks ${uid ? `of pod ${uid} ` : ''}after ${t}`,
    async () => {
      // Asked again each time: the agent's address changes when the node restarts.
      entries = await pullLedger(await agentLedgerAccess()).catch(() => []);
      const ticks = uid ? podEntries(entries, uid) : entries.filter((e) => e.kind === 'node-usage');
      return ticks.filter((e) => BigInt(e.time.start) >= t).length >= 2;
    },
    180_000,
  );
  return entries;
}

/**
 * Problems with the ledger as a whole and with one pod's entries in it: sequence numbers that
 * repeat or go back, a pod measured twice in a tick, or two of its entries covering the same
 * time (usage counted twice). Empty when there are none.
 */
export function doubleCounting(entries: readonly LedgerEntry[], uid: string): string[] {
  const problems: string[] = [];
  for (let i = 1; i < entries.length; i++) {
    const prev = BigInt(entries[i - 1]?.seq ?? '0');
    const seq = BigInt(entries[i]?.seq ?? '0');
    if (seq !== prev + 1n) problems.push(`seq ${seq} follows ${prev}`);
  }
  const mine = [...podEntries(entries, uid)].sort((a, b) =>
    BigInt(a.time.start) < BigInt(b.time.start) ? -1 : 1,
  );
  const ticks = new Set<string>();
  for (const [i, e] of mine.entries()) {
    if (ticks.has(e.tick)) problems.push(`pod measured twice in tick ${e.tick}`);
    ticks.add(e.tick);
    const prev = mine[i - 1];
    if (prev && BigInt(e.time.start) < BigInt(prev.time.end)) {
      problems.push(
        `entries ${prev.seq} and ${e.seq} overlap: [${prev.time.start}, ${prev.time.end}) and [${e.time.start}, ${e.time.end})`,
      );
    }
  }
  return problems;
}

/** A fault's figures: the kernel's count and the ledger's, in CPU nanoseconds unless `unit`. */
export interface FaultFigures {
  readonly fault: string;
  readonly unit?: string;
  readonly expectedNs: bigint;
  readonly measuredNs: bigint;
  readonly entries: number;
  readonly problems: readonly string[];
}

/**
 * Prints one fault's figures, and appends them to $AGENTMETER_FAULT_FIGURES when that is set (a
 * record of a run, outside the repository).
 */
export async function reportFigures(f: FaultFigures, extra = ''): Promise<void> {
  const unit = f.unit ?? 'ns';
  const line =
    `fault figures: ${f.fault}: expected ${f.expectedNs} ${unit}, measured ${f.measuredNs} ${unit} ` +
    `(${f.entries} ledger entries), difference ${f.measuredNs - f.expectedNs} ${unit}` +
    `${extra ? `; ${extra}` : ''}\n`;
  process.stdout.write(line);
  const file = process.env.AGENTMETER_FAULT_FIGURES;
  if (file) await appendFile(file, `${new Date().toISOString()} ${line}`);
}

/**
 * Freezes the burner, waits until the agent has settled past the freeze, and compares the
 * ledger's CPU for it with its cgroup's counter (the kubelet made the cgroup at the pod's birth,
 * at zero, so the counter is the delta). The pod stays frozen; thaw it before deleting it.
 */
export async function settleAndCompare(
  fault: string,
  burner: PodStatus,
): Promise<FaultFigures & { ledger: LedgerEntry[] }> {
  const pod = await getPod(burner.metadata.namespace, burner.metadata.name);
  await setFreezer(pod, 'FROZEN');
  const frozenAt = nowNs();
  const expectedNs = (await podCgroupCounters(pod)).cpuNs;
  const ledger = await ledgerSettledPast(frozenAt, pod.metadata.uid);
  const mine = podEntries(ledger, pod.metadata.uid);
  // The counter cannot move while frozen: read it again to prove the comparison is at rest.
  const after = (await podCgroupCounters(pod)).cpuNs;
  const problems = doubleCounting(ledger, pod.metadata.uid);
  if (after !== expectedNs) problems.push(`frozen counter moved: ${expectedNs} then ${after}`);
  const figures = {
    fault,
    expectedNs,
    measuredNs: cpuNs(mine),
    entries: mine.length,
    problems,
  };
  await reportFigures(figures, 'cgroup cpuacct.usage (expected), ledger sum (measured)');
  return { ...figures, ledger };
}

/** The agent pod of the chart release, as the API shows it. */
export async function agentPod(namespace: string): Promise<PodStatus> {
  const [pod] = await listPods(namespace, 'app.kubernetes.io/component=agent');
  if (!pod) throw new Error(`no agent pod in ${namespace}`);
  return pod;
}
