import { describe, expect, it } from 'vitest';
import { CallDedupe, type CallIdentity } from './dedupe.ts';
import { FingerprintSet } from './fingerprint-set.ts';

const MIN = 60_000_000_000n;
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

function call(n: number, over: Partial<CallIdentity> = {}): CallIdentity {
  return {
    namespace: 'team-a',
    traceId: hex(1, 32),
    spanId: hex(n + 1, 16),
    callId: null,
    endNs: 100n * MIN,
    ...over,
  };
}

describe('CallDedupe', () => {
  it('claims a call once, however often its span comes again', () => {
    const d = new CallDedupe({ windowNs: 60n * MIN });
    const now = 100n * MIN;
    expect(d.claim(call(1), now)).toBe('new');
    expect(d.claim(call(1), now)).toBe('duplicate');
    expect(d.claim(call(1), now + 30n * MIN)).toBe('duplicate');
    expect(d.claim(call(2), now)).toBe('new');
  });

  it('claims a tool call id once, across spans with other ids and end times', () => {
    const d = new CallDedupe({ windowNs: 60n * MIN });
    const now = 100n * MIN;
    expect(d.claim(call(1, { callId: 'call_7' }), now)).toBe('new');
    expect(d.claim(call(2, { callId: 'call_7', endNs: now - 20n * MIN }), now)).toBe('duplicate');
    expect(d.claim(call(3, { callId: 'call_8' }), now)).toBe('new');
  });

  it('keeps tenants apart: the same ids in another namespace are another call', () => {
    const d = new CallDedupe({ windowNs: 60n * MIN });
    const now = 100n * MIN;
    expect(d.claim(call(1, { callId: 'x' }), now)).toBe('new');
    expect(d.claim(call(1, { namespace: 'team-b', callId: 'x' }), now)).toBe('new');
  });

  it('refuses calls that ended before the window, and forgets keys past it', () => {
    const d = new CallDedupe({ windowNs: 60n * MIN });
    const now = 100n * MIN;
    expect(d.claim(call(1, { endNs: now - 61n * MIN }), now)).toBe('stale');
    expect(d.claim(call(2, { endNs: now - 59n * MIN }), now)).toBe('new');
    expect(d.keys).toBe(1);
    // Once the window has passed its end, the key is gone and so would a retry be refused.
    expect(d.claim(call(3), now + 62n * MIN)).toBe('stale');
    expect(d.keys).toBe(0);
  });

  it('rebuilds from written calls: a marked call is a duplicate after a restart', () => {
    const before = new CallDedupe({ windowNs: 60n * MIN });
    const after = new CallDedupe({ windowNs: 60n * MIN });
    const now = 100n * MIN;
    expect(before.claim(call(1, { callId: 'c1' }), now)).toBe('new');
    after.markWritten(call(1, { callId: 'c1' }));
    expect(after.claim(call(1), now)).toBe('duplicate');
    expect(after.claim(call(9, { callId: 'c1' }), now)).toBe('duplicate');
  });
});

describe('FingerprintSet', () => {
  it('holds many fingerprints exactly, at under 24 bytes each', () => {
    const set = new FingerprintSet();
    const n = 100_000;
    const hi = (i: number) => Math.imul(i, 2654435761) >>> 0;
    const lo = (i: number) => Math.imul(i ^ 0x5bd1e995, 40503) >>> 0;
    let added = 0;
    let again = 0;
    for (let i = 1; i <= n; i++) if (set.add(hi(i), lo(i))) added++;
    for (let i = 1; i <= n; i++) if (set.add(hi(i), lo(i))) again++;
    expect([added, again, set.size]).toEqual([n, 0, n]);
    expect(set.has(hi(7), lo(7))).toBe(true);
    expect(set.has(hi(7), lo(8))).toBe(false);
    expect(set.bytes / n).toBeLessThan(24);
  });
});
