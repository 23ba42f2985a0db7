// The running agent: which parts start in what order, and in what order they stop. The parts
// are built by build-agent.ts; here they are only interfaces, so the order can be tested.
//
// Start: the agent-start marker and the counter baselines come first (nothing is measured
// before the ledger says where it left off), then the HTTP API and the OTLP receiver, then the
// watches; the first tick waits for this node's pods, and for CostPolicies a short while.
//
// Stop, and why in this order:
// 1. OTLP receiver: stops accepting spans first, so every span acknowledged to an app is in
//    the activity the final tick splits; an exporter that is refused retries elsewhere or later.
// 2. Tick loop: the final tick, then every tick held for late spans is split, priced and
//    written (each append fsynced). It needs pod metadata, policies and the GPU collector, so
//    they stop after it.
// 3. HTTP API: after the last write, so a scrape or a ledger pull during the drain sees it all;
//    before the ledger closes, so no request reads a closed store.
// 4. GPU collector, then the pod and CostPolicy watches: nothing reads them any more.
// 5. Sampler: closes the cgroup files it keeps open.
// 6. Ledger: last, once nothing can append to it.
// A step that fails is logged and the next one still runs, so the ledger is always closed.
import type { Logger } from '../log.ts';

export interface Watch {
  start(): void;
  whenSynced(): Promise<void>;
  stop(): Promise<void>;
}

/** A bound server; close() stops accepting and waits for requests in flight. */
export interface Listening {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface AgentParts {
  readonly log: Logger;
  readonly ledger: {
    /** Appends the agent-start marker. */
    markStart(): Promise<void>;
    close(): Promise<void>;
  };
  readonly sampler: {
    /** Restores the counter baselines from the ledger's last checkpoint. */
    recover(): Promise<void>;
    /** Closes the kept-open cgroup files. */
    close(): void;
  };
  /** /healthz, /readyz, the ledger pull and session APIs. */
  readonly api: { listen(): Promise<Listening> };
  /** /metrics, on a port of its own. */
  readonly metricsServer: { listen(): Promise<Listening> };
  /** /healthz and /readyz, on a port of their own. */
  readonly health: { listen(): Promise<Listening> };
  /** The OTLP/HTTP receiver. */
  readonly otlp: { listen(): Promise<Listening> };
  readonly pods: Watch;
  readonly policies: Watch;
  readonly gpu: { start(): void; stop(): Promise<void> } | null;
  readonly ticks: { start(): Promise<void>; stop(): Promise<void> };
  /** How long the first tick waits for CostPolicies; after that pods are metered unpriced. */
  readonly policySyncWaitMs: number;
}

type Started =
  'ledger' | 'sampler' | 'health' | 'api' | 'metrics' | 'otlp' | 'watches' | 'gpu' | 'ticks';

export class Agent {
  readonly #parts: AgentParts;
  /** The ledger is opened and the sampler built before start(), so stop() always closes them. */
  readonly #started = new Set<Started>(['ledger', 'sampler']);
  #api: Listening | undefined;
  #metrics: Listening | undefined;
  #health: Listening | undefined;
  #otlp: Listening | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #stopRequested = false;
  readonly #stopSignal: Promise<void>;
  #signalStop: () => void = () => undefined;

  constructor(parts: AgentParts) {
    this.#parts = parts;
    this.#stopSignal = new Promise((resolve) => (this.#signalStop = resolve));
  }

  /** Where the HTTP API listens, once started. */
  get apiAddress(): { host: string; port: number } | undefined {
    return this.#api && { host: this.#api.host, port: this.#api.port };
  }

  /** Where the OTLP receiver listens, once started. */
  get otlpAddress(): { host: string; port: number } | undefined {
    return this.#otlp && { host: this.#otlp.host, port: this.#otlp.port };
  }

  /** Starts every part; returns early, with what started left to stop(), if stop() is called. */
  start(): Promise<void> {
    if (this.#starting !== undefined) throw new Error('the agent was already started');
    this.#starting = this.#start();
    return this.#starting;
  }

  /** Stops what started, in the order above; safe to call more than once, or during start. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #start(): Promise<void> {
    const { log, ledger, sampler, health, api, metricsServer, otlp, pods, policies, gpu, ticks } =
      this.#parts;
    await ledger.markStart();
    await sampler.recover();
    if (this.#stopRequested) return;
    // First, so the kubelet's probes are answered (not ready yet) while the rest starts.
    this.#health = await health.listen();
    this.#started.add('health');
    log.info({ host: this.#health.host, port: this.#health.port }, 'health listening');
    if (this.#stopRequested) return;
    this.#api = await api.listen();
    this.#started.add('api');
    log.info({ host: this.#api.host, port: this.#api.port }, 'http listening');
    if (this.#stopRequested) return;
    this.#metrics = await metricsServer.listen();
    this.#started.add('metrics');
    log.info({ host: this.#metrics.host, port: this.#metrics.port }, 'metrics listening');
    if (this.#stopRequested) return;
    this.#otlp = await otlp.listen();
    this.#started.add('otlp');
    log.info({ host: this.#otlp.host, port: this.#otlp.port }, 'otlp receiver listening');
    if (this.#stopRequested) return;
    this.#started.add('watches');
    pods.start();
    policies.start();
    if (gpu !== null) {
      this.#started.add('gpu');
      gpu.start();
    }
    if (!(await this.#untilStop(pods.whenSynced().then(() => true)))) return;
    log.info('pod watch synced');
    // Metering never waits on pricing: without CostPolicies (or their CRD) usage is still
    // written, unpriced, and this warning says why.
    const priced = await this.#untilStop(
      Promise.race([
        policies.whenSynced().then(() => true),
        new Promise<boolean>((r) =>
          setTimeout(() => r(false), this.#parts.policySyncWaitMs).unref(),
        ),
      ]),
    );
    if (this.#stopRequested) return;
    if (!priced) log.warn('cost policies not synced yet; pods are metered unpriced until they are');
    this.#started.add('ticks');
    await ticks.start();
  }

  /** `wait`'s value, or false as soon as stop() is called. */
  #untilStop(wait: Promise<boolean>): Promise<boolean> {
    return Promise.race([wait, this.#stopSignal.then(() => false)]);
  }

  async #stop(): Promise<void> {
    this.#stopRequested = true;
    this.#signalStop();
    // A step of start() in flight finishes first (each is short but the waits, which end now).
    await this.#starting?.catch(() => undefined);
    const { ledger, sampler, pods, policies, gpu, ticks } = this.#parts;
    const step = async (part: Started, name: string, fn: () => Promise<void> | void) => {
      if (!this.#started.has(part)) return;
      try {
        await fn();
      } catch (err) {
        this.#parts.log.warn({ err, step: name }, 'shutdown step failed');
      }
    };
    await step('otlp', 'otlp-close', () => this.#otlp?.close());
    await step('ticks', 'final-tick', () => ticks.stop());
    await step('api', 'api-close', () => this.#api?.close());
    await step('metrics', 'metrics-close', () => this.#metrics?.close());
    await step('gpu', 'gpu-stop', () => gpu?.stop());
    await step('watches', 'watches-stop', async () => {
      await Promise.all([pods.stop(), policies.stop()]);
    });
    await step('sampler', 'sampler-close', () => sampler.close());
    await step('ledger', 'ledger-close', () => ledger.close());
    // Last: probes keep being answered while the agent drains.
    await step('health', 'health-close', () => this.#health?.close());
  }
}
