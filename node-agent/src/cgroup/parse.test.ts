import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CgroupParseError } from './errors.ts';
import {
  flatKeyScanner,
  forEachLine,
  parseBlkioServiceBytes,
  parseCgroupProcs,
  parseCpuacctStat,
  parseCpuStatV2,
  parseFlatKeyed,
  parseIoStat,
  parseMeminfo,
  parseNetDev,
  parseProcStatStarttime,
  parseSingleValue,
} from './parse.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));
const fixture = (rel: string): string => readFileSync(FIXTURES + rel, 'utf8');

function parseError(fn: () => unknown): CgroupParseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CgroupParseError);
    return err as CgroupParseError;
  }
  throw new Error('expected a CgroupParseError');
}

describe('forEachLine', () => {
  it('visits non-empty lines with their 1-based numbers, after the header lines it skips', () => {
    const seen: [string, number][] = [];
    const visit = (text: string, line: number): number => seen.push([text, line]);
    forEachLine('a\n\nb\n', visit);
    forEachLine('head\nunits\nc\n', visit, 2);
    expect(seen).toEqual([
      ['a', 1],
      ['b', 3],
      ['c', 3],
    ]);
  });
});

describe('parseSingleValue', () => {
  it('reads u64 values beyond 2^53 exactly', () => {
    expect(parseSingleValue('18446744073709551615\n', 'f')).toBe(18446744073709551615n);
    expect(parseSingleValue('9007199254740993', 'f')).toBe(9007199254740993n);
  });

  it.each([
    ['empty', ''],
    ['negative', '-1\n'],
    ['float', '1.5\n'],
    ['hex', '0x10\n'],
    ['exponent', '1e9\n'],
    ['padded', ' 12\n'],
    ['two lines', '1\n2\n'],
    ['max', 'max\n'],
  ])('refuses %s', (_, content) => {
    const e = parseError(() => parseSingleValue(content, 'cpuacct.usage'));
    expect(e.file).toBe('cpuacct.usage');
  });
});

describe('parseFlatKeyed', () => {
  const memoryStat = (path: string): Map<string, bigint> =>
    parseFlatKeyed(fixture(path), 'memory.stat');

  it('keeps unknown keys wherever they appear (v2 memory.stat)', () => {
    const stat = memoryStat(
      'v2-systemd-containerd/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c9f8a79_5391_454b_88cb_86190881cb96.slice/memory.stat',
    );
    expect(stat.get('anon')).toBe(44892160n);
    expect(stat.get('inactive_file')).toBe(159744n);
    expect(stat.get('sec_pagetables')).toBe(0n);
  });

  it('reads v1 memory.stat including hierarchical limits near 2^63', () => {
    const stat = memoryStat(
      'v1-cgroupfs-containerd/sys/fs/cgroup/memory/kubepods/burstable/podf6adb0af-0855-4bab-b25b-c853f18d0ce2/memory.stat',
    );
    expect(stat.get('hierarchical_memory_limit')).toBe(9223372036854771712n);
    expect(stat.get('total_inactive_file')).toBe(1294123008n);
  });

  it('reports the line of garbage', () => {
    const e = parseError(() => parseFlatKeyed('anon 1\nfile lots\n', 'memory.stat'));
    expect(e.line).toBe(2);
    expect(e.reason).toMatch(/not an unsigned integer/);
    expect(parseError(() => parseFlatKeyed('anon\n', 'm')).line).toBe(1);
    expect(parseError(() => parseFlatKeyed('anon 1 2\n', 'm')).line).toBe(1);
    expect(parseError(() => parseFlatKeyed('\u0000\u0001garbage', 'm')).line).toBe(1);
  });
});

describe('flatKeyScanner', () => {
  const scan = flatKeyScanner(['total_inactive_file', 'total_rss']);

  it('agrees with parseFlatKeyed on v1 memory.stat', () => {
    const content = fixture(
      'v1-cgroupfs-containerd/sys/fs/cgroup/memory/kubepods/burstable/podf6adb0af-0855-4bab-b25b-c853f18d0ce2/memory.stat',
    );
    const full = parseFlatKeyed(content, 'memory.stat');
    expect(scan(content, 'memory.stat')).toEqual([
      full.get('total_inactive_file'),
      full.get('total_rss'),
    ]);
  });

  it('matches whole keys at line starts only, first line and last line without newline', () => {
    const rss = flatKeyScanner(['rss']);
    expect(rss('total_rss 5\nrss_huge 6\nrss 7', 'm')).toEqual([7n]);
    expect(rss('rss 8\ntotal_rss 5\n', 'm')).toEqual([8n]);
  });

  it('reports a missing key and the line of a bad value', () => {
    expect(parseError(() => scan('total_rss 1\n', 'm')).reason).toBe(
      'missing key total_inactive_file',
    );
    const e = parseError(() => scan('cache 1\ntotal_inactive_file 2\ntotal_rss -3\n', 'm'));
    expect(e.line).toBe(3);
    expect(e.reason).toMatch(/not an unsigned integer/);
  });
});

describe('cpu', () => {
  it('converts v2 usage_usec to ns, with or without the cpu controller keys', () => {
    expect(parseCpuStatV2('usage_usec 3795681254\nuser_usec 1\nsystem_usec 2\n', 'cpu.stat')).toBe(
      3795681254000n,
    );
    expect(parseCpuStatV2('usage_usec 18446744073709551\nnr_bursts 0\nburst_usec 0\n', 'c')).toBe(
      18446744073709551000n,
    );
  });

  it('requires usage_usec', () => {
    expect(parseError(() => parseCpuStatV2('user_usec 1\n', 'cpu.stat')).reason).toMatch(
      /usage_usec/,
    );
  });

  it('reads cpuacct.stat ticks', () => {
    expect(parseCpuacctStat('user 9512\nsystem 1217\n', 'cpuacct.stat')).toEqual({
      user: 9512n,
      system: 1217n,
    });
  });
});

describe('parseIoStat', () => {
  it('reads rbytes/wbytes and ignores iocost and io.latency keys', () => {
    expect(
      parseIoStat(
        '8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0 cost.vrate=100.00 cost.usage=41\n' +
          '8:0 rbytes=90430464 wbytes=299008000 rios=8950 wios=1252 dbytes=50331648 dios=3021 depth=64 avg_lat=1210 win=250\n',
        'io.stat',
      ),
    ).toEqual([
      { device: '8:16', readBytes: 1459200n, writeBytes: 314773504n },
      { device: '8:0', readBytes: 90430464n, writeBytes: 299008000n },
    ]);
  });

  it('accepts an empty file (no I/O yet)', () => {
    expect(parseIoStat('', 'io.stat')).toEqual([]);
    expect(parseIoStat('\n', 'io.stat')).toEqual([]);
  });

  it('keeps u64 byte counts exact', () => {
    expect(
      parseIoStat('259:0 rbytes=18446744073709551615 wbytes=0\n', 'io.stat')[0]?.readBytes,
    ).toBe(18446744073709551615n);
  });

  it('refuses garbage', () => {
    expect(parseError(() => parseIoStat('sda rbytes=1\n', 'io.stat')).reason).toMatch(/device/);
    expect(parseError(() => parseIoStat('8:0 rbytes=-1\n', 'io.stat')).line).toBe(1);
    expect(parseError(() => parseIoStat('8:0 rbytes\n', 'io.stat')).reason).toMatch(/key=value/);
  });
});

describe('parseBlkioServiceBytes', () => {
  it('skips Total lines and keeps Read/Write per device', () => {
    const devices = parseBlkioServiceBytes(
      '8:16 Read 0\n8:16 Write 655360\n8:16 Sync 49152\n8:16 Async 606208\n8:16 Total 655360\n' +
        '9:1 Read 10238894080\n9:1 Write 1\n9:1 Discard 0\n9:1 Total 10238894081\nTotal 3521628895744\n',
      'blkio.throttle.io_service_bytes_recursive',
    );
    expect(devices).toEqual([
      { device: '8:16', readBytes: 0n, writeBytes: 655360n },
      { device: '9:1', readBytes: 10238894080n, writeBytes: 1n },
    ]);
  });

  it('yields nothing for a file with only the Total line', () => {
    expect(parseBlkioServiceBytes('Total 0\n', 'f')).toEqual([]);
  });

  it('refuses unknown operations and garbage totals', () => {
    expect(parseError(() => parseBlkioServiceBytes('8:0 Frobnicate 1\n', 'f')).line).toBe(1);
    expect(parseError(() => parseBlkioServiceBytes('Total x\n', 'f')).line).toBe(1);
  });
});

describe('parseNetDev', () => {
  it('excludes lo and handles counters touching the colon', () => {
    const content =
      'Inter-|   Receive                                                |  Transmit\n' +
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n' +
      '    lo:    3345      32    0    0    0     0          0         0     3345      32    0    0    0     0       0          0\n' +
      '  eth0:1234567890123   26094    0    0    0     0          0         0  2081247   18031    0    0    0     0       0          0\n';
    expect(parseNetDev(content, 'net/dev')).toEqual([
      { iface: 'eth0', rxBytes: 1234567890123n, txBytes: 2081247n },
    ]);
  });

  it('requires the header and 16 counters per interface', () => {
    expect(parseError(() => parseNetDev('eth0: 1 2\n', 'net/dev')).reason).toMatch(/header/);
    const short = fixture('v2-cgroupfs-crio/proc/7001/net/dev').replace(/ 0\n$/, '\n');
    expect(parseError(() => parseNetDev(short, 'net/dev')).reason).toMatch(/16 counters/);
  });
});

describe('parseProcStatStarttime', () => {
  it('reads field 22', () => {
    expect(parseProcStatStarttime(fixture('proc-stat/plain'), 'stat')).toBe(4867112n);
  });

  it('survives a comm with spaces and parentheses', () => {
    expect(parseProcStatStarttime(fixture('proc-stat/tricky-comm'), 'stat')).toBe(
      18446744073709551615n,
    );
  });

  it('refuses truncated content', () => {
    expect(() => parseProcStatStarttime('42 (x) S 1 2', 'stat')).toThrow(CgroupParseError);
    expect(() => parseProcStatStarttime('garbage', 'stat')).toThrow(CgroupParseError);
  });
});

describe('small files', () => {
  it('parses cgroup.procs', () => {
    expect(parseCgroupProcs('1\n42\n', 'cgroup.procs')).toEqual([1, 42]);
    expect(parseCgroupProcs('', 'cgroup.procs')).toEqual([]);
    expect(parseError(() => parseCgroupProcs('1\nx\n', 'cgroup.procs')).line).toBe(2);
  });

  it('parses meminfo in bytes', () => {
    const m = parseMeminfo(fixture('v2-systemd-containerd/proc/meminfo'), 'meminfo');
    expect(m.get('MemTotal')).toBe(8133424n * 1024n);
    expect(m.get('Inactive(file)')).toBe(3888600n * 1024n);
    expect(m.get('HugePages_Total')).toBe(0n);
    expect(parseError(() => parseMeminfo('MemTotal: 1 MB\n', 'meminfo')).line).toBe(1);
  });
});
