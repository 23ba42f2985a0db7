// The exactly-once core: given a policy's committed state and cursors and the verified chains
// pulled from the agents, compute the next state and cursors. Pure and deterministic, so a
// reconcile that loses a write conflict simply runs it again on the fresh object: an entry is
// applied only when its seq is past the policy's cursor for that node and the chain links to
// the cursor's hash, hence never twice and never skipped.
import type { Budget, LedgerEntry, LedgerPosition } from '@agentmeter/crds';
import { contributionOf } from './contribution.ts';
import type { Contribution, PolicyIdentity } from './contribution.ts';
import { periodAt, periodSpecKey } from './periods.ts';
import { cloneState, newNamespaceAccum } from './state.ts';
import type { BudgetAccum, PolicyState, ReportAccum } from './state.ts';

/** Verified entries of one agent: entries[0] follows `anchor` directly. */
export interface NodeChain {
  readonly node: string;
  readonly anchor: LedgerPosition;
  readonly entries: readonly LedgerEntry[];
}

export interface PolicyView {
  readonly identity: PolicyIdentity;
  readonly generation: number;
  readonly budgets: readonly Budget[];
}

/** A node whose chain does not continue from this policy's cursor. */
export interface CursorMismatch {
  readonly node: string;
  readonly reason: 'gap' | 'fork';
  readonly detail: string;
}

export interface ReduceResult {
  readonly state: PolicyState;
  readonly cursors: LedgerPosition[];
  /** Entries newly past the cursors (priced by this policy or not). */
  readonly consumed: number;
  /** Contributions counted, and how many of them arrived after their own period closed. */
  readonly counted: number;
  readonly late: number;
  readonly mismatches: CursorMismatch[];
}

export function budgetSpec(budget: Budget): string {
  return `${periodSpecKey(budget.period, budget.timeZone)}/${budget.scope ?? 'Policy'}`;
}

function newEntries(
  chain: NodeChain,
  cursor: LedgerPosition | undefined,
): { entries: readonly LedgerEntry[]; mismatch?: CursorMismatch } {
  // No cursor yet: this policy starts wherever the collector began for it.
  if (cursor === undefined) return { entries: chain.entries };
  const { node, anchor } = chain;
  if (cursor.seq < anchor.seq) {
    return {
      entries: [],
      mismatch: {
        node,
        reason: 'gap',
        detail: `cursor ${cursor.seq} is before pulled range ${anchor.seq}`,
      },
    };
  }
  const offset = cursor.seq - anchor.seq;
  const at = offset === 0 ? anchor : chain.entries[offset - 1];
  if (at === undefined) return { entries: [] };
  if (at.hash !== cursor.hash) {
    return {
      entries: [],
      mismatch: {
        node,
        reason: 'fork',
        detail: `entry ${cursor.seq} hashes to ${at.hash}, the policy counted ${cursor.hash}`,
      },
    };
  }
  return { entries: chain.entries.slice(offset) };
}

function addTo(
  accum: ReportAccum,
  budgets: readonly [Budget, BudgetAccum][],
  c: Contribution,
): void {
  let ns = accum.namespaces.get(c.namespace);
  if (ns === undefined) {
    ns = newNamespaceAccum();
    accum.namespaces.set(c.namespace, ns);
  }
  for (const r of Object.keys(c.breakdown) as (keyof typeof c.breakdown)[]) {
    ns.cost[r] += c.breakdown[r];
  }
  ns.input += c.inputTokens;
  ns.output += c.outputTokens;
  for (const s of c.sessions) ns.sessions.add(s.key);
  for (const [budget, b] of budgets) {
    const add = (key: string, nano: bigint): void => {
      b.sums.set(key, (b.sums.get(key) ?? 0n) + nano);
    };
    switch (budget.scope ?? 'Policy') {
      case 'Policy':
        add('*', c.totalNano);
        break;
      case 'Namespace':
        add(c.namespace, c.totalNano);
        break;
      case 'Session':
        for (const s of c.sessions) add(s.key, s.nano);
        break;
    }
  }
}

/** A budget opened mid-period starts from what the period's report data already knows. */
function openBudget(budget: Budget, report: ReportAccum): BudgetAccum {
  const sums = new Map<string, bigint>();
  const scope = budget.scope ?? 'Policy';
  for (const [ns, a] of report.namespaces) {
    const total = Object.values(a.cost).reduce((x, y) => x + y, 0n);
    if (scope === 'Policy') sums.set('*', (sums.get('*') ?? 0n) + total);
    if (scope === 'Namespace') sums.set(ns, total);
  }
  return { spec: budgetSpec(budget), start: report.start, end: report.end, sums };
}

/**
 * Applies the chains to a policy. Contributions go to the open period of each budget; when the
 * clock has passed its end, the entries measured before the end are counted into it, the
 * period is frozen into `closing` (for its CostReports), and the rest open the next period.
 * Entries measured before the open period (late arrivals) count in the open period: a closed
 * period's reports never change.
 */
export function reducePolicy(
  committed: PolicyState,
  cursors: readonly LedgerPosition[],
  chains: readonly NodeChain[],
  policy: PolicyView,
  nowMs: number,
): ReduceResult {
  const state = cloneState(committed);
  const cursorMap = new Map(cursors.map((c) => [c.node, c]));
  const contributions: Contribution[] = [];
  const mismatches: CursorMismatch[] = [];
  let consumed = 0;
  for (const chain of chains) {
    const { entries, mismatch } = newEntries(chain, cursorMap.get(chain.node));
    if (mismatch) mismatches.push(mismatch);
    const last = entries.at(-1);
    if (last === undefined) continue;
    consumed += entries.length;
    for (const entry of entries) {
      const c = contributionOf(entry, policy.identity);
      if (c !== null) contributions.push(c);
    }
    cursorMap.set(chain.node, { node: chain.node, seq: Number(last.seq), hash: last.hash });
  }
  const newCursors = [...cursorMap.values()].sort((a, b) =>
    a.node < b.node ? -1 : a.node > b.node ? 1 : 0,
  );

  // Group budgets by period spec; each group shares one ReportAccum and its boundaries.
  const groups = new Map<string, Budget[]>();
  for (const budget of policy.budgets) {
    const key = periodSpecKey(budget.period, budget.timeZone);
    groups.set(key, [...(groups.get(key) ?? []), budget]);
  }
  const live = new Set(policy.budgets.map((b) => b.name));
  for (const name of [...state.budgets.keys()]) if (!live.has(name)) state.budgets.delete(name);
  // A period spec no longer used by any budget closes now, so its data still reaches a report.
  for (const [spec, accum] of [...state.reports]) {
    if (groups.has(spec)) continue;
    state.reports.delete(spec);
    state.closing.push({
      ...accum,
      end: Math.max(accum.start + 1000, Math.min(nowMs, accum.end)),
      spec,
      budgets: [],
      generation: policy.generation,
      heads: newCursors,
    });
  }

  let late = 0;
  for (const [spec, budgets] of groups) {
    const first = budgets[0] as Budget;
    let report = state.reports.get(spec);
    if (report === undefined) {
      const p = periodAt(nowMs, first.period, first.timeZone);
      report = { start: p.start, end: p.end, namespaces: new Map() };
      state.reports.set(spec, report);
    }
    const open = (r: ReportAccum): [Budget, BudgetAccum][] =>
      budgets.map((budget) => {
        let b = state.budgets.get(budget.name);
        if (b === undefined || b.spec !== budgetSpec(budget) || b.start !== r.start) {
          b = openBudget(budget, r);
          state.budgets.set(budget.name, b);
        }
        return [budget, b];
      });
    let accums = open(report);
    let rest = contributions;
    if (nowMs >= report.end) {
      const end = report.end;
      const before = contributions.filter((c) => c.timeMs < end);
      rest = contributions.filter((c) => c.timeMs >= end);
      for (const c of before) {
        if (c.timeMs < report.start) late++;
        addTo(report, accums, c);
      }
      state.closing.push({
        ...report,
        spec,
        budgets: budgets.map((b) => b.name).sort(),
        generation: policy.generation,
        heads: newCursors,
      });
      const p = periodAt(nowMs, first.period, first.timeZone);
      report = { start: p.start, end: p.end, namespaces: new Map() };
      state.reports.set(spec, report);
      accums = open(report);
    }
    for (const c of rest) {
      if (c.timeMs < report.start) late++;
      addTo(report, accums, c);
    }
  }
  return {
    state,
    cursors: newCursors,
    consumed,
    counted: contributions.length,
    late,
    mismatches,
  };
}
