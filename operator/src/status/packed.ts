// The compact text form of operator-private status fields: "v1." + base64(gzip(JSON)), with
// amounts as base-36 strings (shorter than decimal, still exact BigInt) and repeated keys stored
// once in a dictionary. Shared by the accumulator state, the guard window and the spend history.
import { gunzipSync, gzipSync } from 'node:zlib';

export const PACKED_PREFIX = 'v1.';

type DecodeError = new (message: string, options?: ErrorOptions) => Error;

/** `level` 9 for fields written rarely or read by size limits; 1 for fields re-encoded on every
 * write (several times faster, about a fifth larger). */
export function pack(wire: unknown, level = 9): string {
  return PACKED_PREFIX + gzipSync(JSON.stringify(wire), { level }).toString('base64');
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

/** Encodings tried at most when a field is over its bound: each compresses the whole field. */
const MAX_TRIES = 8;

/**
 * `encode(items)` when it fits in `maxBytes`, else the encoding of a prefix of `items` (most
 * important first) that does, within a few tries of the longest: a bounded field keeps what
 * matters most.
 */
export function packWithin<T>(
  items: readonly T[],
  encode: (items: readonly T[]) => string,
  maxBytes: number,
): { text: string; kept: number } {
  const all = encode(items);
  if (all.length <= maxBytes) return { text: all, kept: items.length };
  // The first guess assumes bytes in proportion to items; then halving between what fits and
  // what does not.
  let fits = { text: '', kept: -1 };
  let over = items.length;
  let guess = Math.min(over - 1, Math.floor((over * maxBytes * 0.95) / all.length));
  for (let i = 0; i < MAX_TRIES && over - fits.kept > 1; i++) {
    const text = encode(items.slice(0, guess));
    if (text.length <= maxBytes) fits = { text, kept: guess };
    else over = guess;
    guess = Math.ceil((Math.max(fits.kept, 0) + over) / 2);
    if (guess >= over) guess = over - 1;
  }
  return fits.kept >= 0 ? fits : { text: encode([]), kept: 0 };
}
