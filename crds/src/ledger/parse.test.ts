import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sealEntry } from './chain.ts';
import { draft, podUsage, refusal, sampleBodies, withValue } from './fixtures.ts';
import { conservationViolation, parseEntry } from './parse.ts';
import { GENESIS_PREV } from './types.ts';
import type { LedgerEntry } from './types.ts';

function sealed(): LedgerEntry[] {
  return sampleBodies().map((body, i) => sealEntry(draft(body), GENESIS_PREV, BigInt(i + 1)));
}

describe('parseEntry', () => {
  it('accepts every sealed sample entry unchanged', () => {
    for (const entry of sealed())
      expect(parseEntry(JSON.parse(JSON.stringify(entry)))).toEqual(entry);
  });

  const [pod, node, tokens, checkpoint, marker] = sealed() as [
    LedgerEntry,
    LedgerEntry,
    LedgerEntry,
    LedgerEntry,
    LedgerEntry,
  ];

  it.each([
    ['a JSON number for a counter', pod, ['usage', 'cpuNs'], 5, 'invalid-integer', '$.usage.cpuNs'],
    ['a negative counter', pod, ['usage', 'cpuNs'], '-5', 'invalid-integer', '$.usage.cpuNs'],
    [
      'a fractional counter',
      node,
      ['nodeTotal', 'netRxBytes'],
      '1.5',
      'invalid-integer',
      '$.nodeTotal.netRxBytes',
    ],
    [
      'an exponent',
      tokens,
      ['models', 0, 'inputTokens'],
      '1e3',
      'invalid-integer',
      '$.models[0].inputTokens',
    ],
    [
      'a leading zero',
      checkpoint,
      ['cgroups', 0, 'counters', 'usage_usec'],
      '007',
      'invalid-integer',
      '$.cgroups[0].counters.usage_usec',
    ],
    [
      'a counter above 2^64-1',
      pod,
      ['usage', 'ioReadBytes'],
      '18446744073709551616',
      'invalid-integer',
      '$.usage.ioReadBytes',
    ],
    ['a numeric seq', marker, ['seq'], 5, 'invalid-integer', '$.seq'],
    ['seq 0', marker, ['seq'], '0', 'invalid-value', '$.seq'],
    ['another version', marker, ['v'], 2, 'unsupported-version', '$.v'],
    ['an unknown kind', marker, ['kind'], 'bill', 'unknown-kind', '$.kind'],
    ['an unknown field', pod, ['usage', 'cpuSeconds'], '1', 'unknown-field', '$.usage.cpuSeconds'],
    [
      'a missing field',
      pod,
      ['usage', 'netTxBytes'],
      undefined,
      'missing-field',
      '$.usage.netTxBytes',
    ],
    ['a bad hash', pod, ['hash'], 'ABC', 'invalid-value', '$.hash'],
    ['a bad QoS', pod, ['pod', 'qos'], 'Gold', 'invalid-value', '$.pod.qos'],
    ['priced without cost', tokens, ['priced'], true, 'invalid-value', '$.priced'],
    ['an unknown currency', pod, ['cost', 'currency'], 'XYZ', 'invalid-value', '$.cost.currency'],
    ['a bad flag', pod, ['flags', 0], 'First Sample', 'invalid-value', '$.flags[0]'],
    ['an unknown marker event', marker, ['event'], 'reboot', 'invalid-value', '$.event'],
    [
      'time running backwards',
      marker,
      ['time', 'start'],
      '1700000009000000000',
      'invalid-value',
      '$.time',
    ],
    ['seq outside its batch', marker, ['batch', 'first'], '6', 'invalid-value', '$.batch'],
    ['a string for a boolean', pod, ['priced'], 'true', 'wrong-type', '$.priced'],
  ] as const)('refuses %s', (_name, entry, path, value, reason, at) => {
    const error = refusal(withValue(entry, path, value));
    expect(error.reason).toBe(reason);
    expect(error.path).toBe(at);
    if (path[0] !== 'seq') expect(error.seq).toBe(BigInt(entry.seq));
  });

  it('refuses any JSON number or float in place of a decimal string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double()), (n) => {
        expect(refusal(withValue(pod, ['usage', 'cpuNs'], n)).reason).toBe('invalid-integer');
        if (!/^(0|[1-9][0-9]*)$/.test(String(n))) {
          expect(refusal(withValue(pod, ['usage', 'cpuNs'], String(n))).path).toBe('$.usage.cpuNs');
        }
      }),
    );
  });

  it('refuses duplicate sessions in shares at the writer', () => {
    const usage = podUsage(1).usage;
    const body = podUsage(1, {
      shares: [
        { session: null, usage },
        { session: null, usage },
      ],
    });
    expect(() => sealEntry(draft(body), GENESIS_PREV, 1n)).toThrow(/duplicate session/);
  });
});

describe('conservationViolation', () => {
  it('accepts the balanced samples', () => {
    for (const entry of sealed()) expect(conservationViolation(entry)).toBeNull();
  });

  it('flags shares that do not sum to usage and an unbalanced node', () => {
    const usage = podUsage(1).usage;
    const pod = sealEntry(
      draft(podUsage(1, { shares: [{ session: null, usage: { ...usage, netTxBytes: '35' } }] })),
      GENESIS_PREV,
      1n,
    );
    expect(conservationViolation(pod)).toMatch(/shares/);
    const node = sealed()[1] as LedgerEntry;
    expect(conservationViolation(withValue(node, ['nonPod', 'cpuNs'], '6') as LedgerEntry)).toMatch(
      /nonPod/,
    );
  });
});
