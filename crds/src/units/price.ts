import { ArithmeticRangeError, nonNegative } from '../money/errors.ts';
import { mulDivRoundHalfEven } from '../money/half-even.ts';

/**
 * Cost in nano-currency of `quantity` usage units at `rateNanoPerUnit` nano-currency per rate
 * unit, where one rate unit is `quantityPerUnit` usage units (e.g. CPU_NANOSECONDS_PER_CORE_HOUR).
 * Rounded half-even to whole nano-units — the only rounding before display.
 */
export function priceNano(
  quantity: bigint,
  rateNanoPerUnit: bigint,
  quantityPerUnit: bigint,
): bigint {
  nonNegative('quantity', quantity);
  nonNegative('rateNanoPerUnit', rateNanoPerUnit);
  if (quantityPerUnit <= 0n)
    throw new ArithmeticRangeError('quantityPerUnit', quantityPerUnit, 'positive');
  return mulDivRoundHalfEven(quantity, rateNanoPerUnit, quantityPerUnit);
}
