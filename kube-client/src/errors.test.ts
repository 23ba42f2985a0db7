import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  KubeApiError,
  isConflict,
  isGone,
  isNotFound,
  parseStatus,
  toKubeApiError,
} from './errors.ts';

const notFoundBody = JSON.stringify({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  message: 'costpolicies.agentmeter.dev "x" not found',
  reason: 'NotFound',
  details: { name: 'x', group: 'agentmeter.dev', kind: 'costpolicies' },
  code: 404,
});

describe('toKubeApiError', () => {
  it('parses the JSON string body of an ApiException', () => {
    const e = toKubeApiError(
      new ApiException(404, 'Unknown API Status Code!', notFoundBody, {}),
      'get policy',
    );
    expect(e).toBeInstanceOf(KubeApiError);
    expect(e?.code).toBe(404);
    expect(e?.reason).toBe('NotFound');
    expect(e?.details).toMatchObject({ name: 'x' });
    expect(e?.message).toBe('get policy: 404 NotFound: costpolicies.agentmeter.dev "x" not found');
  });

  it('accepts an object body and a non-JSON body', () => {
    expect(
      toKubeApiError(new ApiException(409, 'x', { reason: 'Conflict', message: 'm' }, {}))?.reason,
    ).toBe('Conflict');
    const proxy = toKubeApiError(new ApiException(502, 'x', '<html>bad gateway</html>', {}));
    expect(proxy?.reason).toBeUndefined();
    expect(proxy?.message).toContain('<html>bad gateway</html>');
  });

  it('maps a watch error with statusCode and ignores network errors', () => {
    const watchErr = Object.assign(new Error('Gone'), { statusCode: 410 });
    expect(toKubeApiError(watchErr)?.code).toBe(410);
    expect(toKubeApiError(new TypeError('fetch failed'))).toBeUndefined();
    expect(toKubeApiError('nope')).toBeUndefined();
  });
});

describe('predicates', () => {
  it('classify by code and reason', () => {
    const e = (code: number, body: unknown = '') => new ApiException(code, 'x', body, {});
    expect(isNotFound(e(404, notFoundBody))).toBe(true);
    expect(isNotFound(e(409))).toBe(false);
    expect(isConflict(e(409))).toBe(true);
    expect(isGone(e(410))).toBe(true);
    // A LIST with an expired continue token.
    expect(isGone(new KubeApiError(410, { reason: 'Expired' }, 'list'))).toBe(true);
    expect(isGone(new Error('Gone'))).toBe(false);
    expect(isNotFound(undefined)).toBe(false);
  });

  it('parseStatus drops fields of the wrong type', () => {
    expect(parseStatus({ code: '404', reason: 7, message: 'm' })).toEqual({ message: 'm' });
    expect(parseStatus(null)).toEqual({});
  });
});
