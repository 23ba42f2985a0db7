// The state an operator carries from round to round beside the accumulators (the guard window
// and the hourly spend book), kept in step with the policy's status: each write stores them next
// to the cursors, and an operator whose memory is not what the status holds (a restart, a
// failover, another leader's write) takes the status's copy first. So a new leader judges the
// same guard window and forecasts from the same weeks, and no entry is in either twice.
import type { Logger } from 'pino';
import type { CostPolicy } from '@agentmeter/crds';
import type { HourlyBook } from '../anomaly/hourly-book.ts';
import { decodeHistory, encodeHistory } from '../anomaly/history-state.ts';
import { lookbackMs, type CompiledGuard } from '../guards/compile.ts';
import type { ActivityWindow } from '../guards/window.ts';
import { decodeWindow, encodeWindow } from '../guards/window-state.ts';

/** The policy's window and book as its status stores them; what cannot be read is logged and
 * started empty (a guard or forecast weakened, never a count changed). */
export function adoptStored(
  logger: Logger,
  policy: CostPolicy,
  window: ActivityWindow,
  book: HourlyBook,
  nowMs: number,
): void {
  const name = policy.metadata.name ?? '';
  const history = policy.status?.spendHistory;
  if (book.stored(name) !== history) {
    try {
      if (history === undefined) book.forget(name);
      else book.restore(name, decodeHistory(history), nowMs);
    } catch (err) {
      logger.warn({ policy: name, err: (err as Error).message }, 'spend history not restored');
      book.forget(name);
    }
    book.markStored(name, history);
  }
  const held = policy.status?.guards?.window;
  if (window.stored === held) return;
  try {
    window.restore(decodeWindow(held), held);
  } catch (err) {
    logger.warn({ policy: name, err: (err as Error).message }, 'guard window not restored');
    window.restore([], held);
  }
}

/** status.guards.window for a status written after the round's commits (their activity is in
 * `window` already): unchanged when they counted nothing, empty without guards. */
export function windowToStore(
  guards: readonly CompiledGuard[],
  window: ActivityWindow,
  counted: boolean,
  nowMs: number,
): string {
  if (guards.length === 0) return '';
  if (!counted && window.stored !== undefined) return window.stored;
  return encodeWindow(window.after([], nowMs - 2 * lookbackMs(guards))).text;
}

/** status.spendHistory for a status written after the round's commits (their spend is in `book`
 * already): unchanged when they counted nothing. */
export function historyToStore(
  name: string,
  book: HourlyBook,
  counted: boolean,
  nowMs: number,
): string | undefined {
  if (!counted) return book.stored(name);
  return encodeHistory(book.view(name, new Map(), nowMs)).text;
}
