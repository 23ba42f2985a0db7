// CostReports across operator failovers on the real node. The operator runs with the chart's
// test clock (operator.testClock: its wall clock read from a ConfigMap), frozen inside a daily
// budget period. Its leader pod is deleted mid-period; the successor closes the period when the
// ConfigMap moves the clock past the period's end, and the one CostReport of that period equals
// the agents' ledger priced by the policy, to the nano-unit, per namespace and in total, up to
// the chain head the report names. Then that leader is deleted in turn, and its successor leaves
// the report exactly as it was: the same object, no second report, no conflict.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  parseMoney,
  type CostBreakdown,
  type CostReport,
  type LedgerEntry,
  type PodUsageEntry,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import {
  apply,
  chartRelease,
  helm,
  kubectl,
  kubectlJson,
  kubectlOk,
  realNode,
} from './support/cluster.ts';
import { reportFigures, startBurner, thaw } from './support/faults.ts';
import { deleteOperatorLeader, RETRY_PERIOD_US } from './support/operator-leader.ts';
import {
  createNamespace,
  deleteNamespace,
  waitForRollout,
  type PodStatus,
} from './support/pods.ts';
import {
  applyNamespacePolicy,
  policyCursorSeq,
  POLICY_LABEL,
  type PolicyStatus,
} from './support/policies.ts';
import { agentLedgerAccess, pullLedger } from './support/views.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const SESSION_ANNOTATION = 'agentmeter.dev/session-id';

/**
 * A fixed-offset zone in which `atMs` is about noon, and the day there that contains it: entries
 * the agent measures during the suite fall inside that day whatever the hour of the run.
 */
function dayAround(atMs: number): { timeZone: string; start: number; end: number; stamp: string } {
  // Etc/GMT+N is N hours behind UTC (POSIX sign).
  const behind = new Date(atMs).getUTCHours() - 12;
  const timeZone = behind === 0 ? 'Etc/GMT' : `Etc/GMT${behind > 0 ? '+' : ''}${behind}`;
  const start = Math.floor((atMs - behind * HOUR_MS) / DAY_MS) * DAY_MS + behind * HOUR_MS;
  // yyyymmdd of the day there, as CostReport names carry it.
  const stamp = new Date(start - behind * HOUR_MS).toISOString().slice(0, 10).replaceAll('-', '');
  return { timeZone, start, end: start + DAY_MS, stamp };
}

const wholeSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** What a report says of one namespace (or of all), as integers. */
interface Totals {
  readonly totalNano: bigint;
  readonly sessions: number;
  readonly tokens: number;
}

function totalsOfReport(cost: CostBreakdown, sessions: number, tokens: number): Totals {
  return { totalNano: parseMoney(cost.total), sessions, tokens };
}

/** The policy's priced pod usage in `entries`, per namespace: the sum and the sessions charged. */
function ledgerTotals(entries: readonly PodUsageEntry[]): Map<string, Totals> {
  const sums = new Map<string, { nano: bigint; sessions: Set<string> }>();
  for (const e of entries) {
    const ns = e.pod.namespace;
    const sum = sums.get(ns) ?? { nano: 0n, sessions: new Set<string>() };
    sum.nano += BigInt(e.cost?.totalNano ?? '0');
    for (const share of e.cost?.bySession ?? []) {
      if (share.session) sum.sessions.add(`${share.session.namespace}/${share.session.id}`);
    }
    sums.set(ns, sum);
  }
  return new Map(
    [...sums].map(([ns, s]) => [ns, { totalNano: s.nano, sessions: s.sessions.size, tokens: 0 }]),
  );
}

describe('CostReports across operator failovers on the real node', () => {
  const policy = `reports-${Math.random().toString(36).slice(2, 8)}`;
  const clockMap = `${policy}-clock`;
  const namespaces: string[] = [];
  const burners: PodStatus[] = [];
  /** The operator's frozen wall clock at the start, and the day period around it. */
  const frozenAt = Date.now();
  const day = dayAround(frozenAt);
  let revision = 0;

  const setClock = async (atMs: number): Promise<void> => {
    await apply([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: clockMap, namespace: chartRelease().namespace },
        data: { now: new Date(atMs).toISOString() },
      },
    ]);
  };

  const upgrade = async (args: readonly string[]): Promise<void> => {
    const { release, namespace } = chartRelease();
    const res = await helm([...args, '-n', namespace, '--wait', '--timeout', '5m'], {
      timeoutMs: 330_000,
    });
    if (res.code !== 0) throw new Error(`helm ${args.join(' ')}: ${res.stderr}`);
    await waitForRollout(namespace, `deployment/${release}-operator`);
  };

  const reports = async (): Promise<CostReport[]> =>
    (
      await kubectlJson<{ items: CostReport[] }>([
        'get',
        'costreports',
        '-l',
        `agentmeter.dev/policy=${policy}`,
      ])
    ).items;

  const status = (): Promise<PolicyStatus> =>
    kubectlJson<PolicyStatus>(['get', 'costpolicy', policy]);

  /** Waits until the leader's committed cursor for the node reaches `seq`. */
  const collectedTo = async (seq: bigint): Promise<PolicyStatus> => {
    let s: PolicyStatus = {};
    await waitFor(
      `the leader to collect to seq ${seq}`,
      async () => {
        s = await status();
        return (policyCursorSeq(s, realNode().nodeName) ?? 0n) >= seq;
      },
      180_000,
    );
    return s;
  };

  const ledger = async (): Promise<LedgerEntry[]> => pullLedger(await agentLedgerAccess());
  const lastSeq = (entries: readonly LedgerEntry[]): bigint => BigInt(entries.at(-1)?.seq ?? '0');
  const priced = (entries: readonly LedgerEntry[]): PodUsageEntry[] =>
    entries.filter(
      (e): e is PodUsageEntry => e.kind === 'pod-usage' && e.cost?.policy.name === policy,
    );

  beforeAll(async () => {
    const { release, namespace: system } = chartRelease();
    const res = await helm(['status', release, '-n', system, '-o', 'json']);
    if (res.code !== 0) throw new Error(`helm status ${release}: ${res.stderr}`);
    revision = (JSON.parse(res.stdout) as { version: number }).version;
    await setClock(frozenAt);
    await upgrade([
      'upgrade',
      release,
      `${repoRoot}/charts/agentmeter`,
      '--reuse-values',
      '--set',
      `operator.testClock.configMap=${clockMap}`,
    ]);
    for (const [prefix, annotations] of [
      ['reports-a', {}],
      ['reports-b', { [SESSION_ANNOTATION]: 'run-1' }],
    ] as const) {
      const namespace = await createNamespace(prefix);
      namespaces.push(namespace);
      await kubectlOk(['label', 'namespace', namespace, `${POLICY_LABEL}=${policy}`]);
      burners.push(await startBurner(namespace, 'burn', annotations));
    }
  });

  afterAll(async () => {
    for (const b of burners) await thaw(b);
    await kubectl(['delete', 'costpolicy', policy, '--ignore-not-found']);
    await kubectl(['delete', 'costreports', '-l', `agentmeter.dev/policy=${policy}`]);
    for (const ns of namespaces) await deleteNamespace(ns);
    // The release as the global setup installed it: the real clock again.
    if (revision > 0) await upgrade(['rollback', chartRelease().release, String(revision)]);
    await kubectl(['delete', 'configmap', clockMap, '-n', chartRelease().namespace]);
  });

  it('the successor closes the period into one report equal to the priced ledger; the next leaves it', async () => {
    const node = realNode().nodeName;
    await applyNamespacePolicy(policy, { cpuCoreHour: '0.05', memoryGiBHour: '0.01' }, [
      { name: 'day', amount: '1000', period: 'Daily', timeZone: day.timeZone, action: 'Notify' },
    ]);
    // Mid-period: the first leader has counted some of the burners' usage.
    await waitFor(
      'the leader to count priced usage',
      async () => {
        const spent = (await status()).status?.budgets?.find((b) => b.name === 'day')?.spent;
        return spent !== undefined && parseMoney(spent) > 0n;
      },
      180_000,
    );
    const first = await deleteOperatorLeader();
    expect(first.takeoverUs).toBeLessThanOrEqual(first.leaseDurationUs + RETRY_PERIOD_US);
    // The successor has counted on past what the ledger held at the takeover, still mid-period.
    await collectedTo(lastSeq(await ledger()));
    expect(await reports()).toEqual([]);

    // The period ends for the operator; the successor closes it.
    await setClock(day.end + 5_000);
    let closed: CostReport[] = [];
    await waitFor(
      'the CostReport of the closed period',
      async () => {
        closed = await reports();
        return closed.length > 0;
      },
      300_000,
    );
    expect(closed.map((r) => r.metadata.name)).toEqual([`${policy}-day-${day.stamp}-0`]);
    const [report] = closed as [CostReport];
    expect(report.spec.period).toEqual({
      start: wholeSeconds(day.start),
      end: wholeSeconds(day.end),
    });
    expect(report.spec.shard).toEqual({ index: 0, count: 1 });
    expect(report.spec.chainHeads.map((h) => h.node)).toEqual([node]);
    const head = report.spec.chainHeads[0] as { seq: string; hash: string };

    const entries = await ledger();
    const policyCreated = Date.parse(
      (
        await kubectlJson<{ metadata: { creationTimestamp: string } }>([
          'get',
          'costpolicy',
          policy,
        ])
      ).metadata.creationTimestamp,
    );
    // Nothing the policy priced was compacted away: the ledger reaches back before the policy.
    expect(Number(BigInt(entries[0]?.time.start ?? '0') / 1_000_000n)).toBeLessThan(policyCreated);
    expect(entries.find((e) => e.seq === head.seq)?.hash).toBe(head.hash);
    const inReport = priced(entries).filter((e) => BigInt(e.seq) <= BigInt(head.seq));
    const expected = ledgerTotals(inReport);
    expect([...expected.keys()].sort()).toEqual([...namespaces].sort());
    // The figures are compared softly: each is printed and compared even after one differs.
    for (const row of report.spec.namespaces) {
      const want = expected.get(row.namespace);
      const got = totalsOfReport(row.cost, row.sessions, row.tokens.input + row.tokens.output);
      await reportFigures(
        {
          fault: `operator leader deleted (CostReport, namespace ${row.namespace})`,
          unit: 'nano-USD',
          expectedNs: want?.totalNano ?? 0n,
          measuredNs: got.totalNano,
          entries: inReport.filter((e) => e.pod.namespace === row.namespace).length,
          problems: [],
        },
        `priced ledger to seq ${head.seq} (expected), CostReport ${report.metadata.name} (measured)`,
      );
      expect.soft(got).toEqual(want);
      const columns = Object.entries(row.cost).filter(([k]) => k !== 'total');
      expect(columns.reduce((s, [, v]) => s + parseMoney(v), 0n)).toBe(got.totalNano);
    }
    const ledgerNano = [...expected.values()].reduce((s, t) => s + t.totalNano, 0n);
    const reportNano = parseMoney(report.spec.totals.cost.total);
    await reportFigures(
      {
        fault: 'operator leader deleted (CostReport total)',
        unit: 'nano-USD',
        expectedNs: ledgerNano,
        measuredNs: reportNano,
        entries: inReport.length,
        problems: [],
      },
      `priced ledger to seq ${head.seq} (expected), CostReport ${report.metadata.name} (measured)`,
    );
    expect(ledgerNano).toBeGreaterThan(0n);
    expect.soft(reportNano).toBe(ledgerNano);
    expect(report.spec.totals.sessions).toBe(1);

    // What the leader counts after the close (measured before the operator's clock moved, so
    // late) is in the next period's budget, none of it twice.
    let target = 0n;
    await waitFor(
      'priced entries past the head of the report',
      async () => {
        const now = await ledger();
        target = lastSeq(now);
        return priced(now).filter((e) => BigInt(e.seq) > BigInt(head.seq)).length >= 4;
      },
      60_000,
    );
    const next = await collectedTo(target);
    const cursor = policyCursorSeq(next, node) ?? 0n;
    const after = priced(await ledger()).filter(
      (e) => BigInt(e.seq) > BigInt(head.seq) && BigInt(e.seq) <= cursor,
    );
    const afterNano = after.reduce((s, e) => s + BigInt(e.cost?.totalNano ?? '0'), 0n);
    const spentNano = parseMoney(next.status?.budgets?.find((b) => b.name === 'day')?.spent ?? '');
    await reportFigures(
      {
        fault: 'operator leader deleted (next period budget)',
        unit: 'nano-USD',
        expectedNs: afterNano,
        measuredNs: spentNano,
        entries: after.length,
        problems: [],
      },
      `priced ledger seq ${head.seq}-${cursor} (expected), CostPolicy budget spent (measured)`,
    );
    expect(afterNano).toBeGreaterThan(0n);
    expect.soft(spentNano).toBe(afterNano);

    // The leader that wrote the report goes; its successor leaves the report as it is.
    const second = await deleteOperatorLeader();
    expect(second.from).toBe(first.to);
    await collectedTo(lastSeq(await ledger()));
    const later = await reports();
    expect(later.map((r) => [r.metadata.uid, r.metadata.resourceVersion, r.spec])).toEqual([
      [report.metadata.uid, report.metadata.resourceVersion, report.spec],
    ]);
    const conflicts = await kubectlJson<{ items: { involvedObject: { name: string } }[] }>([
      'get',
      'events',
      '-A',
      '--field-selector',
      'reason=CostReportConflict',
    ]);
    expect(conflicts.items.filter((e) => e.involvedObject.name === policy)).toEqual([]);
  });
});
