// The exactly-once core: given a policy's committed state and cursors and the verified pages
// pulled from the agents, compute the next state and cursors. Pure and deterministic, so a
// reconcile that loses a write conflict simply runs it again on the fresh object: an entry is
// applied only when its seq is past the policy's cursor for that node and the chain links to
// the cursor's hash, hence never twice and never skipped. Pages are folded as they arrive and
// dropped, so memory holds the accumulators, never a round's worth of entries.
import type { Budget, LedgerEntry, LedgerPosition } from '@agentmeter/crds';
import { addHourly, type HourlyAdds } from '../anomaly/hourly-book.ts';
import { activityOf } from '../guards/activity.ts';
import { entryKey, type EntryActivity } from '../guards/window.ts';
import { contributionOf } from './contribution.ts';
import type { Contribution, PolicyIdentity } from './contribution.ts';
import { periodAt, periodSpecKey } from './periods.ts';
import { cloneState, newNamespaceAccum } from './state.ts';
import type {
  BudgetAccum,
  CarriedSession,
  ClosedPeriod,
  PolicyState,
  ReportAccum,
} from './state.ts';

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
  /** Entries measured from this time on have their session activity kept for the guards;
   * undefined when the policy has no guards. */
  readonly activitySinceMs?: number;
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
  /** Session activity of the counted entries since `activitySinceMs`, per entry. */
  readonly activity: EntryActivity[];
  /** Spend counted, per stream (policy total, namespace, session) and hour. */
  readonly hourly: HourlyAdds;
  /** The sessions counted into each report period (for the store's period_sessions), once
   * each, with those an earlier version's state carried. */
  readonly periodSessions: CarriedSession[];
}

export function budgetSpec(budget: Budget): string {
  return `${periodSpecKey(budget.period, budget.timeZone)}/${budget.scope ?? 'Policy'}`;
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

/** Verified entries of one agent, indexed by the policy that priced them. */
export interface ChainPage {
  readonly node: string;
  /** The position entries[0] follows directly. */
  readonly after: LedgerPosition;
  readonly entries: readonly LedgerEntry[];
  /** The last entry's position: every policy that consumes the page moves its cursor to it. */
  readonly end: LedgerPosition | undefined;
  /** Policy name → indices into entries, ascending. */
  readonly byPolicy: ReadonlyMap<string, readonly number[]>;
}

/** Indexes a page once, so each policy visits only its own entries (one name of many). */
export function indexPage(
  node: string,
  after: LedgerPosition,
  entries: readonly LedgerEntry[],
): ChainPage {
  const byPolicy = new Map<string, number[]>();
  entries.forEach((e, i) => {
    if (e.kind !== 'pod-usage' && e.kind !== 'tokens' && e.kind !== 'calls') return;
    const name = e.cost?.policy.name;
    if (name === undefined) return;
    const list = byPolicy.get(name);
    if (list === undefined) byPolicy.set(name, [i]);
    else list.push(i);
  });
  const last = entries.at(-1);
  const end = last && { node, seq: BigInt(last.seq), hash: last.hash };
  return { node, after, entries, end, byPolicy };
}

interface Period {
  readonly report: ReportAccum;
  readonly accums: [Budget, BudgetAccum][];
}

/** The budgets of one period spec: where their contributions go. */
interface Target {
  readonly spec: string;
  readonly budgets: readonly Budget[];
  readonly open: Period;
  /** The period that ended before now: entries measured before its end still count in it. */
  readonly ending?: Period;
}

/**
 * One policy's reduction, fed page by page. Contributions go to the open period of each
 * budget; when the clock has passed its end, the entries measured before the end are counted
 * into it, the period is frozen into `closing` (for its CostReports), and the rest open the next
 * period. Entries measured before the open period (late arrivals) count in the open period: a
 * closed period's reports never change. The result does not depend on page order.
 */
export class PolicyFold {
  readonly #state: PolicyState;
  readonly #cursors: Map<string, LedgerPosition>;
  readonly #policy: PolicyView;
  readonly #targets: Target[] = [];
  readonly #dropped: Omit<ClosedPeriod, 'heads'>[] = [];
  readonly #mismatched = new Map<string, CursorMismatch>();
  readonly #activity: EntryActivity[] = [];
  readonly #hourly: HourlyAdds = new Map();
  readonly #periodSessions = new Map<string, CarriedSession>();
  readonly #observe: ((c: Contribution) => void) | undefined;
  #consumed = 0;
  #counted = 0;
  #late = 0;

  /** `observe` sees each contribution counted, e.g. to record it in the store. */
  constructor(
    committed: PolicyState,
    cursors: readonly LedgerPosition[],
    policy: PolicyView,
    nowMs: number,
    observe?: (c: Contribution) => void,
  ) {
    this.#observe = observe;
    const { carried = [], ...rest } = cloneState(committed);
    const state: PolicyState = rest;
    this.#state = state;
    for (const s of carried) this.#periodSession(s);
    this.#cursors = new Map(cursors.map((c) => [c.node, c]));
    this.#policy = policy;
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
      this.#dropped.push({
        ...accum,
        end: Math.max(accum.start + 1000, Math.min(nowMs, accum.end)),
        spec,
        budgets: [],
        generation: policy.generation,
      });
    }
    for (const [spec, budgets] of groups) {
      const first = budgets[0] as Budget;
      const openAt = (r: ReportAccum): Period => ({
        report: r,
        accums: budgets.map((budget) => {
          let b = state.budgets.get(budget.name);
          if (b === undefined || b.spec !== budgetSpec(budget) || b.start !== r.start) {
            b = openBudget(budget, r);
            state.budgets.set(budget.name, b);
          }
          return [budget, b];
        }),
      });
      const fresh = (): ReportAccum => {
        const p = periodAt(nowMs, first.period, first.timeZone);
        const r = { start: p.start, end: p.end, namespaces: new Map() };
        state.reports.set(spec, r);
        return r;
      };
      const current = state.reports.get(spec) ?? fresh();
      const period = openAt(current);
      if (nowMs >= current.end) {
        this.#targets.push({ spec, budgets, ending: period, open: openAt(fresh()) });
      } else {
        this.#targets.push({ spec, budgets, open: period });
      }
    }
  }

  /** Where this policy has counted `node` up to; undefined when it has not begun there. */
  cursor(node: string): LedgerPosition | undefined {
    return this.#cursors.get(node);
  }

  /** Applies the part of `page` past this policy's cursor, if the page links to it. */
  add(page: ChainPage): void {
    const { node, after, entries, end } = page;
    if (end === undefined || this.#mismatched.has(node)) return;
    const cursor = this.#cursors.get(node);
    let offset = 0;
    // No cursor yet: this policy starts wherever the collector began for it.
    if (cursor !== undefined) {
      if (cursor.seq < after.seq) {
        this.#mismatched.set(node, {
          node,
          reason: 'gap',
          detail: `cursor ${cursor.seq} is before pulled range ${after.seq}`,
        });
        return;
      }
      offset = Number(cursor.seq - after.seq);
      const at = offset === 0 ? after : entries[offset - 1];
      if (at === undefined) return;
      if (at.hash !== cursor.hash) {
        this.#mismatched.set(node, {
          node,
          reason: 'fork',
          detail: `entry ${cursor.seq} hashes to ${at.hash}, the policy counted ${cursor.hash}`,
        });
        return;
      }
      if (offset === entries.length) return;
    }
    this.#consumed += entries.length - offset;
    for (const i of page.byPolicy.get(this.#policy.identity.name) ?? []) {
      if (i < offset) continue;
      const entry = entries[i] as LedgerEntry;
      const c = contributionOf(entry, this.#policy.identity);
      if (c !== null) this.#contribute(c);
      const since = this.#policy.activitySinceMs;
      if (since === undefined) continue;
      const records = activityOf(entry, c, this.#policy.identity);
      if (records.some((r) => r.atMs >= since)) {
        this.#activity.push({ entry: entryKey(node, BigInt(entry.seq)), records });
      }
    }
    this.#cursors.set(node, end);
  }

  #contribute(c: Contribution): void {
    this.#counted++;
    addHourly(this.#hourly, 'policy:*', c.timeMs, c.totalNano);
    addHourly(this.#hourly, `namespace:${c.namespace}`, c.timeMs, c.totalNano);
    for (const s of c.sessions) addHourly(this.#hourly, `session:${s.key}`, c.timeMs, s.nano);
    this.#observe?.(c);
    for (const t of this.#targets) {
      const p = t.ending !== undefined && c.timeMs < t.ending.report.end ? t.ending : t.open;
      if (c.timeMs < p.report.start) this.#late++;
      addTo(p.report, p.accums, c);
      for (const s of c.sessions) {
        this.#periodSession({ spec: t.spec, start: p.report.start, key: s.key });
      }
    }
  }

  #periodSession(s: CarriedSession): void {
    this.#periodSessions.set(`${s.spec}\n${s.start}\n${s.key}`, s);
  }

  finish(): ReduceResult {
    const cursors = [...this.#cursors.values()].sort((a, b) =>
      a.node < b.node ? -1 : a.node > b.node ? 1 : 0,
    );
    const state = this.#state;
    for (const d of this.#dropped) state.closing.push({ ...d, heads: cursors });
    for (const t of this.#targets) {
      if (t.ending === undefined) continue;
      state.closing.push({
        ...t.ending.report,
        spec: t.spec,
        budgets: t.budgets.map((b) => b.name).sort(),
        generation: this.#policy.generation,
        heads: cursors,
      });
    }
    return {
      state,
      cursors,
      consumed: this.#consumed,
      counted: this.#counted,
      late: this.#late,
      mismatches: [...this.#mismatched.values()],
      activity: this.#activity,
      hourly: this.#hourly,
      periodSessions: [...this.#periodSessions.values()],
    };
  }
}

/** Applies whole chains to a policy at once (see PolicyFold). */
export function reducePolicy(
  committed: PolicyState,
  cursors: readonly LedgerPosition[],
  chains: readonly NodeChain[],
  policy: PolicyView,
  nowMs: number,
): ReduceResult {
  const fold = new PolicyFold(committed, cursors, policy, nowMs);
  for (const chain of chains) fold.add(indexPage(chain.node, chain.anchor, chain.entries));
  return fold.finish();
}
