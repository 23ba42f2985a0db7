import type { CallRecord, LedgerEntry } from './types.ts';

/**
 * Exactly once, the one rule both the agent and the operator's model fold: a call is known by
 * its span (trace id, span id) and, when it has one, by its gen_ai.tool.call.id, both within the
 * pod's namespace (so one tenant cannot suppress another's calls with copied ids). A call any of
 * whose keys was seen is a duplicate; otherwise all its keys are marked. The writer marks only
 * what it writes, and after a restart the seen keys are rebuilt from the ledger's calls entries.
 * Where the keys live is the caller's: a Set here, the agent's windowed fingerprint set there.
 */
export interface CallIdentity {
  readonly namespace: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly callId: string | null;
}

/** The keys a call is known by: its span's first, then its tool call id's. */
export function callKeys(call: CallIdentity): string[] {
  const span = `s\n${call.namespace}\n${call.traceId}${call.spanId}`;
  return call.callId === null ? [span] : [span, `c\n${call.namespace}\n${call.callId}`];
}

/** The identity of a call recorded in a calls entry of `namespace`. */
export function recordIdentity(
  namespace: string,
  call: Pick<CallRecord, 'traceId' | 'spanId' | 'tool'>,
): CallIdentity {
  return {
    namespace,
    traceId: call.traceId,
    spanId: call.spanId,
    callId: call.tool?.callId ?? null,
  };
}

/** Where seen keys are kept, as the keys or as fingerprints of them (K). */
export interface SeenCallKeys<K = string> {
  has(key: K): boolean;
}

/** Whether a call with these keys was counted already. */
export function isDuplicateCall<K>(seen: SeenCallKeys<K>, keys: readonly K[]): boolean {
  return keys.some((key) => seen.has(key));
}

export interface CallsToWrite {
  /** The calls to write, in arrival order: none seen before, none twice. */
  readonly write: CallRecord[];
  /** The keys to mark seen once `write` is durable. */
  readonly mark: string[];
}

/** Of calls arriving together (one tick of one pod), those not seen before, each once. */
export function callsToWrite(
  seen: SeenCallKeys,
  namespace: string,
  calls: readonly CallRecord[],
): CallsToWrite {
  const batch = new Set<string>();
  const either: SeenCallKeys = { has: (key) => seen.has(key) || batch.has(key) };
  const write: CallRecord[] = [];
  for (const call of calls) {
    const keys = callKeys(recordIdentity(namespace, call));
    if (isDuplicateCall(either, keys)) continue;
    for (const key of keys) batch.add(key);
    write.push(call);
  }
  return { write, mark: [...batch] };
}

/** The identities of every call in the ledger's calls entries, each with its end (unix ns). */
export function* ledgerCalls(
  entries: Iterable<LedgerEntry>,
): Generator<CallIdentity & { readonly endNs: bigint }> {
  for (const entry of entries) {
    if (entry.kind !== 'calls') continue;
    for (const call of entry.calls) {
      yield { ...recordIdentity(entry.pod.namespace, call), endNs: BigInt(call.end) };
    }
  }
}

/** The seen keys a writer restarts with: every key of every calls entry in the ledger. */
export function seenFromLedger(entries: Iterable<LedgerEntry>): Set<string> {
  const seen = new Set<string>();
  for (const call of ledgerCalls(entries)) for (const key of callKeys(call)) seen.add(key);
  return seen;
}
