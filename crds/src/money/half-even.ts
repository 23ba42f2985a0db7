import { ArithmeticRangeError } from './errors.ts';

/** a / c rounded to the nearest integer, ties to even; c > 0, a of either sign. */
export function divRoundHalfEven(a: bigint, c: bigint): bigint {
  if (c <= 0n) throw new ArithmeticRangeError('divisor', c, 'positive');
  // Half-even is symmetric about zero, so round the magnitude and restore the sign.
  const magnitude = a < 0n ? -a : a;
  let quotient = magnitude / c;
  const twiceRemainder = (magnitude % c) * 2n;
  if (twiceRemainder > c || (twiceRemainder === c && quotient % 2n === 1n)) quotient += 1n;
  return a < 0n ? -quotient : quotient;
}

/** a × b / c rounded half-even, with the product kept exact (no intermediate rounding). */
export function mulDivRoundHalfEven(a: bigint, b: bigint, c: bigint): bigint {
  return divRoundHalfEven(a * b, c);
}
