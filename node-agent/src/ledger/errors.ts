/** Why the store refused to open or to act; stable so the agent and tests can match on it. */
export type LedgerStoreErrorReason = 'corrupt' | 'closed' | 'failed' | 'invalid-argument' | 'io';

export class LedgerStoreError extends Error {
  override readonly name = 'LedgerStoreError';
  readonly reason: LedgerStoreErrorReason;
  /** File the problem is in, when there is one. */
  readonly file: string | undefined;
  /** Seq of the offending entry, when known. */
  readonly seq: bigint | undefined;

  constructor(
    reason: LedgerStoreErrorReason,
    message: string,
    context: { file?: string; seq?: bigint; cause?: unknown } = {},
  ) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.reason = reason;
    this.file = context.file;
    this.seq = context.seq;
  }
}

/**
 * A read asked for entries the store no longer has (compacted away) or never had (after the
 * head, e.g. a cursor from a ledger that was wiped). The operator records a gap or resets.
 */
export class LedgerRangeError extends RangeError {
  override readonly name = 'LedgerRangeError';
  readonly reason: 'compacted' | 'beyond-head';
  readonly after: bigint;
  /** Lowest seq still readable. */
  readonly firstAvailable: bigint;
  readonly head: bigint;

  constructor(
    reason: 'compacted' | 'beyond-head',
    after: bigint,
    firstAvailable: bigint,
    head: bigint,
  ) {
    super(
      reason === 'compacted'
        ? `entries after ${after.toString()} were compacted; first available is ${firstAvailable.toString()}`
        : `seq ${after.toString()} is beyond the ledger head ${head.toString()}`,
    );
    this.reason = reason;
    this.after = after;
    this.firstAvailable = firstAvailable;
    this.head = head;
  }
}
