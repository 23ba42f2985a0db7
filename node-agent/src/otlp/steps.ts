// Work split into steps of a few milliseconds, so the receiver's turns (turns.ts) can stop
// between two of them: the decoders and the span sink hand out their work this way.

/** Spans a decoder or the sink handles in one step: a few milliseconds of CPU. */
export const STEP_SPANS = 200;

/** Work done in steps: each `next()` does a bounded part, the last one returns the result. */
export type Steps<T> = Generator<void, T, void>;

/** Runs every step at once, for callers that need no turns (tests, small inputs). */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}
