// When the agent ticks: once at start, then at every wall-clock multiple of the tick (so the
// entries of all nodes line up in reports), and out of band when a pod goes away. stop() ends
// it with a final tick and writes every tick still held for late spans, so a clean shutdown
// leaves nothing it measured unwritten.

export type TickReason = 'timer' | 'pod-gone' | 'shutdown';

/** What the loop drives: the sampler, which runs its ticks one after another. */
export interface TickTarget {
  tick(reason: TickReason): Promise<void>;
  /** Writes every tick still held for the session watermark. */
  flush(): Promise<void>;
}

export interface TickLoopOptions {
  readonly target: TickTarget;
  readonly tickMs: number;
  /** Runs after each timed tick (the heap cap). */
  readonly afterTick?: () => void;
  /** Wall clock in ms, for the alignment. */
  readonly now?: () => number;
}

export class TickLoop {
  readonly #opts: TickLoopOptions;
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #timer: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: TickLoopOptions) {
    this.#opts = options;
  }

  /** Takes the first tick, then schedules the next on the wall-clock grid. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`tick loop cannot start when ${this.#state}`);
    this.#state = 'running';
    await this.#timed();
  }

  /** An out-of-band tick; none once the loop is stopping, whose final tick covers it. */
  async tickNow(reason: 'pod-gone'): Promise<boolean> {
    if (this.#state !== 'running') return false;
    await this.#opts.target.tick(reason);
    return true;
  }

  /** No more timed or out-of-band ticks; the final tick and every held tick are written. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'stopped';
    clearTimeout(this.#timer);
    if (!wasRunning) return;
    await this.#opts.target.tick('shutdown');
    await this.#opts.target.flush();
  }

  async #timed(): Promise<void> {
    await this.#opts.target.tick('timer');
    if (this.#state !== 'running') return;
    this.#opts.afterTick?.();
    const now = (this.#opts.now ?? Date.now)();
    const delay = this.#opts.tickMs - (now % this.#opts.tickMs);
    this.#timer = setTimeout(() => void this.#timed(), delay);
  }
}
