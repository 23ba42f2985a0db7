// The compact text form of operator-private status fields: "v1." + base64(gzip(JSON)), with
// amounts as base-36 strings (shorter than decimal, still exact BigInt) and repeated keys stored
// once in a dictionary. Shared by the accumulator state, the guard window and the spend history.
import { gunzipSync, gzipSync } from 'node:zlib';

export const PACKED_PREFIX = 'v1.';

type DecodeError = new (message: string, options?: ErrorOptions) => Error;

export function pack(wire: unknown): string {
  return PACKED_PREFIX + gzipSync(JSON.stringify(wire), { level: 9 }).toString('base64');
}

/** The JSON inside `text`; `what` names the field in errors, thrown as `Err`. */
export function unpack(text: string, what: string, Err: DecodeError): unknown {
  if (!text.startsWith(PACKED_PREFIX)) {
    throw new Err(`unknown ${what} version ${JSON.stringify(text.slice(0, 8))}`);
  }
  try {
    return JSON.parse(
      gunzipSync(Buffer.from(text.slice(PACKED_PREFIX.length), 'base64')).toString('utf8'),
    );
  } catch (err) {
    throw new Err(`${what} is corrupt: ${(err as Error).message}`, { cause: err });
  }
}

export const b36 = (n: bigint): string => n.toString(36);

export function fromB36(s: string, Err: DecodeError): bigint {
  if (typeof s !== 'string' || !/^[0-9a-z]+$/.test(s)) {
    throw new Err(`bad amount ${JSON.stringify(s)}`);
  }
  let n = 0n;
  for (const ch of s) n = n * 36n + BigInt(parseInt(ch, 36));
  return n;
}

/** Numbers keys in first-use order; `words` is the dictionary to store. */
export class Dictionary {
  readonly #ids = new Map<string, number>();

  id(word: string): number {
    let i = this.#ids.get(word);
    if (i === undefined) {
      i = this.#ids.size;
      this.#ids.set(word, i);
    }
    return i;
  }

  get words(): string[] {
    return [...this.#ids.keys()];
  }
}

/** Looks words up in a stored dictionary, refusing an index it does not hold. */
export function wordsOf(words: unknown, Err: DecodeError): (i: number) => string {
  if (!Array.isArray(words)) throw new Err('dictionary missing');
  return (i) => {
    const s: unknown = words[i];
    if (typeof s !== 'string') throw new Err(`dictionary index ${i} out of range`);
    return s;
  };
}

/**
 * `encode(items)` when it fits in `maxBytes`, else the encoding of the longest prefix of `items`
 * (most important first) that does: a bounded field keeps what matters most.
 */
export function packWithin<T>(
  items: readonly T[],
  encode: (items: readonly T[]) => string,
  maxBytes: number,
): { text: string; kept: number } {
  const all = encode(items);
  if (all.length <= maxBytes) return { text: all, kept: items.length };
  // Compressed size grows with the prefix, so a binary search finds the longest that fits.
  let lo = 0;
  let hi = items.length - 1;
  let text = encode([]);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const t = encode(items.slice(0, mid));
    if (t.length <= maxBytes) {
      lo = mid;
      text = t;
    } else hi = mid - 1;
  }
  return { text, kept: lo };
}
