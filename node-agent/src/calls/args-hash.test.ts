import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AttrValue } from '../otlp/types.ts';
import { ARGS_HASH_KEY, ARGUMENTS_KEY, argsHash } from './args-hash.ts';

const attrs = (o: Record<string, AttrValue>) => new Map(Object.entries(o));
const ARGS = '{"query":"weather in Paris"}';
// sha256 of ARGS, computed independently of the module under test.
const ARGS_SHA = createHash('sha256').update(Buffer.from(ARGS, 'utf8')).digest('hex');
const SENT = 'ab'.repeat(32);

describe('argsHash', () => {
  it("takes the app's hash when it is lower-case hex sha256, before the arguments", () => {
    expect(argsHash(attrs({ [ARGS_HASH_KEY]: SENT, [ARGUMENTS_KEY]: ARGS }))).toEqual({
      argsHash: SENT,
      problem: null,
    });
  });

  it('hashes the arguments string with sha256 and returns only the hash', () => {
    const out = argsHash(attrs({ [ARGUMENTS_KEY]: ARGS }));
    expect(out).toEqual({ argsHash: ARGS_SHA, problem: null });
    expect(JSON.stringify(out)).not.toContain('Paris');
    // Multi-byte text is hashed as UTF-8.
    expect(argsHash(attrs({ [ARGUMENTS_KEY]: '{"q":"café"}' })).argsHash).toBe(
      createHash('sha256').update(Buffer.from('{"q":"café"}', 'utf8')).digest('hex'),
    );
    // Empty arguments are still arguments: the same empty call repeated is a loop.
    expect(argsHash(attrs({ [ARGUMENTS_KEY]: '' })).argsHash).toBe(
      createHash('sha256').update('').digest('hex'),
    );
  });

  it('ignores a malformed hash with a reason, falling back to the arguments', () => {
    for (const bad of [SENT.toUpperCase(), 'ab'.repeat(31), `${SENT}0`, 'g'.repeat(64), 7n]) {
      expect(argsHash(attrs({ [ARGS_HASH_KEY]: bad }))).toEqual({
        argsHash: null,
        problem: 'hash_malformed',
      });
      expect(argsHash(attrs({ [ARGS_HASH_KEY]: bad, [ARGUMENTS_KEY]: ARGS }))).toEqual({
        argsHash: ARGS_SHA,
        problem: 'hash_malformed',
      });
    }
  });

  it('ignores structured arguments with a reason, and is null without either attribute', () => {
    expect(argsHash(attrs({ [ARGUMENTS_KEY]: new Map([['q', 'x']]) }))).toEqual({
      argsHash: null,
      problem: 'arguments_not_a_string',
    });
    expect(argsHash(attrs({ [ARGUMENTS_KEY]: ['x'] })).problem).toBe('arguments_not_a_string');
    expect(argsHash(attrs({}))).toEqual({ argsHash: null, problem: null });
  });
});
