export { systemClock, type Clock, type Timer } from './clock.ts';
export { WorkQueue, type WorkQueueOptions } from './workqueue.ts';
export {
  Controller,
  enqueueOnSpecChange,
  type ControllerOptions,
  type ReconcileResult,
  type Reconciler,
} from './controller.ts';
export {
  LeaderElector,
  type LeaderCallbacks,
  type LeaderElectorOptions,
} from './leader-election.ts';
export { EventRecorder, type EventInput, type ObjectRef } from './events.ts';
export { mergePatchOptions } from './patch.ts';
export {
  setCondition,
  type Condition,
  type ConditionStatus,
  type ConditionUpdate,
} from './conditions.ts';
