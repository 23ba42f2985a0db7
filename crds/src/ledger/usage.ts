import { nonNegative } from '../money/errors.ts';
import { checkDecimal, decimal, keys, object } from './fields.ts';

/** Usage of one pod, one share or one node over a tick, in integer units (invariant 4). */
export interface Usage {
  readonly cpuNs: bigint;
  readonly memoryByteSeconds: bigint;
  /** RSS-only memory integral, when the cgroup exposes it. */
  readonly memoryRssByteSeconds?: bigint;
  readonly ioReadBytes: bigint;
  readonly ioWriteBytes: bigint;
  readonly netRxBytes: bigint;
  readonly netTxBytes: bigint;
  /** GPU time allocated to the pod (allocation basis), microseconds; absent on GPU-less nodes. */
  readonly gpuAllocatedUs?: bigint;
  /** GPU time the pod's processes were active (utilisation basis), microseconds. */
  readonly gpuActiveUs?: bigint;
}

/** The same record on the wire and on disk: every value a decimal string. */
export type WireUsage = { readonly [K in keyof Usage]: string };

export type UsageKey = keyof Usage;

export const REQUIRED_USAGE_KEYS = [
  'cpuNs',
  'memoryByteSeconds',
  'ioReadBytes',
  'ioWriteBytes',
  'netRxBytes',
  'netTxBytes',
] as const satisfies readonly UsageKey[];

export const OPTIONAL_USAGE_KEYS = [
  'memoryRssByteSeconds',
  'gpuAllocatedUs',
  'gpuActiveUs',
] as const satisfies readonly UsageKey[];

export const USAGE_KEYS: readonly UsageKey[] = [...REQUIRED_USAGE_KEYS, ...OPTIONAL_USAGE_KEYS];

export type MutableUsage = { -readonly [K in UsageKey]?: bigint };

export function zeroUsage(): Usage {
  return {
    cpuNs: 0n,
    memoryByteSeconds: 0n,
    ioReadBytes: 0n,
    ioWriteBytes: 0n,
    netRxBytes: 0n,
    netTxBytes: 0n,
  };
}

/** Sum of two records; an optional key is present in the result when present in either. */
export function addUsage(a: Usage, b: Usage): Usage {
  const out: MutableUsage = {};
  for (const key of USAGE_KEYS) {
    const x = a[key];
    const y = b[key];
    if (x === undefined && y === undefined) continue;
    out[key] = (x ?? 0n) + (y ?? 0n);
  }
  return out as Usage;
}

/** a += b key by key, in place: for sums kept across ticks, where a new record per addition
 * would be garbage on the sampling path. */
export function addUsageInto(a: MutableUsage, b: Usage): void {
  for (const key of USAGE_KEYS) {
    const value = b[key];
    if (value !== undefined) a[key] = (a[key] ?? 0n) + value;
  }
}

export function sumUsage(records: Iterable<Usage>): Usage {
  const total: MutableUsage = zeroUsage();
  for (const record of records) addUsageInto(total, record);
  return total as Usage;
}

/** Equality treating an absent optional key as zero, so GPU-less and GPU records compare. */
export function usageEquals(a: Usage, b: Usage): boolean {
  return USAGE_KEYS.every((key) => (a[key] ?? 0n) === (b[key] ?? 0n));
}

/** Reads a wire record strictly (decimal strings, known keys only); throws LedgerFormatError. */
export function usageFromWire(wire: unknown, path = '$'): Usage {
  const obj = object(wire, path);
  keys(obj, path, REQUIRED_USAGE_KEYS, OPTIONAL_USAGE_KEYS);
  const out: MutableUsage = {};
  for (const key of USAGE_KEYS) {
    if (obj[key] !== undefined) out[key] = decimal(obj[key], `${path}.${key}`);
  }
  return out as Usage;
}

/** usageFromWire's checks without building the record. */
export function checkWireUsage(wire: unknown, path = '$'): void {
  const obj = object(wire, path);
  keys(obj, path, REQUIRED_USAGE_KEYS, OPTIONAL_USAGE_KEYS);
  for (const key of USAGE_KEYS) {
    if (obj[key] !== undefined) checkDecimal(obj[key], path, key);
  }
}

/** USAGE_KEYS in canonical (sorted) order: wire records built in this order are written to the
 * ledger without the canonical form having to re-sort them. */
const WIRE_ORDER: readonly UsageKey[] = [...USAGE_KEYS].sort();

export function usageToWire(usage: Usage): WireUsage {
  const out: { [K in UsageKey]?: string } = {};
  for (const key of WIRE_ORDER) {
    const value = usage[key];
    if (value === undefined) continue;
    out[key] = nonNegative(key, value).toString();
  }
  return out as WireUsage;
}
