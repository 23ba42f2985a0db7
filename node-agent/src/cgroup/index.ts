export type { BlockDevicesOptions, DeviceKind } from './devices.ts';
export { BlockDevices } from './devices.ts';
export type { CgroupReadErrorCode, CgroupResource } from './errors.ts';
export { CgroupLayoutError, CgroupParseError, CgroupReadError } from './errors.ts';
export type {
  CgroupDriver,
  ContainerRuntime,
  DiscoverOptions,
  Discovery,
  Hierarchy,
  PodCgroup,
  PodContainerCgroup,
  PodLister,
  PodListerOptions,
  QosClass,
} from './kubepods.ts';
export {
  createPodLister,
  discoverPods,
  findKubepodsRoots,
  isKubepodsRootName,
  listPods,
} from './kubepods.ts';
export type { HostNetNs } from './host-netns.ts';
export { readHostNetNs } from './host-netns.ts';
export type { CgroupLayout, DetectLayoutOptions, V1Controller } from './layout.ts';
export { detectLayout } from './layout.ts';
export type { NodeCounters, NodeTotalsOptions } from './node-totals.ts';
export { readNodeTotals } from './node-totals.ts';
export type { CgroupPodRef, PidResolution, ProcCgroupLine, ProcRuntime } from './proc-cgroup.ts';
export { parseProcCgroup, podFromCgroupPath, readStarttime, resolvePid } from './proc-cgroup.ts';
export type { PseudoFileCacheOptions } from './pseudo-file-cache.ts';
export { PseudoFileCache } from './pseudo-file-cache.ts';
export type {
  NetSkipReason,
  PodCounterReader,
  PodCounterReaderOptions,
  PodCounters,
  PodReadResult,
  ReadOptions,
} from './reader.ts';
export { createPodCounterReader, readNetNs, readPodCounters } from './reader.ts';
export type { DeviceBytes, InterfaceBytes } from './parse.ts';
export {
  flatKeyScanner,
  parseBlkioServiceBytes,
  parseCgroupProcs,
  parseCounter,
  parseCpuacctStat,
  parseCpuStatV2,
  parseFlatKeyed,
  parseIoStat,
  parseMeminfo,
  parseNetDev,
  parseProcStatStarttime,
  parseSingleValue,
} from './parse.ts';
