import { preview } from '../money/errors.ts';

export type CounterParseReason =
  'empty' | 'not-a-decimal-integer' | 'leading-zero' | 'out-of-range';

export class CounterParseError extends Error {
  override readonly name = 'CounterParseError';
  readonly input: string;
  readonly reason: CounterParseReason;

  constructor(input: string, reason: CounterParseReason, detail: string) {
    super(`invalid counter ${preview(input)}: ${detail}`);
    this.input = input;
    this.reason = reason;
  }
}
