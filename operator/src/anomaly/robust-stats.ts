// Median and median absolute deviation over integer nano-unit samples, in exact bigint
// arithmetic: no float ever touches money, and a sample set's statistics are the same on every
// machine. The median of an even count is the floor of the two middle values' mean, so it stays
// an integer; for the baselines that is an error of under one nano-unit.

/**
 * The k-th smallest (0-based) of `values`, reordering `values` in place. Hoare quickselect with
 * a median-of-three pivot: linear on average, which matters for the session detector's peer sets
 * (up to a million sessions a round), where a sort costs several times more.
 */
export function selectInPlace(values: bigint[], k: number): bigint {
  let lo = 0;
  let hi = values.length - 1;
  const at = (i: number): bigint => values[i] as bigint;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    const a = at(lo);
    const b = at(mid);
    const c = at(hi);
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (at(i) < pivot) i++;
      while (at(j) > pivot) j--;
      if (i <= j) {
        const t = at(i);
        values[i] = at(j);
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return at(k);
  }
  return at(k);
}

/** The median of `values`, reordering them in place; 0 for an empty list. */
export function medianInPlace(values: bigint[]): bigint {
  const n = values.length;
  if (n === 0) return 0n;
  const upper = selectInPlace(values, n >> 1);
  if (n % 2 === 1) return upper;
  // After selecting the upper middle, every value left of it is ≤ it: the lower middle is their max.
  let lower = values[0] as bigint;
  for (let i = 1; i < n >> 1; i++) {
    const v = values[i] as bigint;
    if (v > lower) lower = v;
  }
  return (lower + upper) / 2n;
}

/** The median of `values` (not modified); 0 for an empty list. */
export function median(values: readonly bigint[]): bigint {
  return medianInPlace([...values]);
}

/** The median of |v - center| over `values`. */
export function medianAbsoluteDeviation(values: readonly bigint[], center: bigint): bigint {
  return medianInPlace(values.map((v) => (v >= center ? v - center : center - v)));
}

/**
 * 1.4826 × MAD estimates the standard deviation of normal data (the factor is 1/Φ⁻¹(3/4)); kept
 * as a ratio of integers so the scale stays a bigint.
 */
export function madSigma(mad: bigint): bigint {
  return (mad * 14_826n) / 10_000n;
}
