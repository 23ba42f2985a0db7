import { ApportionError } from './errors.ts';

export interface ApportionWeight {
  readonly key: string;
  readonly numerator: bigint;
}

/**
 * Splits `total` whole units in the proportions numerator / denominator, where the numerators
 * partition the denominator exactly. Each key gets the floor of its exact quota; the units
 * left over go one each to the largest remainders, ties to the key that sorts first (code-unit
 * order). Exact, non-negative, and independent of the order of `weights`.
 */
export function apportion(
  total: bigint,
  weights: readonly ApportionWeight[],
  denominator: bigint,
): Map<string, bigint> {
  if (total < 0n) throw new ApportionError('negative-total', total.toString());
  let sum = 0n;
  const out = new Map<string, bigint>();
  for (const { key, numerator } of weights) {
    if (numerator < 0n) throw new ApportionError('negative-weight', `${key}: ${numerator}`);
    if (out.has(key)) throw new ApportionError('duplicate-key', key);
    out.set(key, 0n);
    sum += numerator;
  }
  if (sum !== denominator) {
    throw new ApportionError('weights-not-whole', `numerators sum to ${sum}, not ${denominator}`);
  }
  if (denominator === 0n) {
    if (total !== 0n) throw new ApportionError('zero-weights', `cannot apportion ${total}`);
    return out;
  }

  const remainders: { key: string; remainder: bigint }[] = [];
  let left = total;
  for (const { key, numerator } of weights) {
    const product = total * numerator;
    const quota = product / denominator;
    out.set(key, quota);
    left -= quota;
    remainders.push({ key, remainder: product % denominator });
  }
  remainders.sort((a, b) => compare(b.remainder, a.remainder) || compare(a.key, b.key));
  // Fewer units are left than keys: the floors lose less than one unit each.
  for (const { key } of remainders) {
    if (left === 0n) break;
    out.set(key, (out.get(key) as bigint) + 1n);
    left -= 1n;
  }
  return out;
}

function compare<T extends bigint | string>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
