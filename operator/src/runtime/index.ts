export { systemClock, sleep, type Clock, type Timer } from './clock.ts';
export { FakeClock, flushMicrotasks } from './fake-clock.ts';
export {
  BucketRateLimiter,
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
  type RateLimiter,
} from './rate-limiter.ts';
export { WorkQueue, type WorkQueueOptions } from './workqueue.ts';
export {
  Controller,
  TerminalError,
  enqueueInformerEvents,
  type ControllerOptions,
  type ReconcileResult,
  type Reconciler,
} from './controller.ts';
export {
  JITTER_FACTOR,
  LeaderElectionConfigError,
  LeaderElector,
  type LeaderCallbacks,
  type LeaderElectorOptions,
  type LeaseApi,
} from './leader-election.ts';
export {
  EventRecorder,
  NOTE_MAX_BYTES,
  REPORTING_CONTROLLER,
  truncateNote,
  type EventInput,
  type EventRecorderOptions,
  type EventsApi,
  type ObjectRef,
} from './events.ts';
export {
  FIELD_MANAGER,
  mergePatchOptions,
  serverSideApplyOptions,
  serverSideApplyParams,
} from './patch.ts';
export {
  findCondition,
  setCondition,
  type Condition,
  type ConditionStatus,
  type ConditionUpdate,
} from './conditions.ts';
