// The pure core: one tick's GPU time per device, split across pods with exact conservation.
//
// Per device and tick (Δt in µs):
//   allocated = Δt, split over the pods holding the device by the number of device ids
//     (replicas) each holds; with no holder it is unallocated (→ unattributed).
//   active = ⌊Δt × util⌋ with util in ppm, split over the processes seen on the device by
//     SM share (pmon), else memory share, else equally per pod; a process that resolves to no
//     pod keeps its share in unattributed. With no process, the holders share it as they share
//     allocation. The device value is never copied to each sharing pod.
// Utilisation source, in order: DCGM GR_ENGINE_ACTIVE (unless it reads 0 while processes run:
//   dcgm-exporter #662), nvidia-smi utilization.gpu, and for MIG instances (where nvidia-smi
//   reports N/A) process presence: an instance with a compute process counts as fully active
//   for the tick, one without as idle — an upper bound, flagged as such.
import { apportion } from './apportion.ts';
import type { GpuDevice, GpuProcess } from './inventory.ts';

export type GpuSharing = 'exclusive' | 'timesliced' | 'mig' | 'unallocated';
export type ActiveSource = 'dcgm' | 'nvidia-smi' | 'process-presence' | 'missing';

export interface GpuAllocation {
  podUid: string;
  deviceKey: string;
  /** The pod holds a time-slicing replica (`::N`, `/vgpuN`) rather than the device. */
  replica: boolean;
}

export interface GpuProcessSample extends GpuProcess {
  /** null: not in any pod, or not resolvable (its share stays unattributed). */
  podUid: string | null;
}

export interface AttributeInput {
  deltaUs: bigint;
  devices: readonly GpuDevice[];
  allocations: readonly GpuAllocation[];
  processes: readonly GpuProcessSample[];
  /** DCGM GR_ENGINE_ACTIVE in ppm per device key, when that source is configured and fresh. */
  dcgmPpm?: ReadonlyMap<string, bigint>;
}

export interface GpuDeviceTick {
  key: string;
  model: string;
  sharing: GpuSharing;
  allocatedUs: bigint;
  activeUs: bigint;
  /** Device utilisation used for activeUs, ppm. */
  utilPpm: bigint;
  activeSource: ActiveSource;
  /** DCGM had a value for the device but it was rejected (0 while processes ran). */
  dcgmRejected: boolean;
}

export interface GpuPodTick {
  podUid: string;
  key: string;
  model: string;
  allocatedUs: bigint;
  activeUs: bigint;
}

export interface GpuUnattributedTick {
  key: string;
  model: string;
  allocatedUs: bigint;
  activeUs: bigint;
}

export interface GpuTickResult {
  deltaUs: bigint;
  devices: GpuDeviceTick[];
  /** Sorted by (podUid, key). */
  pods: GpuPodTick[];
  unattributed: GpuUnattributedTick[];
}

const PPM = 1_000_000n;
// Sorts after every pod UID (hex and dashes) in the tie-break, so pods win ties.
const NOBODY = '~unattributed';

function chooseUtil(
  device: GpuDevice,
  hasProcesses: boolean,
  dcgm: bigint | undefined,
): { ppm: bigint; source: ActiveSource; dcgmRejected: boolean } {
  const rejected = dcgm === 0n && hasProcesses;
  if (dcgm !== undefined && !rejected) return { ppm: dcgm, source: 'dcgm', dcgmRejected: false };
  if (device.utilPpm !== null) {
    return { ppm: device.utilPpm, source: 'nvidia-smi', dcgmRejected: rejected };
  }
  if (device.gi !== null) {
    return { ppm: hasProcesses ? PPM : 0n, source: 'process-presence', dcgmRejected: rejected };
  }
  return { ppm: 0n, source: 'missing', dcgmRejected: rejected };
}

function sumBy<T>(
  items: readonly T[],
  key: (t: T) => string,
  value: (t: T) => bigint,
): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const t of items) out.set(key(t), (out.get(key(t)) ?? 0n) + value(t));
  return out;
}

function total(m: ReadonlyMap<string, bigint>): bigint {
  let s = 0n;
  for (const v of m.values()) s += v;
  return s;
}

function activeWeights(
  procs: readonly GpuProcessSample[],
  holders: ReadonlyMap<string, bigint>,
): Map<string, bigint> {
  if (procs.length === 0) return new Map(holders);
  const bucket = (p: GpuProcessSample): string => p.podUid ?? NOBODY;
  const sm = sumBy(procs, bucket, (p) => BigInt(p.smPct ?? 0));
  if (total(sm) > 0n) return sm;
  const mem = sumBy(procs, bucket, (p) => p.usedMemoryMiB ?? 0n);
  if (total(mem) > 0n) return mem;
  return new Map(procs.map((p) => [bucket(p), 1n]));
}

export function attributeGpuTick(input: AttributeInput): GpuTickResult {
  const { deltaUs } = input;
  if (deltaUs < 0n) throw new RangeError(`negative tick ${deltaUs}`);
  const devices: GpuDeviceTick[] = [];
  const pods = new Map<string, GpuPodTick>();
  const unattributed: GpuUnattributedTick[] = [];

  for (const device of [...input.devices].sort((a, b) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
  )) {
    const allocs = input.allocations.filter((a) => a.deviceKey === device.key);
    const procs = input.processes.filter((p) => p.deviceKey === device.key);
    const holders = sumBy(
      allocs,
      (a) => a.podUid,
      () => 1n,
    );
    const { ppm, source, dcgmRejected } = chooseUtil(
      device,
      procs.length > 0,
      input.dcgmPpm?.get(device.key),
    );
    const activeUs = (deltaUs * ppm) / PPM;

    const allocated = apportion(deltaUs, holders);
    const active = apportion(activeUs, activeWeights(procs, holders));

    let sharing: GpuSharing;
    if (device.gi !== null) sharing = 'mig';
    else if (holders.size === 0) sharing = 'unallocated';
    else if (holders.size > 1 || allocs.some((a) => a.replica)) sharing = 'timesliced';
    else sharing = 'exclusive';
    devices.push({
      key: device.key,
      model: device.model,
      sharing,
      allocatedUs: deltaUs,
      activeUs,
      utilPpm: ppm,
      activeSource: source,
      dcgmRejected,
    });

    const restAllocated = deltaUs - total(allocated);
    const restActive = activeUs - total(active) + (active.get(NOBODY) ?? 0n);
    active.delete(NOBODY);
    for (const uid of new Set([...allocated.keys(), ...active.keys()])) {
      const a = allocated.get(uid) ?? 0n;
      const b = active.get(uid) ?? 0n;
      if (a === 0n && b === 0n) continue;
      pods.set(`${uid}\u0000${device.key}`, {
        podUid: uid,
        key: device.key,
        model: device.model,
        allocatedUs: a,
        activeUs: b,
      });
    }
    if (restAllocated !== 0n || restActive !== 0n) {
      unattributed.push({
        key: device.key,
        model: device.model,
        allocatedUs: restAllocated,
        activeUs: restActive,
      });
    }
  }
  const sortedPods = [...pods.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v]) => v);
  return { deltaUs, devices, pods: sortedPods, unattributed };
}
