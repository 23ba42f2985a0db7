import type { CallRecord, LedgerEntry } from './types.ts';

/**
 * Exactly once, as a pure model: a call is known by its span (trace id, span id) and, when it
 * has one, by its gen_ai.tool.call.id, both within the pod's namespace (so one tenant cannot
 * suppress another's calls with copied ids). The writer checks new calls against the keys seen,
 * writes the ones left, and only then marks their keys; after a restart the seen keys are
 * rebuilt from the ledger's calls entries. The agent's CallDedupe keeps the same keys in a
 * bounded time window; this model has no window and is what the property tests fold.
 */
export function callKeys(
  namespace: string,
  call: Pick<CallRecord, 'traceId' | 'spanId' | 'tool'>,
): string[] {
  const span = `s\n${namespace}\n${call.traceId}${call.spanId}`;
  const callId = call.tool?.callId ?? null;
  return callId === null ? [span] : [span, `c\n${namespace}\n${callId}`];
}

export interface CallsToWrite {
  /** The calls to write, in arrival order: none seen before, none twice. */
  readonly write: CallRecord[];
  /** The keys to mark seen once `write` is durable. */
  readonly mark: string[];
}

/** Of calls arriving together (one tick of one pod), those not seen before, each once. */
export function callsToWrite(
  seen: ReadonlySet<string>,
  namespace: string,
  calls: readonly CallRecord[],
): CallsToWrite {
  const batch = new Set<string>();
  const write: CallRecord[] = [];
  for (const call of calls) {
    const keys = callKeys(namespace, call);
    if (keys.some((key) => seen.has(key) || batch.has(key))) continue;
    for (const key of keys) batch.add(key);
    write.push(call);
  }
  return { write, mark: [...batch] };
}

/** The seen keys a writer restarts with: every key of every calls entry in the ledger. */
export function seenFromLedger(entries: Iterable<LedgerEntry>): Set<string> {
  const seen = new Set<string>();
  for (const entry of entries) {
    if (entry.kind !== 'calls') continue;
    for (const call of entry.calls) {
      for (const key of callKeys(entry.pod.namespace, call)) seen.add(key);
    }
  }
  return seen;
}
