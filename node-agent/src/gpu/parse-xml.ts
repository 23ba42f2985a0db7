// `nvidia-smi -q -x`, read with fast-xml-parser. The output is trusted less than it looks (a
// wrapper script or a broken driver can print anything), so the parser never expands entities
// or DOCTYPE declarations, keeps every value a string (no numeric coercion through floats), and
// rejects what is not well-formed before reading it.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { GpuParseError } from './errors.ts';
import type { MigMode } from './parse-csv.ts';

export const QUERY_XML_ARGS = ['-q', '-x'] as const;

export interface XmlMigDevice {
  /** `<index>`: the MIG device's position, as listed by `nvidia-smi -L`. */
  index: number;
  gpuInstanceId: number;
  computeInstanceId: number;
  /** Only some drivers print it; `nvidia-smi -L` is the other source. */
  uuid: string | null;
  memoryUsedMiB: bigint | null;
  memoryTotalMiB: bigint | null;
}

export interface XmlProcess {
  /** null when the GPU is not in MIG mode (`N/A`). */
  gpuInstanceId: number | null;
  computeInstanceId: number | null;
  pid: number;
  type: string;
  name: string;
  usedMemoryMiB: bigint | null;
}

export interface XmlGpu {
  uuid: string;
  productName: string;
  minorNumber: number | null;
  utilGpuPct: number | null;
  utilMemoryPct: number | null;
  migMode: MigMode | null;
  migDevices: XmlMigDevice[];
  processes: XmlProcess[];
}

export interface NvidiaSmiLog {
  driverVersion: string | null;
  gpus: XmlGpu[];
}

const ALWAYS_ARRAY = new Set(['gpu', 'mig_device', 'process_info']);

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  allowBooleanAttributes: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  trimValues: true,
  // One GPU, one MIG device or one process must not change the shape of the result.
  isArray: (tagName) => ALWAYS_ARRAY.has(tagName),
});

type Node = Record<string, unknown>;

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function child(node: Node, key: string): Node | null {
  const v = Object.hasOwn(node, key) ? node[key] : undefined;
  return isNode(v) ? v : null;
}

function text(node: Node | null, key: string): string | null {
  if (node === null || !Object.hasOwn(node, key)) return null;
  const v = node[key];
  return typeof v === 'string' ? v : null;
}

function list(node: Node | null, key: string): Node[] {
  if (node === null || !Object.hasOwn(node, key)) return [];
  const v = node[key];
  return Array.isArray(v) ? v.filter(isNode) : [];
}

const NA = /^(N\/A|\[N\/A\]|Not Supported|\[Not Supported\]|None)$/;

function intOrNull(value: string | null, what: string): number | null {
  if (value === null || value === '' || NA.test(value)) return null;
  if (!/^\d{1,9}$/.test(value))
    throw new GpuParseError('xml', 0, `${what}: not an integer: ${JSON.stringify(value)}`);
  return Number(value);
}

function required(value: number | null, what: string): number {
  if (value === null) throw new GpuParseError('xml', 0, `${what} missing`);
  return value;
}

function pct(value: string | null, what: string): number | null {
  if (value === null || NA.test(value)) return null;
  const m = /^(\d{1,3}) ?%$/.exec(value);
  if (m === null)
    throw new GpuParseError('xml', 0, `${what}: bad percentage ${JSON.stringify(value)}`);
  const v = Number(m[1]);
  if (v > 100) throw new GpuParseError('xml', 0, `${what}: ${v} is over 100%`);
  return v;
}

function mib(value: string | null, what: string): bigint | null {
  if (value === null || NA.test(value)) return null;
  const m = /^(\d+) ?MiB$/.exec(value);
  if (m === null) throw new GpuParseError('xml', 0, `${what}: bad size ${JSON.stringify(value)}`);
  return BigInt(m[1] as string);
}

function migMode(node: Node): MigMode | null {
  const v = text(child(node, 'mig_mode'), 'current_mig');
  if (v === 'Enabled' || v === 'Disabled') return v;
  if (v === null || NA.test(v)) return null;
  throw new GpuParseError('xml', 0, `bad current_mig ${JSON.stringify(v)}`);
}

function migDevice(node: Node): XmlMigDevice {
  const fb = child(node, 'fb_memory_usage');
  const uuid = text(node, 'uuid');
  return {
    index: required(intOrNull(text(node, 'index'), 'mig_device index'), 'mig_device index'),
    gpuInstanceId: required(
      intOrNull(text(node, 'gpu_instance_id'), 'gpu_instance_id'),
      'gpu_instance_id',
    ),
    computeInstanceId: required(
      intOrNull(text(node, 'compute_instance_id'), 'compute_instance_id'),
      'compute_instance_id',
    ),
    uuid: uuid !== null && uuid.startsWith('MIG-') ? uuid : null,
    memoryUsedMiB: mib(text(fb, 'used'), 'mig fb used'),
    memoryTotalMiB: mib(text(fb, 'total'), 'mig fb total'),
  };
}

function processInfo(node: Node): XmlProcess {
  return {
    gpuInstanceId: intOrNull(text(node, 'gpu_instance_id'), 'process gpu_instance_id'),
    computeInstanceId: intOrNull(text(node, 'compute_instance_id'), 'process compute_instance_id'),
    pid: required(intOrNull(text(node, 'pid'), 'pid'), 'pid'),
    type: text(node, 'type') ?? '',
    name: text(node, 'process_name') ?? '',
    usedMemoryMiB: mib(text(node, 'used_memory'), 'used_memory'),
  };
}

function gpu(node: Node): XmlGpu {
  const uuid = text(node, 'uuid');
  if (uuid === null || !/^GPU-[0-9a-fA-F-]+$/.test(uuid)) {
    throw new GpuParseError('xml', 0, `gpu has no valid uuid (${JSON.stringify(uuid)})`);
  }
  const productName = text(node, 'product_name');
  if (productName === null || productName === '')
    throw new GpuParseError('xml', 0, `${uuid}: no product_name`);
  const util = child(node, 'utilization');
  return {
    uuid,
    productName,
    minorNumber: intOrNull(text(node, 'minor_number'), 'minor_number'),
    utilGpuPct: pct(text(util, 'gpu_util'), 'gpu_util'),
    utilMemoryPct: pct(text(util, 'memory_util'), 'memory_util'),
    migMode: migMode(node),
    // `<mig_devices>None</mig_devices>` and `<processes />` parse to strings, hence list().
    migDevices: list(child(node, 'mig_devices'), 'mig_device').map(migDevice),
    processes: list(child(node, 'processes'), 'process_info').map(processInfo),
  };
}

/** Parses `nvidia-smi -q -x`; throws {@link GpuParseError} on anything malformed. */
export function parseNvidiaSmiXml(xml: string): NvidiaSmiLog {
  if (xml.trim() === '') throw new GpuParseError('xml', 0, 'empty output');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new GpuParseError('xml', valid.err.line, valid.err.msg);
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (err) {
    throw new GpuParseError('xml', 0, err instanceof Error ? err.message : String(err));
  }
  const log = isNode(doc) ? child(doc, 'nvidia_smi_log') : null;
  if (log === null) throw new GpuParseError('xml', 0, 'no <nvidia_smi_log> root');
  return { driverVersion: text(log, 'driver_version'), gpus: list(log, 'gpu').map(gpu) };
}
