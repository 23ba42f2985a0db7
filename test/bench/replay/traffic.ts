// Synthetic but realistic agent traffic for the anomaly replay: sessions arrive per namespace at
// a rate with a daily rhythm (office hours in the namespace's own time zone), a weekly rhythm
// (quiet weekends), slow growth, day-to-day variation and Poisson noise; each session lasts a
// log-normal few minutes and costs a log-normal amount. Labelled anomalies are laid over it:
// loops (one session burning money for hours), spikes (a namespace's traffic several times over
// for an hour or three) and slow ramps (a deploy that grows every session's cost over days).
// Seeded, so every run replays the same month. Floats only shape the synthetic traffic; each
// session's cost becomes integer nano-units at once.
import { streamKey } from '../../../operator/src/anomaly/findings.ts';
import { rng } from '../../support/rng.ts';

export const HOUR = 3_600_000;
export const MINUTE = 60_000;

function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

function poisson(r: () => number, lambda: number): number {
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal(r)));
  const limit = Math.exp(-lambda);
  let k = 0;
  for (let p = r(); p > limit; p *= r()) k++;
  return k;
}

export interface Namespace {
  readonly name: string;
  readonly team: string;
  readonly model: string;
  /** Sessions per hour at the daily peak of a weekday. */
  readonly peak: number;
  /** Hours east of UTC of the namespace's users. */
  readonly utcOffset: number;
  /** Median session cost, US dollars. */
  readonly medianCost: number;
}

export type AnomalyKind = 'loop' | 'spike' | 'ramp';

export interface LabelledAnomaly {
  readonly id: string;
  readonly kind: AnomalyKind;
  readonly namespace: string;
  readonly startMs: number;
  readonly endMs: number;
  /** Streams it shows in (findings.ts streamKey) and, for a loop, "session:namespace/id". */
  readonly streams: readonly string[];
}

export interface Traffic {
  readonly startMs: number;
  readonly hours: number;
  readonly namespaces: readonly Namespace[];
  /** Sessions in order of start. */
  readonly sessions: Sessions;
  /** Index of each loop's session, by anomaly id. */
  readonly loopSessions: ReadonlyMap<number, string>;
  readonly anomalies: readonly LabelledAnomaly[];
}

/** Column store of sessions: a million objects would cost the bench more than the detector. */
export interface Sessions {
  readonly count: number;
  readonly start: Float64Array;
  readonly end: Float64Array;
  readonly namespace: Uint16Array;
  readonly model: Uint8Array;
  readonly nano: BigInt64Array;
}

export const MODELS = ['gpt-4o', 'claude-sonnet', 'gemini-flash'] as const;
const TEAMS = ['search', 'support', 'research', 'platform'] as const;

export function namespaces(count: number, r: () => number): Namespace[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `ns-${i}`,
    team: TEAMS[i % TEAMS.length] as string,
    model: MODELS[i % MODELS.length] as string,
    peak: Math.round(20 + 280 * r() * r()),
    utcOffset: [0, 1, -5, -8, 8][i % 5] as number,
    medianCost: 0.02 + 0.08 * r(),
  }));
}

/** Relative arrival rate at a local hour of the week (0 = Monday 00:00). */
function rhythm(localHourOfWeek: number): number {
  const day = Math.floor(localHourOfWeek / 24);
  const h = localHourOfWeek % 24;
  const daily = 0.15 + 0.85 * Math.max(0, Math.sin((Math.PI * (h - 7)) / 13));
  const weekly = day < 5 ? 1 : day === 5 ? 0.35 : 0.28;
  return daily * weekly;
}

interface Overlay {
  readonly anomaly: LabelledAnomaly;
  /** Arrival multiplier (spike) or cost multiplier (ramp) at an instant. */
  readonly factor: (ms: number) => number;
}

function streamsOf(ns: Namespace): string[] {
  return [
    streamKey('namespace', ns.name),
    streamKey('model', ns.model),
    streamKey('tag', `team=${ns.team}`),
  ];
}

/**
 * Labelled anomalies from `firstMs` on: `loops` loops, `spikes` spikes and `ramps` ramps, spread
 * over the time and the namespaces so none overlaps another in the same namespace.
 */
function plan(
  nss: readonly Namespace[],
  firstMs: number,
  lastMs: number,
  counts: { loops: number; spikes: number; ramps: number },
  r: () => number,
): { overlays: Overlay[]; loops: LabelledAnomaly[] } {
  const kinds: AnomalyKind[] = [
    ...Array<AnomalyKind>(counts.loops).fill('loop'),
    ...Array<AnomalyKind>(counts.spikes).fill('spike'),
    ...Array<AnomalyKind>(counts.ramps).fill('ramp'),
  ].sort(() => r() - 0.5);
  const slot = (lastMs - firstMs) / kinds.length;
  const overlays: Overlay[] = [];
  const loops: LabelledAnomaly[] = [];
  kinds.forEach((kind, i) => {
    const ns = nss[(i * 5 + Math.floor(r() * 3)) % nss.length] as Namespace;
    const startMs = Math.floor((firstMs + i * slot + r() * slot * 0.5) / MINUTE) * MINUTE;
    const id = `${kind}-${i}`;
    if (kind === 'loop') {
      const endMs = startMs + (30 + Math.floor(r() * 150)) * MINUTE;
      loops.push({
        id,
        kind,
        namespace: ns.name,
        startMs,
        endMs,
        streams: [...streamsOf(ns), `session:${ns.name}/${id}`],
      });
    } else if (kind === 'spike') {
      const endMs = startMs + (1 + Math.floor(r() * 3)) * HOUR;
      const times = 3 + r() * 5;
      overlays.push({
        anomaly: { id, kind, namespace: ns.name, startMs, endMs, streams: streamsOf(ns) },
        factor: (ms) => (ms >= startMs && ms < endMs ? times : 1),
      });
    } else {
      // Costs climb to 2.5 × over four days, stay for three, then the deploy is rolled back.
      const climb = 4 * 24 * HOUR;
      const endMs = startMs + 7 * 24 * HOUR;
      overlays.push({
        anomaly: { id, kind, namespace: ns.name, startMs, endMs, streams: streamsOf(ns) },
        factor: (ms) =>
          ms < startMs || ms >= endMs ? 1 : 1 + 1.5 * Math.min(1, (ms - startMs) / climb),
      });
    }
  });
  return { overlays, loops };
}

export interface TrafficOptions {
  readonly startMs: number;
  readonly days: number;
  readonly namespaces: number;
  /** Anomalies start after this many days, so the detectors have a baseline. */
  readonly quietDays: number;
  readonly loops: number;
  readonly spikes: number;
  readonly ramps: number;
  readonly seed: number;
}

export function generate(o: TrafficOptions): Traffic {
  const r = rng(o.seed);
  const nss = namespaces(o.namespaces, r);
  const hours = o.days * 24;
  const endMs = o.startMs + hours * HOUR;
  const { overlays, loops } = plan(
    nss,
    o.startMs + o.quietDays * 24 * HOUR,
    endMs - 2 * 24 * HOUR,
    o,
    r,
  );
  const rows: {
    start: number;
    end: number;
    ns: number;
    model: number;
    nano: bigint;
    loop?: string;
  }[] = [];
  const dayLevel = nss.map(() => Array.from({ length: o.days }, () => Math.exp(0.08 * normal(r))));
  const byNs = (name: string): number => nss.findIndex((n) => n.name === name);
  for (let h = 0; h < hours; h++) {
    const hourMs = o.startMs + h * HOUR;
    nss.forEach((ns, i) => {
      const local = (((h + ns.utcOffset) % 168) + 168) % 168;
      const growth = 1 + (0.1 * h) / (30 * 24);
      let arrivals = ns.peak * rhythm(local) * growth * (dayLevel[i]?.[Math.floor(h / 24)] ?? 1);
      let costFactor = 1;
      for (const ov of overlays) {
        if (ov.anomaly.namespace !== ns.name) continue;
        if (ov.anomaly.kind === 'spike') arrivals *= ov.factor(hourMs);
        else costFactor *= ov.factor(hourMs);
      }
      const n = poisson(r, arrivals);
      for (let k = 0; k < n; k++) {
        const start = hourMs + Math.floor(r() * HOUR);
        const minutes = Math.min(120, 4 * Math.exp(0.8 * normal(r)));
        const dollars = ns.medianCost * costFactor * Math.exp(normal(r));
        rows.push({
          start,
          end: start + Math.max(1000, Math.round(minutes * MINUTE)),
          ns: i,
          model:
            r() < 0.8 ? MODELS.indexOf(ns.model as (typeof MODELS)[number]) : Math.floor(r() * 3),
          nano: BigInt(Math.round(dollars * 1e9)),
        });
      }
    });
  }
  for (const loop of loops) {
    // A stuck agent re-sending a growing context: $6-30 an hour for as long as it runs.
    const perHour = 6 + r() * 24;
    const dollars = (perHour * (loop.endMs - loop.startMs)) / HOUR;
    const ns = byNs(loop.namespace);
    rows.push({
      start: loop.startMs,
      end: loop.endMs,
      ns,
      model: MODELS.indexOf(nss[ns]?.model as (typeof MODELS)[number]),
      nano: BigInt(Math.round(dollars * 1e9)),
      loop: loop.id,
    });
  }
  rows.sort((a, b) => a.start - b.start);
  const sessions: Sessions = {
    count: rows.length,
    start: Float64Array.from(rows, (s) => s.start),
    end: Float64Array.from(rows, (s) => s.end),
    namespace: Uint16Array.from(rows, (s) => s.ns),
    model: Uint8Array.from(rows, (s) => s.model),
    nano: BigInt64Array.from(rows, (s) => s.nano),
  };
  const loopSessions = new Map<number, string>();
  rows.forEach((row, i) => {
    if (row.loop !== undefined) loopSessions.set(i, row.loop);
  });
  return {
    startMs: o.startMs,
    hours,
    namespaces: nss,
    sessions,
    loopSessions,
    anomalies: [...loops, ...overlays.map((ov) => ov.anomaly)].sort(
      (a, b) => a.startMs - b.startMs,
    ),
  };
}
