import { describe, expect, it } from 'vitest';
import { ApportionError } from './pricing/errors.ts';
import { ReasonError } from './reason-error.ts';

describe('ReasonError', () => {
  it('carries its reason and says topic: reason: detail under the subclass name', () => {
    const err = new ApportionError('zero-weights', 'all 3 weights are 0');
    expect(err).toBeInstanceOf(ReasonError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ApportionError');
    expect(err.reason).toBe('zero-weights');
    expect(err.message).toBe('apportion: zero-weights: all 3 weights are 0');
  });
});
