import { describe, expect, it } from 'vitest';
import {
  isValidSessionId,
  parseSessionId,
  parseSessionKeyString,
  SESSION_ANNOTATION,
  SESSION_ANNOTATION_ALIAS,
  sessionFromAnnotations,
  sessionKeyString,
} from './session-id.ts';

describe('session ids', () => {
  it.each(['a', 's-7f3c2a', 'conv_5j66UpCpwteGg4YSxUnt7lPY', 'a.b:c-d_e', 'x'.repeat(128)])(
    'accepts %s',
    (id) => {
      expect(isValidSessionId(id)).toBe(true);
    },
  );

  it.each([
    ['', 'empty'],
    ['x'.repeat(129), 'too-long'],
    ['a b', 'bad-character'],
    ['a/b', 'bad-character'],
    ['é', 'bad-character'],
    ['a\n', 'bad-character'],
  ])('refuses %j', (id, reason) => {
    expect(() => parseSessionId(id)).toThrow(expect.objectContaining({ reason }));
  });

  it('round-trips keys', () => {
    const key = { namespace: 'team-a', id: 's:1' };
    expect(parseSessionKeyString(sessionKeyString(key))).toEqual(key);
    expect(() => parseSessionKeyString('/x')).toThrow();
  });

  it('reads the annotation, preferring agentmeter over the alias', () => {
    expect(sessionFromAnnotations(undefined)).toEqual({ kind: 'none' });
    expect(sessionFromAnnotations({ [SESSION_ANNOTATION_ALIAS]: 'b' })).toMatchObject({
      kind: 'session',
      id: 'b',
    });
    expect(
      sessionFromAnnotations({ [SESSION_ANNOTATION]: 'a', [SESSION_ANNOTATION_ALIAS]: 'b' }),
    ).toMatchObject({ kind: 'session', id: 'a', annotation: SESSION_ANNOTATION });
    expect(sessionFromAnnotations({ [SESSION_ANNOTATION]: 'bad id' })).toMatchObject({
      kind: 'invalid',
    });
  });
});
