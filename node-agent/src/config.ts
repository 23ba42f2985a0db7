// Agent configuration from flags and environment variables (flags win). Every value is
// validated up front so a bad DaemonSet spec fails at start-up with a message naming the
// setting, the value and what is allowed, instead of misbehaving at the first tick.
import { accessSync, constants, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { LOG_LEVELS } from './log.ts';
import type { LogLevel } from './log.ts';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

export interface AgentConfig {
  readonly nodeName: string;
  /** Writable directory holding the ledger and counter checkpoints. */
  readonly stateDir: string;
  readonly tickMs: number;
  readonly listen: ListenAddress;
  /** /metrics on its own port, so a NetworkPolicy can admit Prometheus there and nothing else. */
  readonly metricsListen: ListenAddress;
  /** /healthz and /readyz, on a listener of their own (runtime/health-server.ts). */
  readonly healthListen: ListenAddress;
  /** Explicit kubeconfig; absent means KUBECONFIG or in-cluster (see loadKubeConfig). */
  readonly kubeconfig?: string;
  readonly cgroupRoot: string;
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly ledgerSegmentBytes: number;
  readonly ledgerRetentionMs: number;
  readonly logLevel: LogLevel;
  /** Upper bound for the SIGTERM drain (final tick, ledger flush, server close). */
  readonly shutdownTimeoutMs: number;
  /** OTLP/HTTP receiver (`/v1/traces`); pods reach their own node's agent here. */
  readonly otlpListen: ListenAddress;
  /** Largest accepted OTLP request body after decompression. */
  readonly otlpMaxBodyBytes: number;
  /** Ticks a measured tick waits for late spans before it is split and written. */
  readonly sessionWatermarkTicks: number;
  /** How long, by span end time, a call is remembered for exactly-once counting; calls that
   * ended earlier are refused as stale. At most the ledger retention (the rebuild reads it). */
  readonly callDedupeWindowMs: number;
  /** CIDRs (admin-listed proxies) whose spans may claim a pod by `k8s.pod.uid`; from any
   * other address that is not a live pod of this node, spans are refused. Empty by default. */
  readonly trustedProxies: readonly Cidr[];
  /** GPU metering: `auto` turns it on when nvidia-smi can be found. */
  readonly gpu: 'auto' | 'on' | 'off';
  readonly nvidiaSmi: string;
  /** The kubelet's PodResources socket; its directory is what the DaemonSet mounts. */
  readonly podResourcesSocket: string;
  /** Optional dcgm-exporter on this node, for MIG and profiling-grade utilisation. */
  readonly dcgmUrl?: string;
  /** Audience a caller's token must carry for the operator API (ledger pull, acks). */
  readonly ledgerApiAudience: string;
  /** How much measured time one ledger batch covers; at least one tick. */
  readonly ledgerIntervalMs: number;
  /** Heap growth above the live size that makes the agent collect between ticks; 0 = off. */
  readonly heapCapBytes: number;
}

/** A setting with a bad value; `setting` is the flag or environment variable it came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly setting: string;
  readonly value: string | undefined;
  readonly expected: string;

  constructor(setting: string, value: string | undefined, expected: string, message?: string) {
    super(
      message ??
        (value === undefined
          ? `${setting} is required: expected ${expected}`
          : `${setting}: invalid value ${JSON.stringify(value)}: expected ${expected}`),
    );
    this.setting = setting;
    this.value = value;
    this.expected = expected;
  }
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MI = 1024 * 1024;

interface Setting {
  readonly flag: string;
  readonly env: readonly string[];
  readonly default?: string;
}

const SETTINGS = {
  nodeName: { flag: 'node-name', env: ['AGENTMETER_NODE_NAME', 'NODE_NAME'] },
  stateDir: { flag: 'state-dir', env: ['AGENTMETER_STATE_DIR'], default: '/var/lib/agentmeter' },
  tick: { flag: 'tick', env: ['AGENTMETER_TICK'], default: '10s' },
  listen: { flag: 'listen', env: ['AGENTMETER_LISTEN'], default: '0.0.0.0:9464' },
  metricsListen: {
    flag: 'metrics-listen',
    env: ['AGENTMETER_METRICS_LISTEN'],
    default: '0.0.0.0:9465',
  },
  healthListen: {
    flag: 'health-listen',
    env: ['AGENTMETER_HEALTH_LISTEN'],
    default: '0.0.0.0:9466',
  },
  kubeconfig: { flag: 'kubeconfig', env: ['AGENTMETER_KUBECONFIG'] },
  cgroupRoot: { flag: 'cgroup-root', env: ['AGENTMETER_CGROUP_ROOT'], default: '/sys/fs/cgroup' },
  procRoot: { flag: 'proc-root', env: ['AGENTMETER_PROC_ROOT'], default: '/proc' },
  sysRoot: { flag: 'sys-root', env: ['AGENTMETER_SYS_ROOT'], default: '/sys' },
  ledgerSegmentBytes: {
    flag: 'ledger-segment-bytes',
    env: ['AGENTMETER_LEDGER_SEGMENT_BYTES'],
    default: '64Mi',
  },
  ledgerRetention: {
    flag: 'ledger-retention',
    env: ['AGENTMETER_LEDGER_RETENTION'],
    default: '7d',
  },
  logLevel: { flag: 'log-level', env: ['AGENTMETER_LOG_LEVEL'], default: 'info' },
  shutdownTimeout: {
    flag: 'shutdown-timeout',
    env: ['AGENTMETER_SHUTDOWN_TIMEOUT'],
    default: '20s',
  },
  otlpListen: { flag: 'otlp-listen', env: ['AGENTMETER_OTLP_LISTEN'], default: '0.0.0.0:4318' },
  otlpMaxBody: { flag: 'otlp-max-body', env: ['AGENTMETER_OTLP_MAX_BODY'], default: '8Mi' },
  sessionWatermark: {
    flag: 'session-watermark-ticks',
    env: ['AGENTMETER_SESSION_WATERMARK_TICKS'],
    default: '2',
  },
  callDedupeWindow: {
    flag: 'call-dedupe-window',
    env: ['AGENTMETER_CALL_DEDUPE_WINDOW'],
    default: '30m',
  },
  trustedProxies: { flag: 'trusted-proxies', env: ['AGENTMETER_TRUSTED_PROXIES'], default: '' },
  gpu: { flag: 'gpu', env: ['AGENTMETER_GPU'], default: 'auto' },
  nvidiaSmi: { flag: 'nvidia-smi', env: ['AGENTMETER_NVIDIA_SMI'], default: 'nvidia-smi' },
  podResourcesSocket: {
    flag: 'pod-resources-socket',
    env: ['AGENTMETER_POD_RESOURCES_SOCKET'],
    default: '/var/lib/kubelet/pod-resources/kubelet.sock',
  },
  dcgmUrl: { flag: 'dcgm-url', env: ['AGENTMETER_DCGM_URL'] },
  heapCap: { flag: 'heap-cap', env: ['AGENTMETER_HEAP_CAP'], default: '6Mi' },
  ledgerInterval: {
    flag: 'ledger-interval',
    env: ['AGENTMETER_LEDGER_INTERVAL'],
    default: '10s',
  },
  ledgerApiAudience: {
    flag: 'ledger-api-audience',
    env: ['AGENTMETER_LEDGER_API_AUDIENCE'],
    default: 'agentmeter',
  },
} as const satisfies Record<string, Setting>;

/** Flags and their environment variables, for `--help` output and docs. */
export function configUsage(): string {
  return Object.values(SETTINGS)
    .map((s: Setting) => {
      const def = s.default === undefined ? '' : ` (default ${s.default})`;
      return `  --${s.flag.padEnd(22)} env ${s.env.join(' or ')}${def}`;
    })
    .join('\n');
}

/** Parses and validates; throws ConfigError on the first bad value. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): AgentConfig {
  const flags = parseFlags(argv);
  const read = (s: Setting): { value: string | undefined; source: string } => {
    const flag = flags.get(s.flag);
    if (flag !== undefined) return { value: flag, source: `--${s.flag}` };
    for (const name of s.env) {
      // Empty counts as unset: the downward API yields '' for a missing field.
      const v = env[name];
      if (v !== undefined && v !== '') return { value: v, source: name };
    }
    return { value: s.default, source: `--${s.flag}` };
  };
  const required = (s: Setting): { value: string; source: string } => {
    const r = read(s);
    if (r.value === undefined) {
      throw new ConfigError(
        `--${s.flag} (or ${s.env.join(' or ')})`,
        undefined,
        'the name of this node',
      );
    }
    return { value: r.value, source: r.source };
  };

  const nodeName = required(SETTINGS.nodeName);
  if (!isDnsSubdomain(nodeName.value)) {
    throw new ConfigError(
      nodeName.source,
      nodeName.value,
      'a Kubernetes node name (lower-case RFC 1123 subdomain)',
    );
  }
  const stateDir = read(SETTINGS.stateDir);
  const tick = read(SETTINGS.tick);
  const listen = read(SETTINGS.listen);
  const kubeconfig = read(SETTINGS.kubeconfig);
  const cgroupRoot = read(SETTINGS.cgroupRoot);
  const procRoot = read(SETTINGS.procRoot);
  const sysRoot = read(SETTINGS.sysRoot);
  const segment = read(SETTINGS.ledgerSegmentBytes);
  const retention = read(SETTINGS.ledgerRetention);
  const logLevel = read(SETTINGS.logLevel);
  const shutdown = read(SETTINGS.shutdownTimeout);
  const otlpListen = read(SETTINGS.otlpListen);
  const otlpMaxBody = read(SETTINGS.otlpMaxBody);
  const watermark = read(SETTINGS.sessionWatermark);
  const dedupeWindow = read(SETTINGS.callDedupeWindow);
  const trusted = read(SETTINGS.trustedProxies);
  const metricsListen = read(SETTINGS.metricsListen);
  const healthListen = read(SETTINGS.healthListen);
  if (!/^(?:[0-9]|[12][0-9]|30)$/.test(watermark.value ?? '')) {
    throw new ConfigError(
      watermark.source,
      watermark.value,
      'a whole number of ticks from 0 to 30',
    );
  }
  const gpu = read(SETTINGS.gpu);
  const nvidiaSmi = read(SETTINGS.nvidiaSmi);
  const podResources = read(SETTINGS.podResourcesSocket);
  const dcgm = read(SETTINGS.dcgmUrl);
  if (gpu.value !== 'auto' && gpu.value !== 'on' && gpu.value !== 'off') {
    throw new ConfigError(gpu.source, gpu.value, 'auto, on or off');
  }
  if (!(podResources.value ?? '').startsWith('/')) {
    throw new ConfigError(
      podResources.source,
      podResources.value,
      'an absolute path to the kubelet pod-resources socket',
    );
  }
  if (dcgm.value !== undefined && !/^https?:\/\/[^\s/]+(\/\S*)?$/.test(dcgm.value)) {
    throw new ConfigError(
      dcgm.source,
      dcgm.value,
      'an http(s) URL of dcgm-exporter, e.g. http://127.0.0.1:9400/metrics',
    );
  }
  const heapCap = read(SETTINGS.heapCap);
  const audience = read(SETTINGS.ledgerApiAudience);
  const ledgerInterval = read(SETTINGS.ledgerInterval);
  if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$/.test(audience.value ?? '')) {
    throw new ConfigError(audience.source, audience.value, 'a token audience such as agentmeter');
  }

  const ledgerRetentionMs = durationIn(retention, HOUR, 366 * DAY, '1h to 366d');
  const callDedupeWindowMs = durationIn(dedupeWindow, MINUTE, 6 * HOUR, '1m to 6h');
  if (callDedupeWindowMs > ledgerRetentionMs) {
    // After a restart the window is rebuilt from the ledger's calls entries: they must be there.
    throw new ConfigError(
      dedupeWindow.source,
      dedupeWindow.value,
      `at most the ledger retention (${retention.value ?? ''})`,
    );
  }

  const level = logLevel.value as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    throw new ConfigError(logLevel.source, logLevel.value, `one of ${LOG_LEVELS.join(', ')}`);
  }
  return {
    nodeName: nodeName.value,
    stateDir: directory(stateDir, true),
    tickMs: durationIn(tick, SECOND, 5 * MINUTE, '1s to 5m'),
    listen: parseListen(listen.source, listen.value ?? ''),
    metricsListen: parseListen(metricsListen.source, metricsListen.value ?? ''),
    healthListen: parseListen(healthListen.source, healthListen.value ?? ''),
    ...(kubeconfig.value !== undefined ? { kubeconfig: readableFile(kubeconfig) } : {}),
    cgroupRoot: directory(cgroupRoot, false),
    procRoot: directory(procRoot, false),
    sysRoot: directory(sysRoot, false),
    ledgerSegmentBytes: byteSize(segment, MI, 1024 * MI, '1Mi to 1Gi'),
    ledgerRetentionMs,
    logLevel: level,
    shutdownTimeoutMs: durationIn(shutdown, SECOND, 5 * MINUTE, '1s to 5m'),
    otlpListen: parseListen(otlpListen.source, otlpListen.value ?? ''),
    otlpMaxBodyBytes: byteSize(otlpMaxBody, 1024, 64 * MI, '1Ki to 64Mi'),
    sessionWatermarkTicks: Number(watermark.value),
    callDedupeWindowMs,
    trustedProxies: parseCidrs(trusted.source, trusted.value ?? ''),
    gpu: gpu.value,
    nvidiaSmi: nvidiaSmi.value ?? 'nvidia-smi',
    podResourcesSocket: podResources.value ?? '',
    ...(dcgm.value !== undefined ? { dcgmUrl: dcgm.value } : {}),
    ledgerApiAudience: audience.value ?? 'agentmeter',
    ledgerIntervalMs: durationIn(ledgerInterval, SECOND, 5 * MINUTE, '1s to 5m'),
    heapCapBytes: heapCap.value === '0' ? 0 : byteSize(heapCap, MI, 1024 * MI, '1Mi to 1Gi, or 0'),
  };
}

function parseFlags(argv: readonly string[]): Map<string, string> {
  const options = Object.fromEntries(
    Object.values(SETTINGS).map((s: Setting) => [s.flag, { type: 'string' as const }]),
  );
  let tokens;
  try {
    ({ tokens } = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: false,
      tokens: true,
    }));
  } catch (err) {
    // node:util's message names the offending argument ("Unknown option '--tik'", …).
    const reason = (err as Error).message;
    throw new ConfigError(
      'command line',
      undefined,
      'known flags, each with a value',
      `command line: ${reason}\nflags:\n${configUsage()}`,
    );
  }
  const flags = new Map<string, string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (flags.has(token.name)) {
      throw new ConfigError(`--${token.name}`, token.value, 'the flag at most once');
    }
    flags.set(token.name, token.value ?? '');
  }
  return flags;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY };

/**
 * `500ms`, `10s`, `1m30s`, `7d` → integer milliseconds. Whole numbers only (no `1.5s`), each
 * with a unit; undefined when the text is not such a duration.
 */
export function parseDuration(text: string): number | undefined {
  if (!/^(?:\d+(?:ms|s|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, digits, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
    total += Number(digits) * (DURATION_UNITS[unit ?? ''] ?? Number.NaN);
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

function durationIn(
  r: { value: string | undefined; source: string },
  min: number,
  max: number,
  range: string,
): number {
  const ms = parseDuration(r.value ?? '');
  if (ms === undefined || ms < min || ms > max) {
    throw new ConfigError(
      r.source,
      r.value,
      `a duration from ${range} written as whole numbers with units ms, s, m, h or d (e.g. 500ms, 10s, 1m30s)`,
    );
  }
  return ms;
}

const SIZE_UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: MI, Gi: 1024 * MI };

function byteSize(
  r: { value: string | undefined; source: string },
  min: number,
  max: number,
  range: string,
): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(r.value ?? '');
  const bytes = m ? Number(m[1]) * (SIZE_UNITS[m[2] ?? ''] ?? Number.NaN) : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < min || bytes > max) {
    throw new ConfigError(
      r.source,
      r.value,
      `a size from ${range}: whole bytes, optionally with Ki, Mi or Gi (e.g. 64Mi)`,
    );
  }
  return bytes;
}

/** A comma-separated list of CIDRs (`10.1.0.0/16,fd00::/64`); a bare address is a /32 or /128. */
export function parseCidrs(source: string, text: string): Cidr[] {
  const out: Cidr[] = [];
  for (const item of text.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    const [address = '', prefixText, ...rest] = item.split('/');
    const version = isIP(address);
    const max = version === 6 ? 128 : 32;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (
      version === 0 ||
      rest.length > 0 ||
      (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) ||
      prefix > max
    ) {
      throw new ConfigError(source, text, 'comma-separated CIDRs, e.g. 10.1.0.0/16,fd00::/64');
    }
    out.push({ address, prefix, family: version === 6 ? 'ipv6' : 'ipv4' });
  }
  return out;
}

/** `host:port` with an IPv4 address, a host name or a bracketed IPv6 address; port 0–65535. */
export function parseListen(source: string, text: string): ListenAddress {
  const expected = 'host:port, e.g. 0.0.0.0:9464, [::]:9464 or localhost:9464 (port 0-65535)';
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  const hostOk =
    m?.[1] !== undefined
      ? isIP(m[1]) === 6
      : host !== undefined && (isIP(host) === 4 || isDnsSubdomain(host));
  if (!m || !host || !hostOk || !Number.isInteger(port) || port > 65535) {
    throw new ConfigError(source, text, expected);
  }
  return { host, port };
}

function isDnsSubdomain(name: string): boolean {
  return (
    name.length <= 253 &&
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)
  );
}

function directory(r: { value: string | undefined; source: string }, writable: boolean): string {
  const path = r.value ?? '';
  const what = writable
    ? 'an existing directory the agent can write to'
    : 'an existing readable directory';
  if (!path.startsWith('/'))
    throw new ConfigError(r.source, r.value, `an absolute path to ${what}`);
  try {
    if (!statSync(path).isDirectory())
      throw new ConfigError(r.source, r.value, `${what} (it is not a directory)`);
    accessSync(
      path,
      writable ? constants.R_OK | constants.W_OK | constants.X_OK : constants.R_OK | constants.X_OK,
    );
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      r.source,
      r.value,
      `${what} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  return path;
}

function readableFile(r: { value: string | undefined; source: string }): string {
  const path = r.value ?? '';
  try {
    if (!statSync(path).isFile())
      throw new ConfigError(r.source, r.value, 'a readable kubeconfig file (it is not a file)');
    accessSync(path, constants.R_OK);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      r.source,
      r.value,
      `a readable kubeconfig file (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  return path;
}
