/**
 * Splits `total` across keys in proportion to non-negative integer weights, exactly: each key
 * gets floor(total × w / Σw), and the units left over go one each to the largest remainders,
 * ties broken by key (ascending) so the result is deterministic. Σ result = total.
 * All-zero weights (or no keys) return an empty map: the caller decides where that total goes.
 */
export function apportion(
  total: bigint,
  weights: ReadonlyMap<string, bigint>,
): Map<string, bigint> {
  const out = new Map<string, bigint>();
  let sum = 0n;
  for (const [key, w] of weights) {
    if (w < 0n) throw new RangeError(`negative weight for ${key}`);
    sum += w;
  }
  if (sum === 0n) return out;
  const rems: { key: string; rem: bigint }[] = [];
  let given = 0n;
  for (const [key, w] of weights) {
    const share = (total * w) / sum;
    out.set(key, share);
    given += share;
    rems.push({ key, rem: (total * w) % sum });
  }
  rems.sort((a, b) =>
    a.rem === b.rem ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.rem > b.rem ? -1 : 1,
  );
  for (let i = 0; given < total; i++, given++) {
    const { key } = rems[i] as { key: string };
    out.set(key, (out.get(key) as bigint) + 1n);
  }
  return out;
}
