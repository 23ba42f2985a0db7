export { baselineFromCheckpoint, checkpointBody, recoverBaseline } from './counter-state.ts';
export type { Baseline, CgroupCounters } from './counter-state.ts';
export { LedgerRangeError, LedgerStoreError } from './errors.ts';
export type { LedgerStoreErrorReason } from './errors.ts';
export { DEFAULT_RETENTION, DEFAULT_SEGMENT_BYTES, LedgerStore } from './segment-store.ts';
export type {
  CompactionResult,
  LedgerStats,
  LedgerStoreOptions,
  RetentionPolicy,
  TornTailRepair,
} from './segment-store.ts';
