import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parseDuration } from './config.ts';

const root = mkdtempSync(join(tmpdir(), 'agentmeter-config-'));
const state = join(root, 'state');
const cgroup = join(root, 'cgroup');
const proc = join(root, 'proc');
const sys = join(root, 'sys');
const readOnly = join(root, 'readonly');
for (const d of [state, cgroup, proc, sys, readOnly]) mkdirSync(d);
chmodSync(readOnly, 0o555);
// Root passes the mode bits, so for root the directory is made immutable as well: access(2) then
// refuses a write with EPERM, as 0555 refuses anyone else with EACCES.
const isRoot = process.getuid?.() === 0;
if (isRoot) execFileSync('chattr', ['+i', readOnly]);
const kubeconfig = join(root, 'kubeconfig');
writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');
const aFile = join(root, 'file');
writeFileSync(aFile, '');
afterAll(() => {
  if (isRoot) execFileSync('chattr', ['-i', readOnly]);
  rmSync(root, { recursive: true, force: true });
});

const dirs: Record<string, string> = {
  'state-dir': state,
  'cgroup-root': cgroup,
  'proc-root': proc,
  'sys-root': sys,
};
/** Flags for a valid config, with some overridden (undefined drops the flag). */
function args(overrides: Record<string, string | undefined> = {}): string[] {
  return Object.entries({ ...dirs, ...overrides })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `--${k}=${v}`);
}
const good = args();
const env = { NODE_NAME: 'node-a' };

describe('parseConfig', () => {
  it('applies defaults', () => {
    const c = parseConfig(good, env);
    expect(c).toEqual({
      nodeName: 'node-a',
      stateDir: state,
      tickMs: 10_000,
      listen: { host: '0.0.0.0', port: 9464 },
      metricsListen: { host: '0.0.0.0', port: 9465 },
      healthListen: { host: '0.0.0.0', port: 9466 },
      cgroupRoot: cgroup,
      procRoot: proc,
      sysRoot: sys,
      ledgerSegmentBytes: 64 * 1024 * 1024,
      ledgerRetentionMs: 7 * 24 * 3600 * 1000,
      logLevel: 'info',
      shutdownTimeoutMs: 20_000,
      otlpListen: { host: '0.0.0.0', port: 4318 },
      otlpMaxBodyBytes: 8 * 1024 * 1024,
      sessionWatermarkTicks: 2,
      callDedupeWindowMs: 30 * 60_000,
      trustedProxies: [],
      gpu: 'auto',
      nvidiaSmi: 'nvidia-smi',
      podResourcesSocket: '/var/lib/kubelet/pod-resources/kubelet.sock',
      ledgerApiAudience: 'agentmeter',
      ledgerIntervalMs: 10_000,
      heapCapBytes: 6 * 1024 * 1024,
    });
  });

  it('takes trusted proxies as CIDRs, a bare address as a single host', () => {
    expect(
      parseConfig([...good, '--trusted-proxies=10.1.0.0/16, fd00::1'], env).trustedProxies,
    ).toEqual([
      { address: '10.1.0.0', prefix: 16, family: 'ipv4' },
      { address: 'fd00::1', prefix: 128, family: 'ipv6' },
    ]);
  });

  it('takes the call dedupe window as a duration, from the flag or the environment', () => {
    expect(parseConfig([...good, '--call-dedupe-window=2h'], env).callDedupeWindowMs).toBe(
      2 * 3_600_000,
    );
    expect(
      parseConfig(good, { ...env, AGENTMETER_CALL_DEDUPE_WINDOW: '1m' }).callDedupeWindowMs,
    ).toBe(60_000);
  });

  it('takes a heap cap in bytes, or 0 for none', () => {
    expect(parseConfig([...good, '--heap-cap=4Mi'], env).heapCapBytes).toBe(4 * 1024 * 1024);
    expect(parseConfig(good, { ...env, AGENTMETER_HEAP_CAP: '0' }).heapCapBytes).toBe(0);
  });

  it.each([
    ['--session-watermark-ticks=31', /--session-watermark-ticks: invalid value "31"/],
    ['--session-watermark-ticks=-1', /--session-watermark-ticks: invalid value "-1"/],
    [
      '--call-dedupe-window=30s',
      /--call-dedupe-window: invalid value "30s": expected a duration from 1m to 6h/,
    ],
    ['--call-dedupe-window=7h', /--call-dedupe-window: invalid value "7h"/],
    ['--call-dedupe-window=half an hour', /--call-dedupe-window: invalid value "half an hour"/],
    [
      '--trusted-proxies=10.0.0.0/33',
      /--trusted-proxies: invalid value "10.0.0.0\/33": expected comma-separated CIDRs/,
    ],
    ['--trusted-proxies=proxy.local', /--trusted-proxies: invalid value "proxy.local"/],
    ['--otlp-max-body=100Gi', /--otlp-max-body: invalid value "100Gi"/],
    [
      '--heap-cap=512Ki',
      /--heap-cap: invalid value "512Ki": expected a size from 1Mi to 1Gi, or 0/,
    ],
    ['--heap-cap=-1', /--heap-cap: invalid value "-1"/],
    ['--otlp-listen=4318', /--otlp-listen: invalid value "4318"/],
    ['--gpu=maybe', /--gpu: invalid value "maybe": expected auto, on or off/],
    ['--pod-resources-socket=kubelet.sock', /--pod-resources-socket: invalid value/],
    ['--dcgm-url=ftp://x', /--dcgm-url: invalid value "ftp:\/\/x"/],
  ])('refuses %s', (flag, message) => {
    expect(() => parseConfig([...good, flag], env)).toThrow(message);
  });

  it('refuses a call dedupe window longer than the ledger retention (the rebuild reads it)', () => {
    expect(() =>
      parseConfig([...good, '--call-dedupe-window=2h', '--ledger-retention=1h'], env),
    ).toThrow(
      /--call-dedupe-window: invalid value "2h": expected at most the ledger retention \(1h\)/,
    );
  });

  it('reads environment variables, AGENTMETER_NODE_NAME over NODE_NAME', () => {
    const c = parseConfig(good, {
      AGENTMETER_NODE_NAME: 'from-agentmeter',
      NODE_NAME: 'from-downward-api',
      AGENTMETER_LISTEN: '[::1]:0',
      AGENTMETER_KUBECONFIG: kubeconfig,
      AGENTMETER_LEDGER_SEGMENT_BYTES: '1048576',
      AGENTMETER_LEDGER_RETENTION: '1d12h',
      AGENTMETER_LOG_LEVEL: 'debug',
    });
    expect(c.nodeName).toBe('from-agentmeter');
    expect(c.listen).toEqual({ host: '::1', port: 0 });
    expect(c.kubeconfig).toBe(kubeconfig);
    expect(c.ledgerSegmentBytes).toBe(1048576);
    expect(c.ledgerRetentionMs).toBe(36 * 3600 * 1000);
    expect(c.logLevel).toBe('debug');
  });

  it('takes the tick from a flag over the environment', () => {
    expect(parseConfig([...good, '--tick', '1m'], { ...env, AGENTMETER_TICK: '30s' }).tickMs).toBe(
      60_000,
    );
    expect(parseConfig(good, { ...env, AGENTMETER_TICK: '30s' }).tickMs).toBe(30_000);
  });

  const bad: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    [
      'missing node name',
      good,
      {},
      /--node-name \(or AGENTMETER_NODE_NAME or NODE_NAME\) is required/,
    ],
    ['empty NODE_NAME', good, { NODE_NAME: '' }, /is required: expected the name of this node/],
    [
      'upper-case node name',
      good,
      { NODE_NAME: 'Node_A' },
      /NODE_NAME: invalid value "Node_A": expected a Kubernetes node name/,
    ],
    [
      'float tick',
      [...good, '--tick=1.5s'],
      env,
      /--tick: invalid value "1.5s": expected a duration from 1s to 5m/,
    ],
    [
      'tick without unit',
      [...good, '--tick=10'],
      env,
      /--tick: invalid value "10".*units ms, s, m, h or d/,
    ],
    [
      'tick too short',
      [...good, '--tick=999ms'],
      env,
      /--tick: invalid value "999ms": expected a duration from 1s to 5m/,
    ],
    ['tick too long', [...good, '--tick=5m1s'], env, /--tick: invalid value "5m1s"/],
    [
      'negative tick from env',
      good,
      { ...env, AGENTMETER_TICK: '-10s' },
      /AGENTMETER_TICK: invalid value "-10s"/,
    ],
    ['tick with spaces', [...good, '--tick=10 s'], env, /--tick: invalid value "10 s"/],
    [
      'listen without port',
      [...good, '--listen=0.0.0.0'],
      env,
      /--listen: invalid value "0.0.0.0": expected host:port/,
    ],
    [
      'listen port too big',
      [...good, '--listen=0.0.0.0:65536'],
      env,
      /--listen: invalid value "0.0.0.0:65536"/,
    ],
    [
      'listen unbracketed IPv6',
      [...good, '--listen=:::9100'],
      env,
      /--listen: invalid value ":::9100"/,
    ],
    ['listen empty host', [...good, '--listen=:9100'], env, /--listen: invalid value ":9100"/],
    [
      'listen bad bracketed',
      [...good, '--listen=[nope]:9100'],
      env,
      /--listen: invalid value "\[nope\]:9100"/,
    ],
    [
      'relative state dir',
      args({ 'state-dir': 'state' }),
      env,
      /--state-dir: invalid value "state": expected an absolute path/,
    ],
    [
      'missing state dir',
      args({ 'state-dir': `${root}/nope` }),
      env,
      /--state-dir: .*existing directory the agent can write to \(ENOENT\)/,
    ],
    [
      'state dir is a file',
      args({ 'state-dir': aFile }),
      env,
      /--state-dir: .*\(it is not a directory\)/,
    ],
    [
      'missing cgroup root',
      args({ 'cgroup-root': `${root}/none` }),
      env,
      /--cgroup-root: .*existing readable directory \(ENOENT\)/,
    ],
    ['missing proc root', args({ 'proc-root': `${root}/none` }), env, /--proc-root: /],
    [
      'sys root from env is a file',
      args({ 'sys-root': undefined }),
      { ...env, AGENTMETER_SYS_ROOT: aFile },
      /AGENTMETER_SYS_ROOT: .*not a directory/,
    ],
    [
      'missing kubeconfig',
      [...good, `--kubeconfig=${root}/kc`],
      env,
      /--kubeconfig: .*readable kubeconfig file \(ENOENT\)/,
    ],
    [
      'segment size float',
      [...good, '--ledger-segment-bytes=1.5Mi'],
      env,
      /--ledger-segment-bytes: invalid value "1.5Mi": expected a size from 1Mi to 1Gi/,
    ],
    [
      'segment size too small',
      [...good, '--ledger-segment-bytes=1000'],
      env,
      /--ledger-segment-bytes: invalid value "1000"/,
    ],
    [
      'segment size decimal unit',
      [...good, '--ledger-segment-bytes=64MB'],
      env,
      /optionally with Ki, Mi or Gi/,
    ],
    [
      'retention too short',
      [...good, '--ledger-retention=59m'],
      env,
      /--ledger-retention: invalid value "59m": expected a duration from 1h to 366d/,
    ],
    [
      'log level',
      [...good, '--log-level=verbose'],
      env,
      /--log-level: invalid value "verbose": expected one of fatal, error, warn, info, debug, trace/,
    ],
    [
      'shutdown timeout zero',
      [...good, '--shutdown-timeout=0s'],
      env,
      /--shutdown-timeout: invalid value "0s"/,
    ],
    [
      'unknown flag',
      [...good, '--tik=10s'],
      env,
      /^command line: Unknown option '--tik'.*\nflags:\n {2}--node-name/,
    ],
    ['positional argument', [...good, 'extra'], env, /^command line: Unexpected argument 'extra'/],
    [
      'flag without value',
      [...good, '--tick'],
      env,
      /^command line: Option '--tick <value>' argument missing/,
    ],
    [
      'repeated flag',
      [...good, '--tick=10s', '--tick=20s'],
      env,
      /--tick: invalid value "20s": expected the flag at most once/,
    ],
    [
      'read-only state dir',
      args({ 'state-dir': readOnly }),
      env,
      isRoot ? /--state-dir: .*\(EPERM\)/ : /--state-dir: .*\(EACCES\)/,
    ],
  ];

  it.each(bad)('rejects %s', (_name, argv, environment, message) => {
    let error: unknown;
    try {
      parseConfig(argv, environment);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(message);
  });

  it('names the setting, value and expectation on the error', () => {
    try {
      parseConfig([...good, '--tick=2h'], env);
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({
        setting: '--tick',
        value: '2h',
        expected: expect.stringContaining('1s to 5m'),
      });
    }
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['1h1ms', 3_600_001],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '10', '1.5s', 's', '-1s', '10 s', '1w', '10S', '1e3ms', '99999999999999999999d'])(
    'rejects %j',
    (text) => expect(parseDuration(text)).toBeUndefined(),
  );
});
