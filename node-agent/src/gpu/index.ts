export type {
  ActiveSource,
  AttributeInput,
  GpuAllocation,
  GpuDeviceTick,
  GpuPodTick,
  GpuProcessSample,
  GpuSharing,
  GpuTickResult,
  GpuUnattributedTick,
} from './attribute.ts';
export { attributeGpuTick } from './attribute.ts';
export type {
  DcgmSourceOptions,
  GpuCollectResult,
  GpuCollectorOptions,
  GpuLogLine,
} from './collector.ts';
export { DEFAULT_SAMPLE_INTERVAL_MS, GpuCollector } from './collector.ts';
export type { GpuError, GpuErrorReason, GpuErrorSource } from './errors.ts';
export { GpuParseError } from './errors.ts';
export type { PodNames } from './metrics.ts';
export { GpuMetrics } from './metrics.ts';
export type { NvidiaSmiExecOptions } from './nvidia-smi-exec.ts';
export type { LookupPod, PodRef, PodResourcesClientOptions } from './pod-resources.ts';
export { DEFAULT_POD_RESOURCES_SOCKET } from './pod-resources.ts';
export type { GpuModelUsage, PodGpuUsage } from './usage.ts';
export { podGpuUsage } from './usage.ts';
