import { describe, expect, it } from 'vitest';
import { callKeys, callsToWrite, recordIdentity, seenFromLedger } from './call-dedup.ts';
import { sealEntry } from './chain.ts';
import { callsBody, draft, modelCall } from './fixtures.ts';
import { GENESIS_PREV } from './types.ts';

const tool = (spanId: string, callId: string | null) =>
  modelCall({
    spanId,
    kind: 'tool',
    tokens: null,
    tool: { name: 'web_search', type: null, callId },
  });

describe('callsToWrite', () => {
  it('writes each span once, and a tool call once under either of its spans', () => {
    const a = tool('00000000000000a1', 'call-1');
    const twin = tool('00000000000000a2', 'call-1');
    const other = tool('00000000000000a3', null);
    const first = callsToWrite(new Set(), 'ns', [a, a, twin, other]);
    expect(first.write).toEqual([a, other]);
    const seen = new Set(first.mark);
    expect(callsToWrite(seen, 'ns', [twin, other, a]).write).toEqual([]);
  });

  it("keeps tenants apart: another namespace's copied ids do not suppress a call", () => {
    const a = tool('00000000000000a1', 'call-1');
    const seen = new Set(callKeys(recordIdentity('tenant-a', a)));
    expect(callsToWrite(seen, 'tenant-b', [a]).write).toEqual([a]);
  });

  it('rebuilds the seen keys from the calls entries of a ledger', () => {
    const entry = sealEntry(draft(callsBody()), GENESIS_PREV, 1n);
    const seen = seenFromLedger([entry]);
    expect(callsToWrite(seen, 'agents', callsBody().calls).write).toEqual([]);
    expect(seen.has(`c\nagents\ncall_1`)).toBe(true);
  });
});
