// Calls claimed since the last tick, per pod and session, until the tick batcher prices and
// writes them. Bounded: when full, the receiver answers 429 and the exporter retries later
// (nothing of that request is claimed, so the retry counts it), instead of growing without limit.
import type { CallDraft } from './extract.ts';

export const DEFAULT_MAX_PENDING_CALLS = 100_000;

/** The pod a call came from, as its entry names it. */
export interface CallPod {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
}

export interface CallGroup {
  readonly pod: CallPod;
  /** `ns/id`, or `ns/` for the pod's spans without a session. */
  readonly sessionKey: string;
  readonly calls: CallDraft[];
}

export class CallCollector {
  readonly maxPending: number;
  #groups = new Map<string, CallGroup>();
  #pending = 0;

  constructor(options: { maxPending?: number } = {}) {
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING_CALLS;
  }

  get pending(): number {
    return this.#pending;
  }

  get full(): boolean {
    return this.#pending >= this.maxPending;
  }

  add(pod: CallPod, sessionKey: string, call: CallDraft): void {
    const key = `${pod.uid} ${sessionKey}`;
    const group = this.#groups.get(key);
    if (group === undefined) this.#groups.set(key, { pod, sessionKey, calls: [call] });
    else group.calls.push(call);
    this.#pending++;
  }

  /** Everything collected so far, by pod and session; starts again from empty. */
  drain(): CallGroup[] {
    const out = [...this.#groups.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, group]) => group);
    this.#groups = new Map();
    this.#pending = 0;
    return out;
  }
}
