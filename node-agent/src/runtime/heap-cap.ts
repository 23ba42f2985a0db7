// Caps how far the V8 heap grows above what the last full collection left live. V8 lets the old
// generation grow by at least 8 MiB before it collects (its minimum allocation-limit step, 2 MiB
// only in memory-saver mode or under memory pressure), and keeps the pages it grew into. For the agent, whose live
// heap is ~10 MiB, that step is most of its RSS above the Node binary. Collecting between ticks
// once the heap is `capBytes` above the live size keeps the step smaller, and does so where a
// collection delays no tick and finds the tick's data already garbage.
// --memory-saver-mode lowers the step to 2 MiB, but also flushes bytecode on every collection:
// measured +0.1% of a core at the 10 s tick and +0.4% at 1 s (test/bench/agent-overhead.ts).

export interface HeapCapOptions {
  /** Growth above the live heap that triggers a collection; 0 turns the cap off. */
  readonly capBytes: number;
  /** A full, synchronous collection: `globalThis.gc` under `node --expose-gc`. */
  readonly gc: (() => void) | undefined;
  /** V8's used heap size now. */
  readonly heapUsed: () => number;
}

export type HeapCapState =
  | { readonly active: true }
  | { readonly active: false; readonly reason: 'cap-is-zero' | 'gc-not-exposed' };

export class HeapCap {
  readonly #cap: number;
  readonly #gc: (() => void) | undefined;
  readonly #heapUsed: () => number;
  /** The smallest used size seen since the last collection this cap ran: V8's own collections
   * lower it too. */
  #live: number | undefined;

  constructor(options: HeapCapOptions) {
    this.#cap = options.capBytes;
    this.#gc = options.capBytes > 0 ? options.gc : undefined;
    this.#heapUsed = options.heapUsed;
  }

  get state(): HeapCapState {
    if (this.#cap <= 0) return { active: false, reason: 'cap-is-zero' };
    return this.#gc === undefined ? { active: false, reason: 'gc-not-exposed' } : { active: true };
  }

  /** Between ticks: collects when the heap has grown past the cap; returns whether it did. */
  check(): boolean {
    if (this.#gc === undefined) return false;
    const used = this.#heapUsed();
    if (this.#live === undefined || used < this.#live) {
      this.#live = used;
      return false;
    }
    if (used - this.#live <= this.#cap) return false;
    this.#gc();
    this.#live = this.#heapUsed();
    return true;
  }
}
