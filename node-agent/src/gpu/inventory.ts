// Turns parsed nvidia-smi outputs into metered devices (whole GPUs, or one per MIG GPU instance)
// and compute processes keyed by device. Pure.
import type { CsvComputeApp, CsvGpu, ListedGpu, PmonSample } from './parse-csv.ts';
import type { NvidiaSmiLog } from './parse-xml.ts';
import type { ParsedDeviceId } from './pod-resources.ts';

export interface NvidiaSmiSample {
  gpus: CsvGpu[];
  apps: CsvComputeApp[];
  /** null when pmon failed or is unsupported: the split falls back to memory share. */
  pmon: PmonSample[] | null;
  /** Read only when a GPU has MIG enabled. */
  xml: NvidiaSmiLog | null;
  list: ListedGpu[] | null;
}

export interface GpuDevice {
  /** GPU UUID, or `<GPU UUID>/gi<N>` for a MIG GPU instance. */
  key: string;
  gpuUuid: string;
  /** Product name; MIG instances append ` MIG <profile>` so rates can differ per slice size. */
  model: string;
  minor: number | null;
  /** MIG GPU instance id; null for a whole GPU. */
  gi: number | null;
  /** MIG device UUIDs (one per compute instance) inside this GPU instance. */
  migUuids: string[];
  /** Device utilisation from nvidia-smi in parts per million; null when N/A (always under MIG). */
  utilPpm: bigint | null;
}

export interface GpuProcess {
  pid: number;
  deviceKey: string;
  /** From pmon; null when pmon did not report the process. */
  smPct: number | null;
  usedMemoryMiB: bigint | null;
}

export interface Inventory {
  devices: GpuDevice[];
  processes: GpuProcess[];
  /** Compute processes on a MIG GPU that the XML did not place in an instance. */
  unplaced: number[];
}

export function migKey(gpuUuid: string, gi: number): string {
  return `${gpuUuid}/gi${gi}`;
}

export function buildInventory(sample: NvidiaSmiSample): Inventory {
  const devices: GpuDevice[] = [];
  const processes: GpuProcess[] = [];
  const unplaced: number[] = [];
  const xmlByUuid = new Map((sample.xml?.gpus ?? []).map((g) => [g.uuid, g]));
  const listByUuid = new Map((sample.list ?? []).map((g) => [g.uuid, g]));
  const uuidByIndex = new Map(sample.gpus.map((g) => [g.index, g.uuid]));
  const migGpus = new Set<string>();

  for (const g of sample.gpus) {
    const xml = xmlByUuid.get(g.uuid);
    const minor = xml?.minorNumber ?? null;
    if (g.migMode === 'Enabled' && xml !== undefined) {
      migGpus.add(g.uuid);
      const listed = listByUuid.get(g.uuid);
      const byGi = new Map<number, GpuDevice>();
      for (const m of xml.migDevices) {
        const fromList = listed?.migs.find((l) => l.deviceIndex === m.index);
        const uuid = m.uuid ?? fromList?.uuid ?? null;
        let dev = byGi.get(m.gpuInstanceId);
        if (dev === undefined) {
          dev = {
            key: migKey(g.uuid, m.gpuInstanceId),
            gpuUuid: g.uuid,
            model: fromList === undefined ? `${g.name} MIG` : `${g.name} MIG ${fromList.profile}`,
            minor,
            gi: m.gpuInstanceId,
            migUuids: [],
            utilPpm: null,
          };
          byGi.set(m.gpuInstanceId, dev);
          devices.push(dev);
        }
        if (uuid !== null) dev.migUuids.push(uuid);
      }
      for (const p of xml.processes) {
        if (p.gpuInstanceId === null || !byGi.has(p.gpuInstanceId)) {
          unplaced.push(p.pid);
          continue;
        }
        processes.push({
          pid: p.pid,
          deviceKey: migKey(g.uuid, p.gpuInstanceId),
          // pmon does not sample MIG instances.
          smPct: null,
          usedMemoryMiB: p.usedMemoryMiB,
        });
      }
      continue;
    }
    devices.push({
      key: g.uuid,
      gpuUuid: g.uuid,
      model: g.name,
      minor,
      gi: null,
      migUuids: [],
      utilPpm: g.utilGpuPct === null ? null : BigInt(g.utilGpuPct) * 10_000n,
    });
  }

  // One PID can show up as C and G, or twice in one window: take its largest SM sample.
  const sm = new Map<string, number>();
  for (const s of sample.pmon ?? []) {
    const uuid = uuidByIndex.get(s.gpuIndex);
    if (uuid === undefined) continue;
    const k = `${uuid}|${s.pid}`;
    sm.set(k, Math.max(sm.get(k) ?? 0, s.smPct));
  }
  const seen = new Set<string>();
  const known = new Set(sample.gpus.map((g) => g.uuid));
  for (const a of sample.apps) {
    if (migGpus.has(a.gpuUuid)) continue; // placed from the XML above
    const k = `${a.gpuUuid}|${a.pid}`;
    // A GPU that left the inventory between the two queries has nothing to charge.
    if (seen.has(k) || !known.has(a.gpuUuid)) continue;
    seen.add(k);
    processes.push({
      pid: a.pid,
      deviceKey: a.gpuUuid,
      smPct: sample.pmon === null ? null : (sm.get(k) ?? 0),
      usedMemoryMiB: a.usedMemoryMiB,
    });
  }
  devices.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { devices, processes, unplaced };
}

/** The device keys a PodResources device id refers to; empty when it matches nothing here. */
export function deviceKeysFor(id: ParsedDeviceId, devices: readonly GpuDevice[]): string[] {
  switch (id.kind) {
    case 'gpu':
      // A whole-GPU id for a GPU in MIG mode holds every instance on it.
      return devices.filter((d) => d.gpuUuid === id.uuid).map((d) => d.key);
    case 'mig':
      return devices.filter((d) => d.migUuids.includes(id.uuid)).map((d) => d.key);
    case 'mig-legacy':
      return devices.filter((d) => d.gpuUuid === id.gpuUuid && d.gi === id.gi).map((d) => d.key);
    case 'minor':
      return devices
        .filter((d) => d.minor === id.minor && (id.gi === null || d.gi === id.gi))
        .map((d) => d.key);
    case 'unknown':
      return [];
  }
}

/** Whether a device id names a time-slicing replica rather than the device itself. */
export function isReplica(id: ParsedDeviceId): boolean {
  return (id.kind === 'gpu' || id.kind === 'mig' || id.kind === 'minor') && id.replica !== null;
}
