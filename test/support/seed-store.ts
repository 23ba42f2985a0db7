// The store the CLI tests read: one committed round of policy "p" from one node, on node:sqlite,
// holding only the rows a test gives.
import type { RoundCommit } from '../../operator/src/store/accounting.ts';
import { openStore } from '../../operator/src/store/open.ts';

export type SeedRows = Partial<Pick<RoundCommit, 'sessions' | 'rollups' | 'calls'>>;

export async function seedStore(path: string, rows: SeedRows): Promise<void> {
  const store = await openStore({ engine: 'sqlite', path });
  try {
    await store.commit({
      policy: 'p',
      atNs: 1n,
      cursors: [{ node: 'n1', from: null, to: { seq: 1n, hash: 'a'.repeat(64) } }],
      budgets: [],
      sessions: rows.sessions ?? [],
      rollups: rows.rollups ?? [],
      calls: rows.calls ?? [],
    });
  } finally {
    await store.close();
  }
}
