// CPU cost of sealing `calls` ledger entries: the writer's one-pass fast path
// (canonicalSplitFast) against the generic path it falls back to (canonicalSplit + parseEntry),
// on entries of CALLS model, tool and API calls, and the bytes each call adds to the ledger.
// Run under the agent image's flags:
//   node --max-semi-space-size=1 --no-opt --no-maglev test/bench/calls-seal.ts
// (CALLS=100 ENTRIES=200 TAGS=0 by default; TAGS=N gives each entry N allocation tags).
import { cpus, loadavg, release } from 'node:os';
import {
  canonicalSplitFast,
  GENESIS_PREV,
  parseEntry,
  sealEntryLine,
} from '../../crds/src/index.ts';
import { canonicalSplit } from '../../crds/src/ledger/canonical.ts';
import { callsBody, draft, modelCall } from '../../crds/src/ledger/fixtures.ts';
import type { CallRecord } from '../../crds/src/ledger/types.ts';

const CALLS = Number(process.env.CALLS ?? 100);
const ENTRIES = Number(process.env.ENTRIES ?? 200);
const TAGS = Number(process.env.TAGS ?? 0);

const kinds = callsBody().calls;
const calls: CallRecord[] = Array.from({ length: CALLS }, (_, i) => ({
  ...(kinds[i % kinds.length] ?? modelCall()),
  spanId: (i + 1).toString(16).padStart(16, '0'),
}));
const total = calls.reduce((sum, c) => sum + BigInt(c.costNano ?? '0'), 0n);
const tags = Object.fromEntries(
  Array.from({ length: TAGS }, (_, i) => [`tag-${String(i).padStart(2, '0')}`, `value-${i}`]),
);
const body = {
  ...callsBody({
    calls,
    cost: { currency: 'USD', policy: { name: 'default', generation: '3' }, totalNano: `${total}` },
  }),
  ...(TAGS === 0 ? {} : { tags }),
};
const sealed = sealEntryLine(draft(body), GENESIS_PREV, 1n);
const record: Record<string, unknown> = { ...sealed.entry, hash: undefined };
if (canonicalSplitFast(record) === undefined) throw new Error('the fast path refused the entry');

function time(label: string, fn: () => void): number {
  for (let i = 0; i < 5; i++) fn();
  const start = process.cpuUsage();
  for (let i = 0; i < ENTRIES; i++) fn();
  const used = process.cpuUsage(start);
  const usPerCall = (used.user + used.system) / ENTRIES / CALLS;
  console.log(`${label}: ${usPerCall.toFixed(2)} µs CPU per call`);
  return usPerCall;
}

console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, Node ${process.version}, ` +
    `flags ${process.execArgv.join(' ') || '(none)'}, Linux ${release()}, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
);
console.log(`entries of ${CALLS} calls and ${TAGS} tags, ${ENTRIES} entries per path`);
const fast = time('fast path (canonicalSplitFast)', () => canonicalSplitFast(record));
const generic = time('generic path (canonicalSplit + parseEntry)', () => {
  canonicalSplit(record, 'hash');
  parseEntry(sealed.entry);
});
console.log(`generic / fast: ${(generic / fast).toFixed(2)}`);
const bytes = Buffer.byteLength(sealed.line);
console.log(
  `ledger bytes: ${bytes} per entry, ${(bytes / CALLS).toFixed(0)} per call, ` +
    `${(((bytes / CALLS) * 1e6) / 2 ** 20).toFixed(0)} MiB per million calls`,
);
