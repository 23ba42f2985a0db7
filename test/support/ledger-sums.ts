// What a CostPolicy's status should hold, summed straight from the agents' ledgers up to the
// cursors the status itself records: the operator suites' measure of exact spend.
import { parseMoney } from '@agentmeter/crds';
import type { CostPolicy, LedgerEntry } from '@agentmeter/crds';
import { decodeCursors } from '../../operator/src/budgets/cursors.ts';

/** What a policy's budgets should hold, summed straight from ledger entries. */
export interface LedgerSums {
  total: bigint;
  byNamespace: Map<string, bigint>;
  bySession: Map<string, bigint>;
  sessionsByNamespace: Map<string, Set<string>>;
}

/** Sums the cost of the entries priced by `policy`, for each node only up to `upTo[node]`. */
export function ledgerSums(
  ledgers: ReadonlyMap<string, readonly LedgerEntry[]>,
  policy: string,
  upTo: ReadonlyMap<string, bigint>,
): LedgerSums {
  const sums: LedgerSums = {
    total: 0n,
    byNamespace: new Map(),
    bySession: new Map(),
    sessionsByNamespace: new Map(),
  };
  const add = (m: Map<string, bigint>, k: string, v: bigint): void => {
    m.set(k, (m.get(k) ?? 0n) + v);
  };
  for (const [node, entries] of ledgers) {
    const limit = upTo.get(node) ?? 0n;
    for (const e of entries) {
      if (BigInt(e.seq) > limit) break;
      if (e.kind !== 'pod-usage' || e.cost === null || e.cost.policy.name !== policy) continue;
      const nano = BigInt(e.cost.totalNano);
      sums.total += nano;
      // The store keeps no row for a scope that spent nothing, so neither the status nor the store
      // lists it: a pod whose entries so far cost 0 (its first tick, on a busy machine) adds none.
      if (nano !== 0n) add(sums.byNamespace, e.pod.namespace, nano);
      for (const s of e.cost.bySession ?? []) {
        if (s.session === null) continue;
        const key = `${s.session.namespace}/${s.session.id}`;
        add(sums.bySession, key, BigInt(s.totalNano));
        const set = sums.sessionsByNamespace.get(e.pod.namespace) ?? new Set<string>();
        set.add(key);
        sums.sessionsByNamespace.set(e.pod.namespace, set);
      }
    }
  }
  return sums;
}

/** A status money string in nano-units; absent (nothing spent yet) is zero. */
export function moneyNano(money: string | undefined): bigint {
  return parseMoney(money ?? '0');
}

/** The collection cursors a CostPolicy's status records: the last seq counted, by node. */
export function policyCursors(p: CostPolicy): Map<string, bigint> {
  return new Map(decodeCursors(p.status?.collection?.cursors).map((c) => [c.node, c.seq]));
}
