// Token buckets for bounding work per caller and overall: each key may spend `burst` at once and
// regains `perSecond`. The map of keys is bounded too (least recently used go first), so a flood
// of distinct sources cannot grow it.

export interface BucketRate {
  readonly perSecond: number;
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateBuckets {
  readonly #rate: BucketRate;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(rate: BucketRate, options: { maxKeys?: number; now?: () => number } = {}) {
    if (!(rate.perSecond > 0) || !(rate.burst >= 1)) {
      throw new RangeError(
        `a bucket needs perSecond > 0 and burst >= 1, got ${JSON.stringify(rate)}`,
      );
    }
    this.#rate = rate;
    this.#maxKeys = options.maxKeys ?? 4096;
    this.#now = options.now ?? Date.now;
  }

  #bucket(key: string): Bucket {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#rate.burst, at: now };
    } else {
      this.#buckets.delete(key);
      const refill = ((now - bucket.at) / 1000) * this.#rate.perSecond;
      bucket.tokens = Math.min(this.#rate.burst, bucket.tokens + refill);
      bucket.at = now;
    }
    this.#buckets.set(key, bucket);
    while (this.#buckets.size > this.#maxKeys) {
      this.#buckets.delete(this.#buckets.keys().next().value as string);
    }
    return bucket;
  }

  /** Seconds until `key` may spend one, 0 when it may now. Does not spend. */
  wait(key: string): number {
    const bucket = this.#bucket(key);
    return bucket.tokens >= 1 ? 0 : (1 - bucket.tokens) / this.#rate.perSecond;
  }

  spend(key: string): void {
    this.#bucket(key).tokens -= 1;
  }
}
