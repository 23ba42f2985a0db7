// Runs the real node agent as its own process, bound to its own loopback address, and reads what
// it serves. By default it runs what the image ships: the bundle, under the image's node flags
// and environment.
import { spawn, type ChildProcess } from 'node:child_process';
import type { LedgerEntry } from '@agentmeter/crds';
import { LoggedChild } from './child-logs.ts';
import { shipped } from './shipped.ts';
import { freePort } from '../../hack/lib/processes.ts';

export interface AgentOptions {
  readonly nodeName: string;
  readonly kubeconfig: string;
  readonly stateDir: string;
  /** A 127.0.0.0/8 address; each agent in a test gets its own. */
  readonly host?: string;
  readonly port?: number;
  readonly tick?: string;
  /** Ledger batch interval; defaults to the tick, so tests see one batch per tick. */
  readonly ledgerInterval?: string;
  readonly extraArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Bearer token for the operator API (ledger pull); an authorised user's. */
  readonly token?: string;
  /** GPU metering on, with this nvidia-smi and kubelet PodResources socket; off when absent. */
  readonly gpu?: { readonly nvidiaSmi: string; readonly podResourcesSocket: string };
  /** Script to run instead of this run's agent bundle, e.g. the sources for a profile. */
  readonly entry?: string;
  /** Node and V8 flags before `entry` (some are refused in NODE_OPTIONS); the bundle runs with
   * the image's. */
  readonly nodeFlags?: readonly string[];
}

export { freePort };

export class AgentProcess extends LoggedChild {
  readonly url: string;
  /** The OTLP/HTTP receiver, on the same loopback address. */
  otlpUrl = '';
  /** /metrics, on its own port of the same address. */
  metricsUrl = '';
  /** /healthz and /readyz, on their own port of the same address. */
  healthUrl = '';
  token: string | undefined;

  private constructor(url: string, child: ChildProcess) {
    super(child);
    this.url = url;
  }

  static async start(options: AgentOptions): Promise<AgentProcess> {
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? (await freePort(host));
    const otlpPort = await freePort(host);
    const metricsPort = await freePort(host);
    const healthPort = await freePort(host);
    const image = options.entry === undefined ? shipped('agent') : undefined;
    const args = [
      ...(image?.flags ?? options.nodeFlags ?? []),
      image?.script ?? (options.entry as string),
      `--node-name=${options.nodeName}`,
      `--kubeconfig=${options.kubeconfig}`,
      `--state-dir=${options.stateDir}`,
      `--tick=${options.tick ?? '1s'}`,
      `--ledger-interval=${options.ledgerInterval ?? options.tick ?? '1s'}`,
      `--listen=${host}:${port}`,
      `--otlp-listen=${host}:${otlpPort}`,
      `--metrics-listen=${host}:${metricsPort}`,
      `--health-listen=${host}:${healthPort}`,
      // Each flag may be given once, so GPU settings replace `--gpu=off` rather than follow it.
      ...(options.gpu === undefined
        ? ['--gpu=off']
        : [
            '--gpu=on',
            `--nvidia-smi=${options.gpu.nvidiaSmi}`,
            `--pod-resources-socket=${options.gpu.podResourcesSocket}`,
          ]),
      ...(options.extraArgs ?? []),
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...image?.env, ...options.env },
    });
    const agent = new AgentProcess(`http://${host}:${port}`, child);
    agent.otlpUrl = `http://${host}:${otlpPort}`;
    agent.metricsUrl = `http://${host}:${metricsPort}`;
    agent.healthUrl = `http://${host}:${healthPort}`;
    agent.token = options.token;
    return agent;
  }

  /** Polls /readyz until it answers 200; fails early if the process exits. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      if (exited) throw new Error(`agent exited before ready:\n${this.logs.slice(-20).join('\n')}`);
      const ok = await fetch(`${this.healthUrl}/readyz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return;
      if (Date.now() > deadline) {
        throw new Error(
          `agent not ready after ${timeoutMs} ms:\n${this.logs.slice(-20).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.metricsUrl}/metrics`)).text();
  }

  /** Every ledger entry after `after`, following `next` across pages. */
  async ledger(after = 0n): Promise<LedgerEntry[]> {
    const out: LedgerEntry[] = [];
    let cursor = after.toString();
    for (;;) {
      const res = await fetch(`${this.url}/v1/ledger?after=${cursor}&limit=1000`, {
        headers: this.token === undefined ? {} : { authorization: `Bearer ${this.token}` },
      });
      if (!res.ok) throw new Error(`GET /v1/ledger: ${res.status} ${await res.text()}`);
      const page = (await res.json()) as { entries: LedgerEntry[]; next: string | null };
      out.push(...page.entries);
      if (page.next === null) return out;
      cursor = page.next;
    }
  }
}

/** Value of one sample in Prometheus text, or undefined. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const match = /^(?:\{(.*)\})? (\S+)/.exec(rest);
    if (!match) continue;
    const labelText = match[1] ?? '';
    const ok = Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`));
    if (ok) return Number(match[2]);
  }
  return undefined;
}
