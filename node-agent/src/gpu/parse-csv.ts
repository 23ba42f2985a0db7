// Parsers for nvidia-smi's text outputs: the CSV query modes, `pmon` and `-L`. Strict: a line
// that does not have the documented shape is an error, never a silent zero.
import { GpuParseError } from './errors.ts';
import type { GpuParseFormat } from './errors.ts';

export const QUERY_GPU_FIELDS = [
  'index',
  'uuid',
  'name',
  'utilization.gpu',
  'utilization.memory',
  'memory.used',
  'memory.total',
  'mig.mode.current',
] as const;
export const QUERY_GPU_ARGS = [
  `--query-gpu=${QUERY_GPU_FIELDS.join(',')}`,
  '--format=csv,noheader,nounits',
] as const;

export const QUERY_APPS_FIELDS = ['gpu_uuid', 'pid', 'used_memory'] as const;
export const QUERY_APPS_ARGS = [
  `--query-compute-apps=${QUERY_APPS_FIELDS.join(',')}`,
  '--format=csv,noheader,nounits',
] as const;

export const PMON_ARGS = ['pmon', '-c', '1', '-s', 'um'] as const;
export const LIST_ARGS = ['-L'] as const;

export type MigMode = 'Enabled' | 'Disabled';

export interface CsvGpu {
  index: number;
  uuid: string;
  name: string;
  /** Percent 0..100; null when nvidia-smi reports N/A (e.g. under MIG). */
  utilGpuPct: number | null;
  utilMemoryPct: number | null;
  memoryUsedMiB: bigint | null;
  memoryTotalMiB: bigint | null;
  /** null on GPUs without MIG support. */
  migMode: MigMode | null;
}

export interface CsvComputeApp {
  gpuUuid: string;
  pid: number;
  /** null under WDDM or when the driver does not report it. */
  usedMemoryMiB: bigint | null;
}

export interface PmonSample {
  gpuIndex: number;
  pid: number;
  /** `C`, `G` or `C+G`. */
  type: string;
  /** SM percent; `-` (no sample in the window) is 0. */
  smPct: number;
  memPct: number;
  command: string;
}

export interface ListedMig {
  /** Index of the MIG device on its GPU, as in the XML `<mig_device><index>`. */
  deviceIndex: number;
  /** Profile name, e.g. `3g.20gb`. */
  profile: string;
  uuid: string;
}

export interface ListedGpu {
  index: number;
  name: string;
  uuid: string;
  migs: ListedMig[];
}

const DIGITS = /^\d+$/;
const GPU_UUID = /^GPU-[0-9a-fA-F-]+$/;
const UNAVAILABLE = new Set([
  '[N/A]',
  'N/A',
  '[Not Supported]',
  '[Unknown Error]',
  '[Insufficient Permissions]',
]);

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.replace(/\r$/, ''));
}

function fields(format: GpuParseFormat, line: string, n: number, lineNo: number): string[] {
  const parts = line.split(',').map((p) => p.trim());
  if (parts.length !== n) {
    throw new GpuParseError(format, lineNo, `expected ${n} fields, got ${parts.length}`);
  }
  return parts;
}

function integer(format: GpuParseFormat, text: string, what: string, lineNo: number): number {
  if (!DIGITS.test(text) || text.length > 9) {
    throw new GpuParseError(format, lineNo, `${what}: not an integer: ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function optionalPct(
  format: GpuParseFormat,
  text: string,
  what: string,
  lineNo: number,
): number | null {
  if (UNAVAILABLE.has(text)) return null;
  const v = integer(format, text, what, lineNo);
  if (v > 100) throw new GpuParseError(format, lineNo, `${what}: ${v} is over 100%`);
  return v;
}

function optionalMiB(
  format: GpuParseFormat,
  text: string,
  what: string,
  lineNo: number,
): bigint | null {
  if (UNAVAILABLE.has(text)) return null;
  if (!DIGITS.test(text)) {
    throw new GpuParseError(format, lineNo, `${what}: not an integer: ${JSON.stringify(text)}`);
  }
  return BigInt(text);
}

function gpuUuid(format: GpuParseFormat, text: string, lineNo: number): string {
  if (!GPU_UUID.test(text))
    throw new GpuParseError(format, lineNo, `bad GPU UUID ${JSON.stringify(text)}`);
  return text;
}

/** `--query-gpu=<QUERY_GPU_FIELDS> --format=csv,noheader,nounits`. */
export function parseQueryGpu(text: string): CsvGpu[] {
  const out: CsvGpu[] = [];
  const all = lines(text);
  for (let i = 0; i < all.length; i++) {
    const line = all[i] as string;
    if (line.trim() === '') continue;
    const f = fields('query-gpu', line, QUERY_GPU_FIELDS.length, i + 1);
    const mig = f[7] as string;
    if (!UNAVAILABLE.has(mig) && mig !== 'Enabled' && mig !== 'Disabled') {
      throw new GpuParseError('query-gpu', i + 1, `bad mig.mode.current ${JSON.stringify(mig)}`);
    }
    const name = f[2] as string;
    if (name === '') throw new GpuParseError('query-gpu', i + 1, 'empty name');
    out.push({
      index: integer('query-gpu', f[0] as string, 'index', i + 1),
      uuid: gpuUuid('query-gpu', f[1] as string, i + 1),
      name,
      utilGpuPct: optionalPct('query-gpu', f[3] as string, 'utilization.gpu', i + 1),
      utilMemoryPct: optionalPct('query-gpu', f[4] as string, 'utilization.memory', i + 1),
      memoryUsedMiB: optionalMiB('query-gpu', f[5] as string, 'memory.used', i + 1),
      memoryTotalMiB: optionalMiB('query-gpu', f[6] as string, 'memory.total', i + 1),
      migMode: UNAVAILABLE.has(mig) ? null : (mig as MigMode),
    });
  }
  return out;
}

/** `--query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits`. */
export function parseQueryComputeApps(text: string): CsvComputeApp[] {
  const out: CsvComputeApp[] = [];
  const all = lines(text);
  for (let i = 0; i < all.length; i++) {
    const line = all[i] as string;
    if (line.trim() === '') continue;
    // "No running processes found" is printed by some drivers instead of an empty output.
    if (/^No running (compute )?processes found/i.test(line.trim())) continue;
    const f = fields('query-compute-apps', line, QUERY_APPS_FIELDS.length, i + 1);
    out.push({
      gpuUuid: gpuUuid('query-compute-apps', f[0] as string, i + 1),
      pid: integer('query-compute-apps', f[1] as string, 'pid', i + 1),
      usedMemoryMiB: optionalMiB('query-compute-apps', f[2] as string, 'used_memory', i + 1),
    });
  }
  return out;
}

function pmonPct(text: string, what: string, lineNo: number): number {
  if (text === '-') return 0;
  const v = integer('pmon', text, what, lineNo);
  if (v > 100) throw new GpuParseError('pmon', lineNo, `${what}: ${v} is over 100%`);
  return v;
}

/**
 * `pmon -c 1 -s um`. Columns differ across drivers (jpg/ofa, fb, ccpm came later), so they are
 * located by the first header line; `command` is last and may contain spaces.
 */
export function parsePmon(text: string): PmonSample[] {
  const all = lines(text);
  let columns: string[] | null = null;
  const out: PmonSample[] = [];
  for (let i = 0; i < all.length; i++) {
    const line = (all[i] as string).trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      columns ??= line.slice(1).trim().split(/\s+/);
      continue;
    }
    if (columns === null) throw new GpuParseError('pmon', i + 1, 'data before the header');
    const at = (name: string): number => {
      const idx = (columns as string[]).indexOf(name);
      if (idx === -1) throw new GpuParseError('pmon', i + 1, `header has no ${name} column`);
      return idx;
    };
    const tokens = line.split(/\s+/);
    if (tokens.length < columns.length) {
      throw new GpuParseError(
        'pmon',
        i + 1,
        `expected ${columns.length} columns, got ${tokens.length}`,
      );
    }
    const pidText = tokens[at('pid')] as string;
    if (pidText === '-') continue; // an idle GPU
    out.push({
      gpuIndex: integer('pmon', tokens[at('gpu')] as string, 'gpu', i + 1),
      pid: integer('pmon', pidText, 'pid', i + 1),
      type: tokens[at('type')] as string,
      smPct: pmonPct(tokens[at('sm')] as string, 'sm', i + 1),
      memPct: pmonPct(tokens[at('mem')] as string, 'mem', i + 1),
      command: tokens.slice(columns.length - 1).join(' '),
    });
  }
  if (columns === null && out.length === 0 && all.some((l) => l.trim() !== '')) {
    throw new GpuParseError('pmon', 0, 'no header');
  }
  return out;
}

const LIST_GPU = /^GPU (\d+): (.+) \(UUID: (GPU-[0-9a-fA-F-]+)\)$/;
const LIST_MIG = /^MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[^)\s]+)\)$/;

/** `nvidia-smi -L`: the only plain output that names MIG device UUIDs and profiles. */
export function parseList(text: string): ListedGpu[] {
  const out: ListedGpu[] = [];
  const all = lines(text);
  for (let i = 0; i < all.length; i++) {
    const line = (all[i] as string).trim();
    if (line === '') continue;
    const g = LIST_GPU.exec(line);
    if (g !== null) {
      out.push({ index: Number(g[1]), name: g[2] as string, uuid: g[3] as string, migs: [] });
      continue;
    }
    const m = LIST_MIG.exec(line);
    const parent = out.at(-1);
    if (m === null || parent === undefined) {
      throw new GpuParseError(
        'list',
        i + 1,
        `unrecognised line ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    parent.migs.push({ profile: m[1] as string, deviceIndex: Number(m[2]), uuid: m[3] as string });
  }
  return out;
}
