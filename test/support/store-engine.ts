// The accounting store the operator suites run their operators on. AGENTMETER_TEST_STORE names
// the engine: `sqlite` (the default: an embedded file in the suite's temp dir) or `postgres`
// (Debian's server, a throwaway cluster of this suite's own). The `integration-postgres` vitest
// project runs the operator suites again with `postgres`, so each suite is written once and
// passes on both engines.
import { join } from 'node:path';
import { AccountingStore } from '../../operator/src/store/accounting.ts';
import { openStore, type StoreConfig } from '../../operator/src/store/open.ts';
import { startCluster } from './postgres.ts';

export type TestEngine = 'sqlite' | 'postgres';

export function testEngine(env: NodeJS.ProcessEnv = process.env): TestEngine {
  const name = env.AGENTMETER_TEST_STORE ?? 'sqlite';
  if (name !== 'sqlite' && name !== 'postgres') {
    throw new Error(
      `AGENTMETER_TEST_STORE must be sqlite or postgres, not ${JSON.stringify(name)}`,
    );
  }
  return name;
}

export interface TestStore {
  readonly engine: TestEngine;
  readonly config: StoreConfig;
  /** The operator's flags naming this store. */
  readonly args: readonly string[];
  /** A connection of the suite's own, to check what the operator committed. */
  open(): Promise<AccountingStore>;
  stop(): Promise<void>;
}

/** A fresh, empty store on the engine AGENTMETER_TEST_STORE names; files go under `dir`. */
export async function startTestStore(dir: string): Promise<TestStore> {
  const engine = testEngine();
  const opened: AccountingStore[] = [];
  const make = (config: StoreConfig, args: string[], stop: () => Promise<void>): TestStore => ({
    engine,
    config,
    args,
    async open() {
      const s = await openStore(config);
      opened.push(s);
      return s;
    },
    async stop() {
      for (const s of opened.splice(0)) await s.close();
      await stop();
    },
  });
  if (engine === 'sqlite') {
    const path = join(dir, 'store.db');
    return make({ engine, path }, [`--store-path=${path}`], async () => undefined);
  }
  const cluster = await startCluster();
  return make({ engine, url: cluster.url }, [`--store-url=${cluster.url}`], () => cluster.stop());
}

export interface StoredSpend {
  /** The store's cursors: the last seq counted, by node. */
  readonly upTo: Map<string, bigint>;
  /** Per budget, every scope key's spend in nano-units. */
  readonly byBudget: Map<string, Map<string, bigint>>;
}

/** The spend of `budgets` in the periods starting at `periodStart` (RFC 3339), read in one
 * snapshot with the cursors, so it compares exactly with the ledgers summed up to them. */
export async function storedSpend(
  store: AccountingStore,
  policy: string,
  budgets: readonly { readonly name: string; readonly periodStart: string }[],
): Promise<StoredSpend> {
  const snapshot = await store.snapshot(
    policy,
    budgets.map((b) => ({
      budget: b.name,
      periodStartNs: BigInt(Date.parse(b.periodStart)) * 1_000_000n,
      limitNano: 1n,
      listReached: 0,
    })),
    1_000_000,
  );
  return {
    upTo: new Map([...snapshot.cursors].map(([node, c]) => [node, c.seq])),
    byBudget: new Map(
      snapshot.budgets.map((b) => [b.budget, new Map(b.top.map((r) => [r.key, r.nano]))]),
    ),
  };
}
