// Per-tick GPU metering, independent of the rest of the agent. nvidia-smi runs on its own
// schedule (start(), or refresh() when driven by hand) and collect() reuses the latest sample,
// so a slow or hung nvidia-smi never delays a tick. collect() never throws: every failure
// becomes a GpuError (onError, for a counter) and a rate-limited log line, and metering of
// CPU, memory, I/O and network carries on untouched.
import type { GpuAllocation, GpuProcessSample, GpuTickResult } from './attribute.ts';
import { attributeGpuTick } from './attribute.ts';
import {
  DEFAULT_DCGM_TIMEOUT_MS,
  DcgmError,
  parseDcgmMetrics,
  scrapeDcgm,
  selectFresh,
} from './dcgm.ts';
import type { GpuError, GpuErrorReason, GpuErrorSource } from './errors.ts';
import { GpuParseError } from './errors.ts';
import type { Inventory, NvidiaSmiSample } from './inventory.ts';
import { buildInventory, deviceKeysFor, isReplica } from './inventory.ts';
import type { NvidiaSmiExecOptions } from './nvidia-smi-exec.ts';
import { NvidiaSmiExecError, NvidiaSmiRunner } from './nvidia-smi-exec.ts';
import {
  LIST_ARGS,
  PMON_ARGS,
  QUERY_APPS_ARGS,
  QUERY_GPU_ARGS,
  parseList,
  parsePmon,
  parseQueryComputeApps,
  parseQueryGpu,
} from './parse-csv.ts';
import { QUERY_XML_ARGS, parseNvidiaSmiXml } from './parse-xml.ts';
import type { LookupPod, PodResourcesClientOptions } from './pod-resources.ts';
import { PodResourcesClient, PodResourcesError, resolveAllocations } from './pod-resources.ts';
import { ProcPodMap } from './proc-map.ts';

export interface GpuLogLine {
  level: 'warn';
  msg: string;
  source: GpuErrorSource;
  reason: GpuErrorReason;
  detail: string;
  /** Errors of the same kind not logged since the previous line. */
  suppressed: number;
}

export interface DcgmSourceOptions {
  url: string;
  timeoutMs?: number;
  /** Samples carrying an older timestamp are stale. */
  maxAgeMs?: number;
}

export interface GpuCollectorOptions {
  nvidiaSmi?: NvidiaSmiExecOptions;
  /** nvidia-smi runs at most this often under start(); keep it ≥ the agent's tick. */
  sampleIntervalMs?: number;
  /** Past this age the last sample is not used for activity (allocation still is). */
  maxSampleAgeMs?: number;
  /** null disables allocation (every device is then unallocated). */
  podResources?: PodResourcesClientOptions | null;
  lookupPod: LookupPod;
  procRoot?: string;
  dcgm?: DcgmSourceOptions;
  onError?: (error: GpuError) => void;
  log?: (line: GpuLogLine) => void;
  /** One log line per error kind per interval. */
  logIntervalMs?: number;
  /** Monotonic milliseconds, for sample age and log rate limiting. */
  clockMs?: () => number;
  /** Wall clock, for DCGM sample timestamps. */
  wallMs?: () => number;
}

export interface GpuCollectResult {
  /** null on the first call (it sets the baseline) or before any nvidia-smi sample succeeded. */
  result: GpuTickResult | null;
  errors: GpuError[];
}

export const DEFAULT_SAMPLE_INTERVAL_MS = 10_000;
const DEFAULT_LOG_INTERVAL_MS = 60_000;
const DEFAULT_DCGM_MAX_AGE_MS = 60_000;

function toGpuError(err: unknown): GpuError {
  if (err instanceof NvidiaSmiExecError)
    return { source: 'nvidia-smi', reason: err.code, message: err.message };
  if (err instanceof GpuParseError)
    return { source: 'nvidia-smi', reason: 'parse', message: err.message };
  if (err instanceof PodResourcesError)
    return { source: 'pod-resources', reason: err.code, message: err.message };
  if (err instanceof DcgmError)
    return { source: 'dcgm', reason: 'dcgm_http', message: err.message };
  // Anything else is a bug in this module; report it under the nvidia-smi parse kind rather than crash the agent.
  return {
    source: 'nvidia-smi',
    reason: 'parse',
    message: err instanceof Error ? (err.stack ?? err.message) : String(err),
  };
}

export class GpuCollector {
  readonly #runner: NvidiaSmiRunner;
  readonly #podResources: PodResourcesClient | null;
  readonly #procMap: ProcPodMap;
  readonly #opts: GpuCollectorOptions;
  readonly #clockMs: () => number;
  readonly #wallMs: () => number;
  readonly #intervalMs: number;
  readonly #maxAgeMs: number;
  #inventory: Inventory | null = null;
  #sampleAtMs = 0;
  #refreshing: Promise<GpuError[]> | null = null;
  #pending: GpuError[] = [];
  #lastNs: bigint | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = true;
  readonly #logState = new Map<string, { at: number; suppressed: number }>();

  constructor(opts: GpuCollectorOptions) {
    this.#opts = opts;
    this.#runner = new NvidiaSmiRunner(opts.nvidiaSmi);
    this.#podResources =
      opts.podResources === null ? null : new PodResourcesClient(opts.podResources);
    this.#procMap = new ProcPodMap({ procRoot: opts.procRoot ?? '/proc' });
    this.#clockMs = opts.clockMs ?? (() => performance.now());
    this.#wallMs = opts.wallMs ?? (() => Date.now());
    this.#intervalMs = opts.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
    this.#maxAgeMs = opts.maxSampleAgeMs ?? 3 * this.#intervalMs;
  }

  /** The PID cache's hit and miss counts. */
  get procMapStats(): { hits: number; misses: number } {
    return { ...this.#procMap.stats };
  }

  /** nvidia-smi children killed at the timeout that have not exited. */
  get lingeringNvidiaSmi(): number {
    return this.#runner.lingering;
  }

  /** Runs nvidia-smi on the collector's own schedule until stop(). */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const loop = (): void => {
      void this.refresh().finally(() => {
        if (this.#stopped) return;
        this.#timer = setTimeout(loop, this.#intervalMs);
        this.#timer.unref();
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#refreshing;
    this.#podResources?.close();
  }

  /** Takes one nvidia-smi sample now (single flight); resolves with its errors, never rejects. */
  refresh(): Promise<GpuError[]> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<GpuError[]> {
    const errors: GpuError[] = [];
    const run = (args: readonly string[]): Promise<string> => this.#runner.run(args);
    try {
      const gpus = parseQueryGpu(await run(QUERY_GPU_ARGS));
      const apps = parseQueryComputeApps(await run(QUERY_APPS_ARGS));
      const mig = gpus.some((g) => g.migMode === 'Enabled');
      let pmon: NvidiaSmiSample['pmon'] = null;
      // pmon does not sample MIG instances; without it the split falls back to memory share.
      if (gpus.some((g) => g.migMode !== 'Enabled')) {
        try {
          pmon = parsePmon(await run(PMON_ARGS));
        } catch (err) {
          errors.push(toGpuError(err));
        }
      }
      const xml = mig ? parseNvidiaSmiXml(await run(QUERY_XML_ARGS)) : null;
      const list = mig ? parseList(await run(LIST_ARGS)) : null;
      this.#inventory = buildInventory({ gpus, apps, pmon, xml, list });
      this.#sampleAtMs = this.#clockMs();
    } catch (err) {
      errors.push(toGpuError(err));
    }
    for (const e of errors) this.#report(e);
    this.#pending.push(...errors);
    return errors;
  }

  /**
   * GPU time since the previous call. `nowNs` is the agent's monotonic tick time (e.g.
   * process.hrtime.bigint()), the same value the sampler uses, so Δt matches the tick.
   */
  async collect(nowNs: bigint): Promise<GpuCollectResult> {
    const errors = this.#pending;
    this.#pending = [];
    const report = (e: GpuError): void => {
      errors.push(e);
      this.#report(e);
    };
    try {
      const last = this.#lastNs;
      if (last === null || nowNs <= last) {
        this.#lastNs = last === null ? nowNs : last;
        return { result: null, errors };
      }
      const deltaUs = (nowNs - last) / 1000n;
      // Advance by whole µs only, so sub-µs remainders carry into the next tick.
      this.#lastNs = last + deltaUs * 1000n;
      const inv = this.#inventory;
      if (inv === null) return { result: null, errors };

      const stale = this.#clockMs() - this.#sampleAtMs > this.#maxAgeMs;
      if (stale) {
        report({
          source: 'nvidia-smi',
          reason: 'stale_sample',
          message: `last good nvidia-smi sample is ${Math.round(this.#clockMs() - this.#sampleAtMs)} ms old; activity not measured`,
        });
      }
      const devices = stale ? inv.devices.map((d) => ({ ...d, utilPpm: null })) : inv.devices;
      const procs = stale ? [] : inv.processes;

      const [allocations, pods, dcgm] = await Promise.all([
        this.#allocations(inv, report),
        this.#procMap.resolve(procs.map((p) => p.pid)),
        this.#dcgm(
          devices.map((d) => d.key),
          report,
        ),
      ]);
      for (const e of pods.errors) report({ source: 'proc', reason: 'proc', message: e });
      const samples: GpuProcessSample[] = procs.map((p) => ({
        ...p,
        podUid: pods.pods.get(p.pid) ?? null,
      }));
      const result = attributeGpuTick({
        deltaUs,
        devices,
        allocations,
        processes: samples,
        dcgmPpm: dcgm,
      });
      const rejected = result.devices.filter((d) => d.dcgmRejected).map((d) => d.key);
      if (rejected.length > 0) {
        report({
          source: 'dcgm',
          reason: 'dcgm_zero',
          message: `GR_ENGINE_ACTIVE is 0 while compute processes run on ${rejected.join(', ')}; using nvidia-smi`,
        });
      }
      return { result, errors };
    } catch (err) {
      report(toGpuError(err));
      return { result: null, errors };
    }
  }

  async #allocations(inv: Inventory, report: (e: GpuError) => void): Promise<GpuAllocation[]> {
    if (this.#podResources === null) return [];
    let listed;
    try {
      listed = await this.#podResources.list();
    } catch (err) {
      report(toGpuError(err));
      return [];
    }
    const { holdings } = resolveAllocations(listed, this.#opts.lookupPod);
    const out: GpuAllocation[] = [];
    for (const h of holdings) {
      for (const key of deviceKeysFor(h.device, inv.devices)) {
        out.push({ podUid: h.podUid, deviceKey: key, replica: isReplica(h.device) });
      }
    }
    return out;
  }

  async #dcgm(
    keys: readonly string[],
    report: (e: GpuError) => void,
  ): Promise<Map<string, bigint> | undefined> {
    const cfg = this.#opts.dcgm;
    if (cfg === undefined) return undefined;
    let text: string;
    try {
      text = await scrapeDcgm(cfg.url, cfg.timeoutMs ?? DEFAULT_DCGM_TIMEOUT_MS);
    } catch (err) {
      report(toGpuError(err));
      return undefined;
    }
    const { ppm, stale } = selectFresh(
      parseDcgmMetrics(text),
      BigInt(Math.floor(this.#wallMs())),
      BigInt(cfg.maxAgeMs ?? DEFAULT_DCGM_MAX_AGE_MS),
    );
    if (stale.length > 0) {
      report({
        source: 'dcgm',
        reason: 'dcgm_stale',
        message: `stale GR_ENGINE_ACTIVE for ${stale.join(', ')}`,
      });
    }
    const missing = keys.filter((k) => !ppm.has(k) && !stale.includes(k));
    if (missing.length > 0) {
      report({
        source: 'dcgm',
        reason: 'dcgm_missing',
        message: `no GR_ENGINE_ACTIVE for ${missing.join(', ')}`,
      });
    }
    return ppm;
  }

  #report(e: GpuError): void {
    this.#opts.onError?.(e);
    const log = this.#opts.log;
    if (log === undefined) return;
    const kind = `${e.source}:${e.reason}`;
    const now = this.#clockMs();
    const state = this.#logState.get(kind);
    if (
      state !== undefined &&
      now - state.at < (this.#opts.logIntervalMs ?? DEFAULT_LOG_INTERVAL_MS)
    ) {
      state.suppressed++;
      return;
    }
    log({
      level: 'warn',
      msg: 'gpu metering degraded',
      source: e.source,
      reason: e.reason,
      detail: e.message,
      suppressed: state?.suppressed ?? 0,
    });
    this.#logState.set(kind, { at: now, suppressed: 0 });
  }
}
