/**
 * An error whose `reason` is one of a closed set of strings (usable as a metric or log label),
 * with the message `topic: reason: detail`.
 */
export abstract class ReasonError<R extends string> extends Error {
  readonly reason: R;

  constructor(topic: string, reason: R, detail: string) {
    super(`${topic}: ${reason}: ${detail}`);
    this.reason = reason;
  }
}
