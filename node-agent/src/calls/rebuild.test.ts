// Write first, then mark: a call written to the ledger before a crash is a duplicate after the
// restart, whatever the in-memory set knew, because the set is rebuilt from the ledger.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallsBody } from '@agentmeter/crds';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { callsBodies } from '../batches/calls-bodies.ts';
import { LedgerStore } from '../ledger/segment-store.ts';
import { CallDedupe } from './dedupe.ts';
import type { CallDraft } from './extract.ts';
import { rebuildDedupe } from './rebuild.ts';

const MIN = 60_000_000_000n;
const NOW = 1_700_000_000_000_000_000n;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentmeter-calls-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function tool(n: number, endNs: bigint): CallDraft {
  return {
    traceId: 'f'.repeat(32),
    spanId: (n + 1).toString(16).padStart(16, '0'),
    parentSpanId: null,
    startNs: endNs - 10n,
    endNs,
    kind: 'tool',
    operation: 'execute_tool',
    provider: null,
    model: null,
    tool: { name: 'web_search', type: null, callId: `call-${n}`, argsHash: null },
    apiHost: null,
    tokens: null,
    errorType: null,
  };
}

function entry(calls: CallDraft[], atNs: bigint): CallsBody[] {
  const time = { start: String(atNs - MIN), end: String(atNs) };
  const pod = { uid: 'u', namespace: 'team-a', name: 'p' };
  return callsBodies('1', time, pod, null, calls, null).bodies;
}

describe('rebuildDedupe', () => {
  it('marks the calls the ledger holds within the window, and only those', async () => {
    let clock = NOW - 90n * MIN;
    const store = await LedgerStore.open({
      dir,
      identity: { node: 'n', agentId: 'a' },
      // Small segments, so the scan starts past the old ones.
      segmentBytes: 2048,
      now: () => clock,
    });
    // An hour and a half ago, then every 10 minutes up to now.
    for (let i = 0; i < 10; i++) {
      clock = NOW - BigInt(90 - 10 * i) * MIN;
      await store.append(entry([tool(2 * i, clock - MIN), tool(2 * i + 1, clock - MIN)], clock));
    }
    // The agent crashed after the last append; a new one starts with an empty set.
    const dedupe = new CallDedupe({ windowNs: 30n * MIN });
    const marked = await rebuildDedupe(store, dedupe, NOW);
    // Entries at -30, -20, -10 and 0 minutes hold calls ending in the window [-30 min, now].
    expect(marked).toBe(6);
    // A retry carries the same span, end time included.
    const claim = (n: number, endNs: bigint) =>
      dedupe.claim(
        {
          namespace: 'team-a',
          traceId: 'f'.repeat(32),
          spanId: tool(n, 0n).spanId,
          callId: null,
          endNs,
        },
        NOW,
      );
    expect(claim(19, NOW - MIN)).toBe('duplicate');
    expect(claim(14, NOW - 21n * MIN)).toBe('duplicate');
    // By tool call id too, from another span.
    expect(
      dedupe.claim(
        {
          namespace: 'team-a',
          traceId: 'e'.repeat(32),
          spanId: '1'.repeat(16),
          callId: 'call-18',
          endNs: NOW,
        },
        NOW,
      ),
    ).toBe('duplicate');
    expect(claim(99, NOW - MIN)).toBe('new');
    await store.close();
  });
});
