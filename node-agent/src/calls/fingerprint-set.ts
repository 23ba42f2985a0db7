// A set of 64-bit fingerprints in one typed array (open addressing, linear probing): about
// 11 bytes a key at its load, where a Set of strings costs ~60. Memory only: the dedupe set holds
// every call of its window (see PERFORMANCE.md). Fingerprint 0 is "empty"; callers never use it.

const MAX_LOAD = 0.7;
const MIN_SLOTS = 256;

export class FingerprintSet {
  /** Pairs (hi, lo); a slot is empty when both are 0. */
  #slots: Uint32Array;
  #size = 0;

  constructor(slots = MIN_SLOTS) {
    this.#slots = new Uint32Array(2 * slots);
  }

  get size(): number {
    return this.#size;
  }

  get bytes(): number {
    return this.#slots.byteLength;
  }

  has(hi: number, lo: number): boolean {
    const slots = this.#slots;
    const mask = (slots.length >>> 1) - 1;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const h = slots[2 * i] as number;
      const l = slots[2 * i + 1] as number;
      if (h === 0 && l === 0) return false;
      if (h === hi && l === lo) return true;
    }
  }

  /** Adds the fingerprint; false when it was already present. */
  add(hi: number, lo: number): boolean {
    if ((this.#size + 1) / (this.#slots.length >>> 1) > MAX_LOAD) this.#grow();
    const added = insert(this.#slots, hi, lo);
    if (added) this.#size++;
    return added;
  }

  #grow(): void {
    const old = this.#slots;
    const next = new Uint32Array(old.length * 2);
    for (let i = 0; i < old.length; i += 2) {
      const h = old[i] as number;
      const l = old[i + 1] as number;
      if (h !== 0 || l !== 0) insert(next, h, l);
    }
    this.#slots = next;
  }
}

function insert(slots: Uint32Array, hi: number, lo: number): boolean {
  const mask = (slots.length >>> 1) - 1;
  for (let i = lo & mask; ; i = (i + 1) & mask) {
    const h = slots[2 * i] as number;
    const l = slots[2 * i + 1] as number;
    if (h === 0 && l === 0) {
      slots[2 * i] = hi;
      slots[2 * i + 1] = lo;
      return true;
    }
    if (h === hi && l === lo) return false;
  }
}
