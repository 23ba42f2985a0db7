// CPU per span of decoding OTLP/protobuf 100-span requests (test-payloads.ts, as the ingest bench
// sends them): the receiver's decoder (straight from the wire, decode-protobuf-wire.ts) against
// the general one (protobufjs, then the same span checks), in alternating rounds in one process,
// so a busy machine slows both alike. Run: node test/bench/otlp-decode.ts [rounds, default 10]
import { cpus, loadavg } from 'node:os';
import {
  decodeGeneralSteps,
  decodeProtobufRequestSteps,
  encodeExportRequest,
} from '../../node-agent/src/otlp/decode-protobuf.ts';
import { runSteps } from '../../node-agent/src/otlp/steps.ts';
import { makeTraceBatch } from '../../node-agent/src/otlp/test-payloads.ts';
import type { DecodeResult } from '../../node-agent/src/otlp/types.ts';

const ROUNDS = Number(process.argv[2] ?? '10');
const SPANS = 100;
const BODIES = 200;
const PASSES = 5;

const bodies = Array.from({ length: BODIES }, (_, i) =>
  encodeExportRequest(makeTraceBatch({ spans: SPANS, seed: i + 1, sessions: 20, podUid: 'p' })),
);
const nowNs = BigInt(Date.now()) * 1_000_000n;

function round(decode: (body: Uint8Array) => DecodeResult): number {
  let spans = 0;
  const cpu = process.cpuUsage();
  for (let pass = 0; pass < PASSES; pass++) {
    for (const body of bodies) spans += decode(body).spans.length;
  }
  const used = process.cpuUsage(cpu);
  return ((used.user + used.system) * 1000) / spans;
}

const decoders = {
  wire: (body: Uint8Array) => runSteps(decodeProtobufRequestSteps(body, { nowNs })),
  protobufjs: (body: Uint8Array) => runSteps(decodeGeneralSteps(body, { nowNs })),
};
console.log(
  `machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, Node ${process.version}, ` +
    `flags [${process.execArgv.join(' ')}], load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
);
// Warm-up: both decoders compiled before the first measured round.
for (const decode of Object.values(decoders)) round(decode);
const ns: Record<keyof typeof decoders, number[]> = { wire: [], protobufjs: [] };
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? (['wire', 'protobufjs'] as const) : (['protobufjs', 'wire'] as const);
  for (const name of order) ns[name].push(round(decoders[name]));
}
for (const [name, values] of Object.entries(ns)) {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  console.log(
    `${name.padEnd(10)} CPU per span: median ${Math.round(median)} ns, ` +
      `range ${Math.round(sorted[0] ?? 0)}–${Math.round(sorted.at(-1) ?? 0)} ns over ${ROUNDS} rounds ` +
      `of ${BODIES * PASSES} ${SPANS}-span requests`,
  );
}
