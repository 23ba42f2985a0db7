export * from './money/index.ts';
export * from './units/index.ts';
export * from './ledger/index.ts';
export { API_GROUP, API_VERSION } from './schema/common.ts';
export type {
  Condition,
  LabelSelector,
  LabelSelectorRequirement,
  Money,
  ObjectMeta,
  Timestamp,
} from './schema/common-types.ts';
export { COST_POLICY_GVK } from './costpolicy/crd.ts';
export { MAX_GUARD_WINDOW_BYTES, MAX_SPEND_HISTORY_BYTES } from './costpolicy/schema.ts';
export { TIME_ZONES } from './costpolicy/time-zones.ts';
export type * from './costpolicy/types.ts';
export { COST_REPORT_GVK } from './costreport/crd.ts';
export type * from './costreport/types.ts';
export * from './pricing/index.ts';
export { ReasonError } from './reason-error.ts';
