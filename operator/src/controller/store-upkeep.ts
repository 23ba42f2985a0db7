// The store's upkeep, run after a round at most once per interval: rows past their retention
// are deleted (call rows first, per-session days and past periods' budget sums later, daily
// rollups much later), then the store's size and rows per table are exported. A failure is
// logged and tried next time.
import type { Logger } from 'pino';
import type { Clock } from '../runtime/index.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { AccountingStore, RetentionDays } from '../store/accounting.ts';
import { DEFAULT_RETENTION, retentionAt } from '../store/accounting.ts';

/** Hourly: retention is in whole days, and counting rows scans each table. */
export const UPKEEP_INTERVAL_MS = 3_600_000;

export interface UpkeepDeps {
  readonly store: AccountingStore;
  readonly metrics: Pick<OperatorMetrics, 'storeBytes' | 'storeRows' | 'storePruned'>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retention?: RetentionDays;
  readonly intervalMs?: number;
}

export class StoreUpkeep {
  readonly #d: UpkeepDeps;
  #last: number | undefined;

  constructor(deps: UpkeepDeps) {
    this.#d = deps;
  }

  /** Runs when the interval has passed since the last run (at once the first time); returns
   * whether it ran. */
  async maybeRun(): Promise<boolean> {
    const { store, metrics, clock, logger } = this.#d;
    const now = clock.date().getTime();
    if (this.#last !== undefined && now - this.#last < (this.#d.intervalMs ?? UPKEEP_INTERVAL_MS))
      return false;
    this.#last = now;
    try {
      const pruned = await store.retain(retentionAt(now, this.#d.retention ?? DEFAULT_RETENTION));
      metrics.storePruned.inc({ table: 'calls' }, pruned.calls);
      metrics.storePruned.inc({ table: 'session_totals' }, pruned.sessions);
      metrics.storePruned.inc({ table: 'daily_rollups' }, pruned.rollups);
      metrics.storePruned.inc({ table: 'budget_sums' }, pruned.budgetSums);
      metrics.storePruned.inc({ table: 'period_sessions' }, pruned.periodSessions);
      metrics.storePruned.inc({ table: 'session_months' }, pruned.sessionMonths);
      metrics.storeBytes.set(Number(await store.sizeBytes()));
      for (const [table, n] of await store.rows()) metrics.storeRows.set({ table }, Number(n));
      if (Object.values(pruned).some((n) => n > 0))
        logger.info({ pruned }, 'store rows past their retention deleted');
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'store upkeep failed; tried again later');
    }
    return true;
  }
}
