// What the anomaly and guard work adds to one operator round, at the store benchmark's scale
// (50 namespaces; sessions and calls as set below): feeding a round's hourly spend into the
// book, the hourly detector pass over six weeks of every namespace stream, the guards over a
// window of recent session activity, and storing the window and the book in the status (the
// encodings a status write that counted something carries). Prints medians of repeated runs and
// the machine.
//   node test/bench/anomaly-round.ts   (NAMESPACES, SESSIONS, RECORDS, RUNS)
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { addHourly, HourlyBook, type HourlyAdds } from '../../operator/src/anomaly/hourly-book.ts';
import { HOUR_MS } from '../../operator/src/anomaly/hourly-series.ts';
import { encodeHistory } from '../../operator/src/anomaly/history-state.ts';
import { judgeHour } from '../../operator/src/controller/anomaly-watch.ts';
import { compileGuards } from '../../operator/src/guards/compile.ts';
import { evaluateGuards, type SessionActivity } from '../../operator/src/guards/evaluate.ts';
import { ActivityWindow } from '../../operator/src/guards/window.ts';
import { encodeWindow } from '../../operator/src/guards/window-state.ts';

const NAMESPACES = Number(process.env.NAMESPACES ?? 50);
const SESSIONS = Number(process.env.SESSIONS ?? 10_000);
const RECORDS = Number(process.env.RECORDS ?? 100_000);
const RUNS = Number(process.env.RUNS ?? 7);
const HOURS = 6 * 168;
const NOW = Date.parse('2026-12-07T12:30:00Z');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function time(run: () => void): number {
  const t = performance.now();
  run();
  return performance.now() - t;
}

// Six weeks of hourly spend for every namespace, a day's for each session.
const book = new HourlyBook();
const history: HourlyAdds = new Map();
for (let h = HOURS; h > 0; h--) {
  const at = NOW - h * HOUR_MS;
  for (let n = 0; n < NAMESPACES; n++) {
    addHourly(
      history,
      `namespace:ns-${n}`,
      at,
      BigInt(1_000_000_000 + ((h * 7919 + n) % 997) * 1_000_000),
    );
  }
}
book.add('p', history, NOW - HOURS * HOUR_MS);

// One round's adds: every session spent in this hour.
const round: HourlyAdds = new Map();
for (let s = 0; s < SESSIONS; s++) {
  const ns = s % NAMESPACES;
  addHourly(round, 'policy:*', NOW, 1000n);
  addHourly(round, `namespace:ns-${ns}`, NOW, 1000n);
  addHourly(round, `session:ns-${ns}/s-${s}`, NOW, 1000n);
}

// The guards' window: RECORDS records over two minutes from SESSIONS sessions.
const guards = compileGuards([
  { name: 'spend', maxSpendPerMinute: '5' },
  { name: 'calls', maxCallsPerMinute: 600 },
  { name: 'loop', repeatedToolCall: { count: 20, windowSeconds: 120 } },
]);
const window = new ActivityWindow();
const pending = Array.from({ length: RECORDS }, (_, i) => ({
  entry: `n/${i}`,
  records: [
    {
      session: `ns-${i % NAMESPACES}/s-${i % SESSIONS}`,
      atMs: NOW - 120_000 + Math.floor((i * 120_000) / RECORDS),
      nano: 1_000_000n,
      call: { tool: `t${i % 7}`, argsHash: `h${i % 101}` },
    } satisfies SessionActivity,
  ],
}));

const feed: number[] = [];
const detect: number[] = [];
const guard: number[] = [];
const store: number[] = [];
let findings = 0;
let trips = 0;
let stored = { window: 0, history: 0, windowKept: 0, streamsKept: 0 };
for (let r = 0; r < RUNS; r++) {
  feed.push(time(() => book.add('p', round, NOW + r)));
  detect.push(time(() => (findings = judgeHour(book, 'p', NOW + HOUR_MS).length)));
  guard.push(
    time(() => {
      trips = evaluateGuards(guards, window.records(pending, -Infinity)).length;
    }),
  );
  store.push(
    time(() => {
      const w = encodeWindow(window.after(pending, -Infinity));
      const h = encodeHistory(book.view('p', round, NOW + r));
      stored = {
        window: w.text.length,
        history: h.text.length,
        windowKept: w.kept,
        streamsKept: h.kept,
      };
    }),
  );
}

const cpus = os.cpus();
process.stdout.write(
  [
    `machine: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
    `scale: ${NAMESPACES} namespaces × ${HOURS} h of history, ${SESSIONS} sessions in the round, ${RECORDS} records in the guard window; median of ${RUNS}`,
    `hourly book, one round's adds and trim: ${median(feed).toFixed(1)} ms (every round)`,
    `detectors, one closed hour: ${median(detect).toFixed(1)} ms (once an hour; ${findings} findings)`,
    `guards over the window: ${median(guard).toFixed(1)} ms (every round with guards; ${trips} trips)`,
    `window and book encoded for the status: ${median(store).toFixed(1)} ms (every write that counted something; window ${stored.window} B holding ${stored.windowKept} of ${RECORDS} entries, history ${stored.history} B holding ${stored.streamsKept} streams)`,
  ].join('\n') + '\n',
);
