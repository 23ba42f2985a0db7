// The spend detectors in the operator round: once per closed hour, each policy's namespace
// streams are judged against their weekly rhythm (anomaly/detect-streams), each finding that
// was not active the hour before raises one SpendAnomaly Event on the policy, and the gauge
// counts the active findings by dimension and window (never by key). The Events are idempotent
// across replicas: one that has not judged a policy yet (a new leader after a failover) judges
// the hour before from the carried history instead of taking every finding as new, and each
// Event's name is fixed by policy, finding and hour, so one raised by the old leader in the
// same hour is not raised again.
import { createHash } from 'node:crypto';
import type { CostPolicy } from '@agentmeter/crds';
import type { EventRecorder } from '../runtime/index.ts';
import { detectStreams, DEFAULT_STREAM_DETECTOR } from '../anomaly/detect-streams.ts';
import {
  anomalyEvent,
  findingCounts,
  findingId,
  fromStreamVerdict,
  newFindings,
  type Finding,
} from '../anomaly/findings.ts';
import type { SpendHistorySource } from '../anomaly/hourly-book.ts';
import { HOUR_MS, hourOf, WEEK_HOURS, type HourlySeries } from '../anomaly/hourly-series.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { policyRef } from './policies.ts';

/** Stream dimensions judged on their weekly rhythm (tags and models once entries carry them). */
const STREAM_PREFIXES = ['namespace:', 'tag:', 'model:'] as const;

export interface AnomalyWatchDeps {
  readonly history: SpendHistorySource;
  readonly events: Pick<EventRecorder, 'record'>;
  readonly metrics: Pick<OperatorMetrics, 'setAnomalies'>;
}

/** The findings of one policy for the hour that ended before `nowMs`. */
export function judgeHour(history: SpendHistorySource, policy: string, nowMs: number): Finding[] {
  const lastHour = hourOf(nowMs) - 1;
  const from = lastHour - (DEFAULT_STREAM_DETECTOR.weeks + 1) * WEEK_HOURS;
  const streams = new Map<string, HourlySeries>();
  for (const prefix of STREAM_PREFIXES) {
    for (const s of history.streams(policy, prefix)) {
      const series = history.series(policy, s, from, lastHour);
      if (series !== undefined) streams.set(s, series);
    }
  }
  return detectStreams(streams, lastHour).map(fromStreamVerdict);
}

/** The one SpendAnomaly Event of `finding` raised for `hour` under `policy`. */
export function anomalyEventName(policy: string, finding: string, hour: number): string {
  const digest = createHash('sha256').update(`${policy}\n${finding}\n${hour}`).digest('hex');
  // A CostPolicy name is a DNS subdomain of at most 253; the suffix is 26 characters.
  const head = policy.slice(0, 253 - 26).replace(/[-.]+$/, '');
  return `${head}.anomaly.${digest.slice(0, 17)}`;
}

export class AnomalyWatch {
  readonly #deps: AnomalyWatchDeps;
  /** Per policy: the last hour judged and the findings active then. */
  readonly #judged = new Map<string, { hour: number; active: Set<string> }>();

  constructor(deps: AnomalyWatchDeps) {
    this.#deps = deps;
  }

  /** Judges each policy once per closed hour; returns the findings newly raised. */
  async check(policies: readonly CostPolicy[], nowMs: number): Promise<Finding[]> {
    const hour = hourOf(nowMs) - 1;
    const raised: Finding[] = [];
    for (const p of policies) {
      const name = p.metadata.name ?? '';
      const last = this.#judged.get(name);
      if (last?.hour === hour) continue;
      const findings = judgeHour(this.#deps.history, name, nowMs);
      const before =
        last?.hour === hour - 1
          ? last.active
          : new Set(judgeHour(this.#deps.history, name, nowMs - HOUR_MS).map(findingId));
      const fresh = newFindings(before, findings);
      for (const f of fresh) {
        await this.#deps.events.record(policyRef(p), {
          ...anomalyEvent(f, p.spec.currency),
          name: anomalyEventName(name, findingId(f), hour),
        });
      }
      this.#deps.metrics.setAnomalies(name, findingCounts(findings));
      this.#judged.set(name, { hour, active: new Set(findings.map(findingId)) });
      raised.push(...fresh);
    }
    const live = new Set(policies.map((p) => p.metadata.name ?? ''));
    for (const name of this.#judged.keys()) if (!live.has(name)) this.#judged.delete(name);
    return raised;
  }
}
