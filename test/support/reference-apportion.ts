// An apportionment written for the tests, apart from the agent's, so an end-to-end test checks
// the agent's split against an independent computation rather than against itself.

/** Largest remainder: floors, then one unit each to the largest remainders, ties to the smaller key. */
export function largestRemainder(
  total: bigint,
  weights: ReadonlyMap<string, bigint>,
): Map<string, bigint> {
  let sum = 0n;
  for (const w of weights.values()) sum += w;
  const out = new Map<string, bigint>();
  if (sum === 0n) {
    for (const key of weights.keys()) out.set(key, 0n);
    return out;
  }
  const rems: { key: string; rem: bigint }[] = [];
  let left = total;
  for (const [key, w] of weights) {
    out.set(key, (total * w) / sum);
    left -= (total * w) / sum;
    rems.push({ key, rem: (total * w) % sum });
  }
  rems.sort((a, b) =>
    a.rem !== b.rem ? (a.rem > b.rem ? -1 : 1) : a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
  );
  for (const { key } of rems) {
    if (left === 0n) break;
    out.set(key, (out.get(key) as bigint) + 1n);
    left--;
  }
  return out;
}

/** Half-even division, written apart from the agent's, for the same reason. */
export function roundHalfEven(a: bigint, c: bigint): bigint {
  const q = a / c;
  const twice = (a % c) * 2n;
  return twice > c || (twice === c && q % 2n === 1n) ? q + 1n : q;
}
