// Session lookups by (namespace, id) as the CLI and API make them: spread over the month's
// sessions, 5% of them for sessions that do not exist. Both store benches time them this way.
import type { AccountingStore } from '../../../operator/src/store/accounting.ts';

export interface LookupTimes {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const round2 = (x: number): number => Number(x.toFixed(2));

export async function timeLookups(
  store: AccountingStore,
  policy: string,
  sessions: number,
  lookups: number,
  sessionAt: (s: number) => { readonly namespace: string; readonly id: string },
): Promise<LookupTimes> {
  const times: number[] = [];
  let found = 0;
  for (let i = 0; i < lookups; i++) {
    const at = sessionAt(Math.floor((((i * 2_654_435_761) >>> 0) / 2 ** 32) * sessions));
    const id = i % 20 === 0 ? `missing-${i}` : at.id;
    const t = performance.now();
    const row = await store.session(policy, at.namespace, id);
    times.push(performance.now() - t);
    if (row !== undefined) found++;
  }
  const expected = lookups - Math.ceil(lookups / 20);
  if (found !== expected) throw new Error(`lookups found ${found} sessions, expected ${expected}`);
  times.sort((a, b) => a - b);
  return {
    n: lookups,
    p50: round2(quantile(times, 0.5)),
    p99: round2(quantile(times, 0.99)),
    max: round2(times.at(-1) ?? NaN),
  };
}
