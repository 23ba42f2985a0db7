// Shared by the Prometheus suites: the chart's rules rendered by Helm, promtool, Prometheus as a
// child process on loopback (Debian's, or upstream's built with Kubernetes service discovery),
// and the dashboards' queries.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { freePort } from '../support/agent-process.ts';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const chartDir = join(repoRoot, 'charts', 'agentmeter');
export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';
/** Job names of the test scrape config; the rules are rendered to select them. */
export const AGENT_JOB = 'agentmeter-agent';
export const OPERATOR_JOB = 'agentmeter-operator';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: readonly string[], cwd = repoRoot): Promise<RunResult> {
  return new Promise((done) => {
    execFile(cmd, [...args], { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** Fails with the fix when Debian's Prometheus is missing (hack/test.sh installs it). */
export function requirePrometheus(): void {
  for (const bin of [PROMETHEUS, PROMTOOL]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run bash hack/ensure-prometheus.sh`);
  }
}

/**
 * Upstream Prometheus with Kubernetes service discovery, which Debian's package leaves out: built
 * (or reused from the cache) by hack/build-prometheus.sh, whose failure is thrown with its output.
 */
export async function upstreamPrometheus(): Promise<string> {
  const res = await run('bash', ['hack/build-prometheus.sh']);
  const path = /^prometheus (\S+)$/m.exec(res.stdout)?.[1];
  if (res.code !== 0 || !path) throw new Error(`hack/build-prometheus.sh failed:\n${res.stderr}`);
  return path;
}

/**
 * The PrometheusRule spec the chart renders, as a plain rule file. `set` are extra `--set`
 * values; unless `testSelectors` is false the job selectors match this suite's scrape config.
 */
export async function renderRules(
  set: readonly string[] = [],
  options: { testSelectors?: boolean } = {},
): Promise<string> {
  const helm = await run('bash', ['hack/ensure-helm.sh']);
  if (helm.code !== 0) throw new Error(`hack/ensure-helm.sh failed:\n${helm.stderr}`);
  const res = await run(helm.stdout.trim(), [
    'template',
    'agentmeter',
    chartDir,
    '--namespace',
    'agentmeter',
    '--kube-version',
    '1.36.3',
    '--api-versions',
    'monitoring.coreos.com/v1',
    '--show-only',
    'templates/monitoring/prometheusrule.yaml',
    ...((options.testSelectors ?? true)
      ? [
          '--set-string',
          `monitoring.prometheusRule.agentSelector=job="${AGENT_JOB}"`,
          '--set-string',
          `monitoring.prometheusRule.operatorSelector=job="${OPERATOR_JOB}"`,
        ]
      : []),
    ...set.flatMap((s) => ['--set', s]),
  ]);
  if (res.code !== 0) throw new Error(`helm template failed:\n${res.stderr}`);
  const doc = parse(res.stdout) as { kind: string; spec: unknown };
  if (doc.kind !== 'PrometheusRule') throw new Error(`expected a PrometheusRule:\n${res.stdout}`);
  return stringify(doc.spec);
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface ScrapeTarget {
  readonly job: string;
  readonly target: string;
}

/** An active target as Prometheus reports it (GET /api/v1/targets). */
export interface ActiveTarget {
  readonly labels: Record<string, string>;
  readonly discoveredLabels: Record<string, string>;
  readonly scrapeUrl: string;
  readonly health: string;
  readonly lastError: string;
}

/**
 * Prometheus (`binary`, Debian's by default) on a loopback port, scraping `targets` every second,
 * and any `scrapeConfigs` (Prometheus scrape_config objects, e.g. with kubernetes_sd_configs).
 */
export class PrometheusServer {
  readonly url: string;
  readonly logs: string[] = [];
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  private constructor(url: string, child: ChildProcess) {
    this.url = url;
    this.#child = child;
    child.stdout?.on('data', (c: Buffer) => this.logs.push(c.toString()));
    child.stderr?.on('data', (c: Buffer) => this.logs.push(c.toString()));
    this.#exited = new Promise((done) => child.on('exit', () => done()));
  }

  static async start(options: {
    dir: string;
    targets: readonly ScrapeTarget[];
    scrapeConfigs?: readonly object[];
    ruleFile?: string;
    binary?: string;
  }): Promise<PrometheusServer> {
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      ...(options.ruleFile ? { rule_files: [options.ruleFile] } : {}),
      scrape_configs: [
        ...options.targets.map((t) => ({
          job_name: t.job,
          static_configs: [{ targets: [t.target] }],
        })),
        ...(options.scrapeConfigs ?? []),
      ],
    };
    const configFile = join(options.dir, 'prometheus.yml');
    await writeFile(configFile, stringify(config));
    await mkdir(join(options.dir, 'data'), { recursive: true });
    const port = await freePort('127.0.0.1');
    const child = spawn(
      options.binary ?? PROMETHEUS,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(options.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child);
    await server.#waitReady();
    return server;
  }

  async #waitReady(): Promise<void> {
    let exited = false;
    void this.#exited.then(() => (exited = true));
    for (let attempt = 0; attempt < 600; attempt++) {
      if (exited) throw new Error(`prometheus exited:\n${this.logs.join('')}`);
      const ok = await fetch(`${this.url}/-/ready`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`prometheus not ready:\n${this.logs.join('')}`);
  }

  /** An instant query; throws with Prometheus' error (bad PromQL) rather than returning []. */
  async query(expr: string, time?: number): Promise<Sample[]> {
    const params = new URLSearchParams({ query: expr });
    if (time !== undefined) params.set('time', String(time));
    const res = await fetch(`${this.url}/api/v1/query?${params}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: Sample[] | [number, string] };
    };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? res.status}`);
    const data = body.data as { resultType: string; result: Sample[] | [number, string] };
    // A scalar result (e.g. vector(0) folded) still counts as data.
    if (data.resultType === 'scalar')
      return [{ metric: {}, value: data.result as [number, string] }];
    return data.result as Sample[];
  }

  async targets(): Promise<ActiveTarget[]> {
    const res = await fetch(`${this.url}/api/v1/targets?state=active`);
    const body = (await res.json()) as { data: { activeTargets: ActiveTarget[] } };
    return body.data.activeTargets;
  }

  async rules(): Promise<{ name: string; health: string; lastError?: string; type: string }[]> {
    const res = await fetch(`${this.url}/api/v1/rules`);
    const body = (await res.json()) as {
      data: {
        groups: { rules: { name: string; health: string; lastError?: string; type: string }[] }[];
      };
    };
    return body.data.groups.flatMap((g) => g.rules);
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
    }
    await this.#exited;
  }
}

export interface DashboardTarget {
  readonly dashboard: string;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

export interface Dashboard {
  readonly file: string;
  readonly json: {
    uid: string;
    title: string;
    schemaVersion: number;
    templating: { list: { name: string; type: string; query: unknown }[] };
    panels: {
      id: number;
      type: string;
      title: string;
      datasource?: { type: string; uid: string };
      gridPos: { h: number; w: number; x: number; y: number };
      targets?: { refId: string; expr: string; datasource?: { type: string; uid: string } }[];
    }[];
  };
}

export function dashboards(): Dashboard[] {
  const dir = join(chartDir, 'dashboards');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(dir, file), 'utf8')) }));
}

/**
 * Every panel target with Grafana's variables replaced: `vars` for the template variables, and
 * the built-in range variables by fixed windows (Grafana's $__rate_interval is at least four
 * scrape intervals; one minute covers this suite's one-second scrapes).
 */
export function dashboardTargets(vars: Record<string, string>): DashboardTarget[] {
  const builtins: Record<string, string> = {
    __rate_interval: '1m',
    __interval: '15s',
    __range: '5m',
  };
  const all = { ...builtins, ...vars };
  return dashboards().flatMap(({ file, json }) =>
    json.panels.flatMap((panel) =>
      (panel.targets ?? []).map((t) => ({
        dashboard: file,
        panel: panel.title,
        refId: t.refId,
        expr: t.expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
          const value = all[name];
          if (value === undefined) throw new Error(`${file} "${panel.title}": unknown ${whole}`);
          return value;
        }),
      })),
    ),
  );
}
