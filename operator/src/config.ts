// Operator configuration from flags and environment variables (flags win), validated up front
// so a bad Deployment spec fails at start-up naming the setting. Env names match the chart.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { StoreOpenError, storeConfigFromEnv, type StoreConfig } from './store/open.ts';
import type { RetentionDays } from './store/accounting.ts';

export interface OperatorConfig {
  readonly kubeconfig?: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly logLevel: string;
  readonly leaderElection: boolean;
  readonly leaseName: string;
  readonly namespace: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** Headless Service of the agents (EndpointSlice discovery), unless agentSelector is set. */
  readonly agentService: string;
  /** Label selector of agent pods: discover by pods (status.podIP) instead of EndpointSlices. */
  readonly agentSelector?: string;
  readonly agentPort: number;
  readonly ledgerTokenFile: string;
  readonly intervalMs: number;
  /** TEST SEAM: see clock-file.ts. */
  readonly clockFile?: string;
  readonly shutdownTimeoutMs: number;
  /** The embedded file, or PostgreSQL when a URL is given. */
  readonly store: StoreConfig;
  /** Whole days each kind of row is kept. */
  readonly retention: RetentionDays;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const SETTINGS = {
  kubeconfig: { flag: 'kubeconfig', env: ['AGENTMETER_KUBECONFIG'] },
  listen: { flag: 'listen', env: ['AGENTMETER_LISTEN'], default: '0.0.0.0:8080' },
  logLevel: { flag: 'log-level', env: ['AGENTMETER_LOG_LEVEL'], default: 'info' },
  leaderElection: { flag: 'leader-election', env: ['AGENTMETER_LEADER_ELECTION'], default: 'true' },
  leaseName: { flag: 'lease-name', env: ['AGENTMETER_LEASE_NAME'], default: 'agentmeter-operator' },
  namespace: { flag: 'namespace', env: ['POD_NAMESPACE'], default: 'agentmeter' },
  identity: { flag: 'identity', env: ['POD_NAME'] },
  leaseDuration: { flag: 'lease-duration', env: ['AGENTMETER_LEASE_DURATION'], default: '15s' },
  renewDeadline: { flag: 'renew-deadline', env: ['AGENTMETER_RENEW_DEADLINE'], default: '10s' },
  retryPeriod: { flag: 'retry-period', env: ['AGENTMETER_RETRY_PERIOD'], default: '2s' },
  agentService: {
    flag: 'agent-service',
    env: ['AGENTMETER_AGENT_SERVICE'],
    default: 'agentmeter-agent',
  },
  agentSelector: { flag: 'agent-selector', env: ['AGENTMETER_AGENT_SELECTOR'] },
  agentPort: { flag: 'agent-port', env: ['AGENTMETER_AGENT_PORT'], default: '9464' },
  ledgerTokenFile: {
    flag: 'ledger-token-file',
    env: ['AGENTMETER_LEDGER_TOKEN_FILE'],
    default: '/var/run/secrets/agentmeter/ledger/token',
  },
  interval: { flag: 'interval', env: ['AGENTMETER_COLLECT_INTERVAL'], default: '10s' },
  clockFile: { flag: 'clock-file', env: ['AGENTMETER_CLOCK_FILE'] },
  shutdownTimeout: {
    flag: 'shutdown-timeout',
    env: ['AGENTMETER_SHUTDOWN_TIMEOUT'],
    default: '20s',
  },
  storeUrl: { flag: 'store-url', env: ['AGENTMETER_STORE_URL'] },
  storePath: {
    flag: 'store-path',
    env: ['AGENTMETER_STORE_PATH'],
    default: '/var/lib/agentmeter/store.db',
  },
  retentionCalls: {
    flag: 'retention-calls',
    env: ['AGENTMETER_RETENTION_CALLS'],
    default: '30d',
  },
  retentionSessions: {
    flag: 'retention-sessions',
    env: ['AGENTMETER_RETENTION_SESSIONS'],
    default: '90d',
  },
  retentionRollups: {
    flag: 'retention-rollups',
    env: ['AGENTMETER_RETENTION_ROLLUPS'],
    default: '800d',
  },
} as const;

type Key = keyof typeof SETTINGS;

export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = m[2] as 'ms' | 's' | 'm' | 'h' | 'd';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit];
  return Number(m[1]) * factor;
}

export function configUsage(): string {
  return Object.values(SETTINGS)
    .map(
      (s) =>
        `  --${s.flag.padEnd(20)} env ${s.env.join(', ')}${'default' in s ? ` (default ${s.default})` : ''}`,
    )
    .join('\n');
}

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(
      Object.values(SETTINGS).map((s) => [s.flag, { type: 'string' as const }]),
    ),
    strict: true,
  });
  const raw = (key: Key): { source: string; value: string | undefined } => {
    const s = SETTINGS[key];
    const flag = values[s.flag];
    if (typeof flag === 'string') return { source: `--${s.flag}`, value: flag };
    for (const name of s.env) if (env[name]) return { source: name, value: env[name] };
    return { source: `--${s.flag}`, value: 'default' in s ? s.default : undefined };
  };
  const str = (key: Key): string | undefined => raw(key).value;
  const duration = (key: Key): number => {
    const { source, value } = raw(key);
    const ms = value === undefined ? undefined : parseDurationMs(value);
    if (ms === undefined || ms <= 0)
      throw new ConfigError(
        `${source}: invalid duration ${JSON.stringify(value)}: expected e.g. 500ms, 10s, 1m`,
      );
    return ms;
  };
  const { source: listenSource, value: listenText = '' } = raw('listen');
  const lm = /^(.*):(\d{1,5})$/.exec(listenText);
  const port = lm ? Number(lm[2]) : NaN;
  if (!lm || port > 65535)
    throw new ConfigError(
      `${listenSource}: invalid address ${JSON.stringify(listenText)}: expected host:port`,
    );
  const { source: portSource, value: portText = '' } = raw('agentPort');
  const agentPort = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || agentPort < 1 || agentPort > 65535)
    throw new ConfigError(`${portSource}: invalid port ${JSON.stringify(portText)}`);
  const le = str('leaderElection');
  if (le !== 'true' && le !== 'false')
    throw new ConfigError(
      `${raw('leaderElection').source}: expected true or false, got ${JSON.stringify(le)}`,
    );
  const kubeconfig = str('kubeconfig');
  const agentSelector = str('agentSelector');
  const clockFile = str('clockFile');
  const days = (key: Key): number => {
    const { source, value = '' } = raw(key);
    const m = /^(\d+)d$/.exec(value.trim());
    if (!m || Number(m[1]) < 1)
      throw new ConfigError(
        `${source}: invalid retention ${JSON.stringify(value)}: expected whole days, e.g. 30d`,
      );
    return Number(m[1]);
  };
  let store: StoreConfig;
  try {
    store = storeConfigFromEnv({
      AGENTMETER_STORE_URL: str('storeUrl'),
      AGENTMETER_STORE_PATH: str('storePath'),
    });
  } catch (err) {
    if (err instanceof StoreOpenError) throw new ConfigError(`--store-url: ${err.message}`);
    throw err;
  }
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    listen: { host: (lm[1] as string).replace(/^\[(.*)\]$/, '$1'), port },
    logLevel: str('logLevel') as string,
    leaderElection: le === 'true',
    leaseName: str('leaseName') as string,
    namespace: str('namespace') as string,
    identity: str('identity') ?? `${hostname()}-${process.pid}`,
    leaseDurationMs: duration('leaseDuration'),
    renewDeadlineMs: duration('renewDeadline'),
    retryPeriodMs: duration('retryPeriod'),
    agentService: str('agentService') as string,
    ...(agentSelector ? { agentSelector } : {}),
    agentPort,
    ledgerTokenFile: str('ledgerTokenFile') as string,
    intervalMs: duration('interval'),
    ...(clockFile ? { clockFile } : {}),
    shutdownTimeoutMs: duration('shutdownTimeout'),
    store,
    retention: {
      calls: days('retentionCalls'),
      sessions: days('retentionSessions'),
      rollups: days('retentionRollups'),
    },
  };
}
