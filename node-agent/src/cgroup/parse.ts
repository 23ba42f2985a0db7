// Pure parsers of cgroup, proc and sysfs file contents. Every counter is a BigInt parsed from
// ASCII digits only: kernel u64 counters pass 2^53, and anything else is garbage, reported as a
// CgroupParseError with the file and line so the caller can count and log it.
import { CgroupParseError } from './errors.ts';

const DIGITS = /^\d+$/;
const DEVICE = /^\d+:\d+$/;
const SPACE = 0x20;

/**
 * Calls `each` with every non-empty line of a file and its 1-based number (for errors), after
 * the first `skip` lines (a header).
 */
export function forEachLine(
  content: string,
  each: (text: string, line: number) => void,
  skip = 0,
): void {
  const lines = content.split('\n');
  for (let i = skip; i < lines.length; i++) {
    const text = lines[i] as string;
    if (text !== '') each(text, i + 1);
  }
}

/** Parses an unsigned decimal counter, refusing signs, spaces, hex and exponents. */
export function parseCounter(text: string, file: string, line: number): bigint {
  if (!DIGITS.test(text))
    throw new CgroupParseError(file, line, `not an unsigned integer: ${quote(text)}`);
  return BigInt(text);
}

/** A file holding one integer, e.g. `cpuacct.usage`, `memory.current`, `memory.usage_in_bytes`. */
export function parseSingleValue(content: string, file: string): bigint {
  const lines = content.split('\n');
  if (lines.length > 2 || (lines.length === 2 && lines[1] !== '')) {
    throw new CgroupParseError(file, 2, 'expected a single value');
  }
  const value = lines[0] ?? '';
  if (value === '') throw new CgroupParseError(file, 0, 'empty file');
  return parseCounter(value, file, 1);
}

/**
 * A flat keyed file (`key value` lines): v2 `cpu.stat`, `memory.stat` (v1 and v2),
 * v1 `cpuacct.stat`. Unknown keys are kept, so new kernel keys anywhere are tolerated.
 */
export function parseFlatKeyed(content: string, file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  forEachLine(content, (text, line) => {
    const sp = text.indexOf(' ');
    if (sp <= 0 || text.indexOf(' ', sp + 1) !== -1) {
      throw new CgroupParseError(file, line, `expected "key value": ${quote(text)}`);
    }
    out.set(text.slice(0, sp), parseCounter(text.slice(sp + 1), file, line));
  });
  return out;
}

/** Looks up a key of a flat keyed file that must be present. */
export function requireKey(stat: Map<string, bigint>, key: string, file: string): bigint {
  const v = stat.get(key);
  if (v === undefined) throw new CgroupParseError(file, 0, `missing key ${key}`);
  return v;
}

/**
 * Reads only the given keys of a flat keyed file, for the per-tick path: v1 `memory.stat` has
 * ~40 lines of which two are needed. Keys are matched at line starts only (so `rss` does not
 * match `total_rss`); other lines are not validated. Values come back in the order of `keys`.
 */
export function flatKeyScanner(
  keys: readonly string[],
): (content: string, file: string) => bigint[] {
  const heads = keys.map((k) => `${k} `);
  const needles = heads.map((h) => `\n${h}`);
  return (content, file) =>
    heads.map((head, i) => {
      let at = 0;
      if (!content.startsWith(head)) {
        const nl = content.indexOf(needles[i] as string);
        if (nl === -1) throw new CgroupParseError(file, 0, `missing key ${keys[i] as string}`);
        at = nl + 1;
      }
      const start = at + head.length;
      const end = content.indexOf('\n', start);
      const value = end === -1 ? content.slice(start) : content.slice(start, end);
      // The line number is only worth counting for the error message.
      if (!DIGITS.test(value)) parseCounter(value, file, content.slice(0, at).split('\n').length);
      return BigInt(value);
    });
}

const CPU_STAT_V2 = flatKeyScanner(['usage_usec']);

/** v2 `cpu.stat`: cumulative CPU time in ns (from `usage_usec`, which includes descendants). */
export function parseCpuStatV2(content: string, file: string): bigint {
  return (CPU_STAT_V2(content, file)[0] as bigint) * 1000n;
}

/** v1 `cpuacct.stat`: user and system time in USER_HZ ticks (cAdvisor assumes 100). */
export function parseCpuacctStat(content: string, file: string): { user: bigint; system: bigint } {
  const stat = parseFlatKeyed(content, file);
  return { user: requireKey(stat, 'user', file), system: requireKey(stat, 'system', file) };
}

export interface DeviceBytes {
  /** `MAJ:MIN` of the block device. */
  device: string;
  readBytes: bigint;
  writeBytes: bigint;
}

/**
 * v2 `io.stat`: `MAJ:MIN key=value ...` lines, unordered, possibly empty. Keys other than
 * `rbytes`/`wbytes` (rios, dbytes, iocost `cost.*` with decimals, io.latency `depth`, `avg_lat`,
 * `win`) are ignored without validation since their formats vary.
 */
export function parseIoStat(content: string, file: string): DeviceBytes[] {
  const out: DeviceBytes[] = [];
  forEachLine(content, (text, line) => {
    const fields = text.split(' ');
    const device = fields[0] as string;
    if (!DEVICE.test(device)) throw new CgroupParseError(file, line, `bad device ${quote(device)}`);
    let readBytes = 0n;
    let writeBytes = 0n;
    for (let f = 1; f < fields.length; f++) {
      const field = fields[f] as string;
      if (field === '') continue;
      const eq = field.indexOf('=');
      if (eq <= 0) throw new CgroupParseError(file, line, `expected key=value: ${quote(field)}`);
      const key = field.slice(0, eq);
      if (key === 'rbytes') readBytes = parseCounter(field.slice(eq + 1), file, line);
      else if (key === 'wbytes') writeBytes = parseCounter(field.slice(eq + 1), file, line);
    }
    out.push({ device, readBytes, writeBytes });
  });
  return out;
}

const BLKIO_OPS = new Set(['Read', 'Write', 'Sync', 'Async', 'Discard', 'Total']);

/**
 * v1 blkio `*io_service_bytes*`: `MAJ:MIN Op value` lines and a final `Total N` line, which is
 * skipped (it sums over all devices, stacked ones included). A file with only `Total` yields [].
 */
export function parseBlkioServiceBytes(content: string, file: string): DeviceBytes[] {
  const byDevice = new Map<string, DeviceBytes>();
  forEachLine(content, (text, line) => {
    const fields = text.split(' ');
    if (fields.length === 2 && fields[0] === 'Total') {
      parseCounter(fields[1] as string, file, line);
      return;
    }
    const [device, op, value] = fields;
    if (fields.length !== 3 || !DEVICE.test(device as string) || !BLKIO_OPS.has(op as string)) {
      throw new CgroupParseError(file, line, `expected "MAJ:MIN Op value": ${quote(text)}`);
    }
    const n = parseCounter(value as string, file, line);
    let entry = byDevice.get(device as string);
    if (!entry) {
      entry = { device: device as string, readBytes: 0n, writeBytes: 0n };
      byDevice.set(device as string, entry);
    }
    if (op === 'Read') entry.readBytes = n;
    else if (op === 'Write') entry.writeBytes = n;
  });
  return [...byDevice.values()];
}

export interface InterfaceBytes {
  iface: string;
  rxBytes: bigint;
  txBytes: bigint;
}

/**
 * `/proc/<pid>/net/dev`: two header lines, then `name: 8 receive + 8 transmit counters`.
 * The name is split at the colon because the kernel prints `%6s:%8lu`, so a large first
 * counter touches the colon. `lo` is excluded: loopback traffic never leaves the pod.
 */
export function parseNetDev(content: string, file: string): InterfaceBytes[] {
  const out: InterfaceBytes[] = [];
  if (!content.startsWith('Inter-') || !content.includes('\n')) {
    throw new CgroupParseError(file, 1, 'missing net/dev header');
  }
  forEachLine(
    content,
    (text, line) => {
      const colon = text.indexOf(':');
      if (colon <= 0) throw new CgroupParseError(file, line, `expected "iface: counters"`);
      const iface = text.slice(0, colon).trim();
      // Space-separated fields counted in place (read every tick per pod): only the two byte
      // counters become strings.
      let fields = 0;
      let rx = '';
      let tx = '';
      for (let at = colon + 1; at < text.length;) {
        if (text.charCodeAt(at) === SPACE) {
          at++;
          continue;
        }
        let end = text.indexOf(' ', at);
        if (end === -1) end = text.length;
        if (fields === 0) rx = text.slice(at, end);
        else if (fields === 8) tx = text.slice(at, end);
        fields++;
        at = end;
      }
      if (fields !== 16) {
        throw new CgroupParseError(file, line, `expected 16 counters, got ${fields}`);
      }
      const rxBytes = parseCounter(rx, file, line);
      const txBytes = parseCounter(tx, file, line);
      if (iface === 'lo') return;
      out.push({ iface, rxBytes, txBytes });
    },
    2,
  );
  return out;
}

/**
 * `/proc/<pid>/stat` field 22, starttime (clock ticks since boot). comm (field 2) may contain
 * spaces and parentheses, so fields are counted from the last `)`.
 */
export function parseProcStatStarttime(content: string, file: string): bigint {
  const close = content.lastIndexOf(')');
  if (close === -1) throw new CgroupParseError(file, 1, 'no comm field');
  // After ") " come fields 3.., so field 22 is index 19.
  const rest = content.slice(close + 2).split(' ');
  const start = rest[19];
  if (start === undefined) throw new CgroupParseError(file, 1, 'too few fields');
  return parseCounter(start.trim(), file, 1);
}

/** `cgroup.procs`: one PID per line, appended to `out` (a new array by default). */
export function parseCgroupProcs(content: string, file: string, out: number[] = []): number[] {
  forEachLine(content, (text, line) => {
    if (!DIGITS.test(text)) throw new CgroupParseError(file, line, `bad pid ${quote(text)}`);
    out.push(Number(text));
  });
  return out;
}

/** `/proc/meminfo`: `Key:   N kB` lines, returned in bytes; lines without a unit are counts. */
export function parseMeminfo(content: string, file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  forEachLine(content, (text, line) => {
    const colon = text.indexOf(':');
    const fields = text
      .slice(colon + 1)
      .split(' ')
      .filter((f) => f !== '');
    if (
      colon <= 0 ||
      fields.length < 1 ||
      fields.length > 2 ||
      (fields.length === 2 && fields[1] !== 'kB')
    ) {
      throw new CgroupParseError(file, line, `expected "Key: N [kB]": ${quote(text)}`);
    }
    const n = parseCounter(fields[0] as string, file, line);
    out.set(text.slice(0, colon), fields.length === 2 ? n * 1024n : n);
  });
  return out;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
