// Memory and time of the call dedupe set (node-agent/src/calls/dedupe.ts) holding a 30-minute
// window at 200 calls a second, against a Set of the same key strings.
// Run: node --expose-gc test/bench/call-dedupe.ts [calls, default 360000]
import { cpus } from 'node:os';
import { CallDedupe } from '../../node-agent/src/calls/dedupe.ts';

const N = Number(process.argv[2] ?? '360000');
const gc = globalThis.gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const heap = (): number => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, Node ${process.version}`,
);
let base = heap();
const strings = new Set<string>();
for (let i = 0; i < N; i++) strings.add(`s\nteam-a\n${hex(i, 32)}${hex(i * 7 + 1, 16)}`);
const setBytes = heap() - base;
strings.clear();
base = heap();
const now = 1_700_000_000_000_000_000n;
// Spread over the window by end time, as 200 calls a second are.
const step = (30n * 60n * 1_000_000_000n) / BigInt(N);
const dedupe = new CallDedupe({ windowNs: 30n * 60n * 1_000_000_000n });
const start = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  const call = {
    namespace: 'team-a',
    traceId: hex(i, 32),
    spanId: hex(i * 7 + 1, 16),
    callId: null,
    endNs: now - BigInt(N - i) * step,
  };
  dedupe.claim(call, now);
}
const claimNs = Number(process.hrtime.bigint() - start) / N;
const dedupeBytes = heap() - base;
console.log(
  `${N} keys: dedupe set ${(dedupeBytes / N).toFixed(1)} bytes a key measured ` +
    `(${(dedupe.bytes / N).toFixed(1)} counted, ${(dedupe.bytes / 1048576).toFixed(1)} MiB), ` +
    `Set of strings ${(setBytes / N).toFixed(1)} bytes a key; claim ${Math.round(claimNs)} ns a call`,
);
