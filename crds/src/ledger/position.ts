// Ledger sequence numbers are bigint in code and a decimal string at every edge: entry lines,
// JSON bodies, query parameters such as `/v1/ledger?after=SEQ`, CostPolicy status and
// CostReports, and the agent's own files. Every edge reads them with parseSeq.
import type { LedgerPosition, WireLedgerPosition } from './types.ts';

/** Canonical decimal text of a sequence number: no sign, no leading zeros, at most 20 digits. */
export const SEQ_PATTERN = '^(0|[1-9][0-9]{0,19})$';
const SEQ = new RegExp(SEQ_PATTERN);
const U64_MAX = 2n ** 64n - 1n;

/** The sequence number `text` spells, or undefined when it is not one (in 0..2^64-1). */
export function parseSeq(text: unknown): bigint | undefined {
  if (typeof text !== 'string' || !SEQ.test(text)) return undefined;
  const seq = BigInt(text);
  return seq <= U64_MAX ? seq : undefined;
}

export function positionToWire(position: LedgerPosition): WireLedgerPosition {
  return { node: position.node, seq: position.seq.toString(), hash: position.hash };
}
