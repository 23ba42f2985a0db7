// Child process of crash.test.ts: appends simulated ticks as fast as it can until SIGKILLed.
// Usage: node crash-writer.fixture.ts <stateDir> <t0Ms> <pods> <segmentBytes>
import { randomUUID } from 'node:crypto';
import type { CheckpointEntry } from '@agentmeter/crds';
import { baselineFromCheckpoint, recoverBaseline } from './counter-state.ts';
import { LedgerStore } from './segment-store.ts';
import { simulatedTick } from './tick-fixture.ts';

const [dir, t0Text, podsText, segmentText] = process.argv.slice(2);
const t0Ms = BigInt(t0Text as string);
const pods = Number(podsText);

const store = await LedgerStore.open({
  dir: dir as string,
  identity: { node: 'node-a', agentId: randomUUID() },
  segmentBytes: Number(segmentText),
});
let baseline = await recoverBaseline(store);
const now = (BigInt(Date.now()) * 1_000_000n).toString();
await store.append([
  {
    kind: 'marker',
    time: { start: now, end: now },
    event: 'agent-start',
    detail: { baselineSeq: (baseline?.seq ?? 0n).toString() },
  },
]);
for (let ticks = 0; ; ticks++) {
  const { bodies } = simulatedTick(pods, BigInt(Date.now()), t0Ms, baseline);
  const written = await store.append(bodies);
  // The baseline advances only from what is durable, exactly as recovery would read it.
  baseline = baselineFromCheckpoint(written.at(-1) as CheckpointEntry);
  // Ticking: from now on the newest line is a tick's, so a torn tail never cuts the start marker.
  if (ticks === 0) process.stdout.write('ticking\n');
}
