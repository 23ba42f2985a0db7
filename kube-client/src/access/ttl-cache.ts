// A bounded answer cache: entries expire after `ttlMs`, and past `size` the least recently
// stored goes first.

export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();
  readonly #size: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { size: number; ttlMs: number; now?: () => number }) {
    this.#size = options.size;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  get(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    if (hit.until > this.#now()) return hit.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, until: this.#now() + this.#ttlMs });
    while (this.#entries.size > this.#size) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
