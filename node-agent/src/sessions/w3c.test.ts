import { describe, expect, it } from 'vitest';
import { baggageValue, parseBaggage, parseTraceparent, TRACE_FLAG_SAMPLED } from './w3c.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${PARENT}-01`;

describe('parseTraceparent', () => {
  it('parses the spec example', () => {
    const r = parseTraceparent(VALID);
    expect(r).toEqual({
      ok: true,
      value: { version: 0, traceId: TRACE, parentId: PARENT, flags: 1 },
    });
    expect(r.ok && (r.value.flags & TRACE_FLAG_SAMPLED) !== 0).toBe(true);
  });

  it.each([
    ['reserved flag bits are kept, not refused', `00-${TRACE}-${PARENT}-ff`, 255],
    ['future version with extra fields', `01-${TRACE}-${PARENT}-03-what-the-future-holds`, 3],
    ['future version, exactly 55 chars', `cc-${TRACE}-${PARENT}-00`, 0],
  ])('accepts %s', (_name, header, flags) => {
    const r = parseTraceparent(header);
    expect(r.ok).toBe(true);
    expect(r.ok && r.value.flags).toBe(flags);
  });

  it.each([
    ['empty', '', 'too-short'],
    ['54 chars', VALID.slice(0, 54), 'too-short'],
    ['v00 with trailing data', `${VALID}-00`, 'bad-length'],
    ['v00 with trailing space', `${VALID} `, 'bad-length'],
    ['over the 512 cap', `01-${TRACE}-${PARENT}-01-${'a'.repeat(500)}`, 'too-long'],
    ['version ff', `ff-${TRACE}-${PARENT}-01`, 'forbidden-version'],
    ['uppercase version', `0A-${TRACE}-${PARENT}-01`, 'bad-version'],
    ['non-hex version', `0x-${TRACE}-${PARENT}-01`, 'bad-version'],
    ['future version, no dash after flags', `01-${TRACE}-${PARENT}-01x`, 'bad-delimiter'],
    ['wrong delimiter', `00_${TRACE}-${PARENT}-01`, 'bad-delimiter'],
    ['uppercase trace id', `00-${TRACE.toUpperCase()}-${PARENT}-01`, 'bad-trace-id'],
    ['non-hex trace id', `00-${TRACE.slice(0, 31)}g-${PARENT}-01`, 'bad-trace-id'],
    ['zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`, 'zero-trace-id'],
    ['uppercase parent id', `00-${TRACE}-${PARENT.toUpperCase()}-01`, 'bad-parent-id'],
    ['zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`, 'zero-parent-id'],
    ['uppercase flags', `00-${TRACE}-${PARENT}-0A`, 'bad-flags'],
    ['short trace id', `00-${TRACE.slice(1)}-${PARENT}-01-`, 'bad-delimiter'],
  ])('refuses %s', (_name, header, reason) => {
    const r = parseTraceparent(header);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.reason).toBe(reason);
  });
});

describe('parseBaggage', () => {
  it.each([
    ['single member', 'session.id=s-1', [{ key: 'session.id', value: 's-1', properties: [] }]],
    [
      'OWS everywhere',
      ' a = 1 ,\tb=2 ',
      [
        { key: 'a', value: '1', properties: [] },
        { key: 'b', value: '2', properties: [] },
      ],
    ],
    ['empty value', 'a=', [{ key: 'a', value: '', properties: [] }]],
    ['= inside a value', 'a=b=c', [{ key: 'a', value: 'b=c', properties: [] }]],
    [
      'percent-encoding',
      'k=hello%20w%C3%B6rld%2C%3B',
      [{ key: 'k', value: 'hello wörld,;', properties: [] }],
    ],
    ['invalid UTF-8 → U+FFFD', 'k=%FF', [{ key: 'k', value: '\uFFFD', properties: [] }]],
    [
      'properties',
      'k=v;p1;p2 = x%20y',
      [{ key: 'k', value: 'v', properties: [{ key: 'p1' }, { key: 'p2', value: 'x y' }] }],
    ],
    [
      'token characters in the key',
      "!#$%&'*+-.^_`|~09Az=1",
      [{ key: "!#$%&'*+-.^_`|~09Az", value: '1', properties: [] }],
    ],
  ])('parses %s', (_name, header, members) => {
    expect(parseBaggage(header)).toEqual({ ok: true, value: members });
  });

  it('combines several header lines and lets the last duplicate win', () => {
    const r = parseBaggage(['session.id=a', 'x=1, session.id=b']);
    expect(r.ok && r.value.length).toBe(3);
    expect(r.ok && baggageValue(r.value, 'session.id')).toBe('b');
  });

  it('applies the limits to the combined value: 8192 bytes and 64 members', () => {
    const atLimit = `k=${'v'.repeat(8190)}`;
    expect(parseBaggage(atLimit).ok).toBe(true);
    expect(parseBaggage(`${atLimit}v`)).toMatchObject({
      ok: false,
      error: { reason: 'too-large' },
    });
    const members = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`);
    expect(parseBaggage(members(64).join(',')).ok).toBe(true);
    expect(parseBaggage(members(65).join(','))).toMatchObject({
      ok: false,
      error: { reason: 'too-many-members' },
    });
    expect(parseBaggage([members(40).join(','), members(30).join(',')])).toMatchObject({
      ok: false,
      error: { reason: 'too-many-members' },
    });
  });

  it.each([
    ['empty header', '', 'empty-member'],
    ['empty member', 'a=1,,b=2', 'empty-member'],
    ['trailing comma', 'a=1,', 'empty-member'],
    ['no equals', 'a', 'missing-equals'],
    ['empty key', '=1', 'bad-key'],
    ['space in key', 'a b=1', 'bad-key'],
    ['separator in key', 'a/b=1', 'bad-key'],
    ['space in value', 'a=b c', 'bad-value'],
    ['quote in value', 'a="b"', 'bad-value'],
    ['backslash in value', 'a=b\\c', 'bad-value'],
    ['non-ASCII in value', 'a=é', 'bad-value'],
    ['lone percent', 'a=50%', 'bad-percent-encoding'],
    ['bad percent hex', 'a=%zz', 'bad-percent-encoding'],
    ['bad property key', 'a=1;p q', 'bad-property'],
    ['bad property value', 'a=1;p=x y', 'bad-property'],
  ])('refuses %s', (_name, header, reason) => {
    expect(parseBaggage(header)).toMatchObject({ ok: false, error: { reason } });
  });
});
