// Anomaly and forecast replay: 14 weeks of synthetic agent traffic (test/bench/replay/traffic.ts:
// daily and weekly rhythm, growth, noise, heavy-tailed sessions) with labelled loops, spikes and
// slow ramps, fed hour by hour through the operator's stream detector (median and MAD of the same
// window in earlier weeks) beside two comparators (a seasonal EWMA and a rhythm-blind median), and
// every ten minutes through the session detector. Prints precision, recall and detection delay
// per anomaly kind; the forecast's mean absolute percentage error at 25, 50 and 75% of weekly and
// monthly periods beside the linear projection from the period start, and how often the final
// spend fell inside the low..high band; and the detector's CPU time per operator round at
// 1,000,000 sessions in 50 namespaces.
// Run: node test/bench/anomaly-replay.ts   (DAYS=98 NAMESPACES=12 SEED=7 SCALE_SESSIONS=1000000)
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  DEFAULT_SESSION_DETECTOR,
  detectSessions,
  sessionBars,
} from '../../operator/src/anomaly/detect-sessions.ts';
import type { SessionSpend } from '../../operator/src/anomaly/detect-sessions.ts';
import {
  DEFAULT_STREAM_DETECTOR,
  detectStreams,
  judgeWindow,
} from '../../operator/src/anomaly/detect-streams.ts';
import type { StreamDetectorConfig } from '../../operator/src/anomaly/detect-streams.ts';
import { streamKey } from '../../operator/src/anomaly/findings.ts';
import { hourOf } from '../../operator/src/anomaly/hourly-series.ts';
import type { HourlySeries } from '../../operator/src/anomaly/hourly-series.ts';
import { forecastPeriodEnd, linearForecast } from '../../operator/src/forecast/period-end.ts';
import { periodAt } from '../../operator/src/budgets/periods.ts';
import { seasonalEwmaJudge } from './replay/ewma-baseline.ts';
import { flatMedianJudge } from './replay/flat-baseline.ts';
import { HOUR, MINUTE, MODELS, generate } from './replay/traffic.ts';
import { rng } from '../support/rng.ts';
import type { LabelledAnomaly, Traffic } from './replay/traffic.ts';

const DAYS = Number(process.env.DAYS ?? 98);
const NAMESPACES = Number(process.env.NAMESPACES ?? 12);
const SEED = Number(process.env.SEED ?? 7);
const SCALE_SESSIONS = Number(process.env.SCALE_SESSIONS ?? 1_000_000);
// Monday 2026-01-05 00:00 UTC.
const START_MS = Date.UTC(2026, 0, 5);
const TICK = 10 * MINUTE;
/** An alert up to this long after an anomaly ends still belongs to it (a day window lags). */
const GRACE = 24 * HOUR;

type Judge = (
  stream: string,
  series: HourlySeries,
  lastHour: number,
  windowHours: number,
) => boolean;

interface Incident {
  readonly stream: string;
  readonly firstMs: number;
  lastMs: number;
}

/** Hourly spend of every namespace, model and team stream, each session spread over its hours. */
function streamsOf(t: Traffic): Map<string, HourlySeries> {
  const firstHour = hourOf(t.startMs);
  const arrays = new Map<string, bigint[]>();
  const arrayOf = (key: string): bigint[] => {
    let a = arrays.get(key);
    if (a === undefined) {
      a = new Array<bigint>(t.hours + 3).fill(0n);
      arrays.set(key, a);
    }
    return a;
  };
  const s = t.sessions;
  for (let i = 0; i < s.count; i++) {
    const ns = t.namespaces[s.namespace[i] as number];
    if (ns === undefined) continue;
    const targets = [
      arrayOf(streamKey('namespace', ns.name)),
      arrayOf(streamKey('model', MODELS[s.model[i] as number] as string)),
      arrayOf(streamKey('tag', `team=${ns.team}`)),
    ];
    const start = s.start[i] as number;
    const end = s.end[i] as number;
    const nano = s.nano[i] as bigint;
    const duration = BigInt(end - start);
    let left = nano;
    for (let h = hourOf(start); h <= hourOf(end - 1); h++) {
      const overlap = Math.min(end, (h + 1) * HOUR) - Math.max(start, h * HOUR);
      const part = h === hourOf(end - 1) ? left : (nano * BigInt(overlap)) / duration;
      left -= part;
      for (const a of targets) a[h - firstHour] = (a[h - firstHour] ?? 0n) + part;
    }
  }
  const series = new Map<string, HourlySeries>();
  for (const [k, nano] of [...arrays].sort(([a], [b]) => (a < b ? -1 : 1))) {
    series.set(k, { firstHour, nano: nano.slice(0, t.hours) });
  }
  return series;
}

function addFlag(
  incidents: Map<string, Incident[]>,
  stream: string,
  atMs: number,
  gapMs: number,
): void {
  let list = incidents.get(stream);
  if (list === undefined) {
    list = [];
    incidents.set(stream, list);
  }
  const last = list.at(-1);
  if (last !== undefined && atMs - last.lastMs <= gapMs) last.lastMs = atMs;
  else list.push({ stream, firstMs: atMs, lastMs: atMs });
}

/** Stream incidents of one judge: consecutive flagged hours (either window) form one incident. */
function runStreams(
  t: Traffic,
  series: Map<string, HourlySeries>,
  judge: Judge,
  windows: readonly number[] = DEFAULT_STREAM_DETECTOR.windows,
): Incident[] {
  const incidents = new Map<string, Incident[]>();
  const firstHour = hourOf(t.startMs);
  for (let h = firstHour; h < firstHour + t.hours; h++) {
    for (const [stream, s] of series) {
      for (const w of windows) {
        // Known when the hour is complete.
        if (judge(stream, s, h, w)) addFlag(incidents, stream, (h + 1) * HOUR, 2 * HOUR);
      }
    }
  }
  return [...incidents.values()].flat();
}

function medianMadJudge(config: StreamDetectorConfig): Judge {
  return (stream, series, lastHour, w) =>
    judgeWindow(stream, series, lastHour, w, config)?.anomalous === true;
}

/** Session incidents: bars from the sessions that ended in the previous day, judged every tick. */
function runSessions(t: Traffic): Incident[] {
  const s = t.sessions;
  const byEnd = Array.from({ length: s.count }, (_, i) => i).sort(
    (a, b) => (s.end[a] as number) - (s.end[b] as number),
  );
  const flagged = new Map<number, number>();
  let startPtr = 0;
  let peerLo = 0;
  let peerHi = 0;
  let active: number[] = [];
  let bars = new Map<
    string,
    ReturnType<typeof sessionBars> extends Map<string, infer B> ? B : never
  >();
  const endMs = t.startMs + t.hours * HOUR;
  for (let tick = t.startMs + TICK; tick <= endMs; tick += TICK) {
    if ((tick - t.startMs) % HOUR === TICK) {
      const hourStart = tick - TICK;
      while (peerHi < byEnd.length && (s.end[byEnd[peerHi] as number] as number) < hourStart)
        peerHi++;
      while (peerLo < peerHi && (s.end[byEnd[peerLo] as number] as number) < hourStart - 24 * HOUR)
        peerLo++;
      const peers = new Map<string, bigint[]>();
      for (let p = peerLo; p < peerHi; p++) {
        const i = byEnd[p] as number;
        const ns = `ns-${s.namespace[i] as number}`;
        let list = peers.get(ns);
        if (list === undefined) {
          list = [];
          peers.set(ns, list);
        }
        list.push(s.nano[i] as bigint);
      }
      bars = sessionBars(peers, DEFAULT_SESSION_DETECTOR);
    }
    while (startPtr < s.count && (s.start[startPtr] as number) < tick) active.push(startPtr++);
    const spends: SessionSpend[] = active.map((i) => {
      const start = s.start[i] as number;
      const end = s.end[i] as number;
      const done = BigInt(Math.min(tick, end) - start);
      return {
        key: String(i),
        namespace: `ns-${s.namespace[i] as number}`,
        nano: ((s.nano[i] as bigint) * done) / BigInt(end - start),
      };
    });
    for (const v of detectSessions(spends, bars)) {
      const i = Number(v.key);
      if (!flagged.has(i)) flagged.set(i, tick);
    }
    active = active.filter((i) => (s.end[i] as number) > tick);
  }
  return [...flagged].map(([i, atMs]) => ({
    stream: `session:ns-${s.namespace[i] as number}/${t.loopSessions.get(i) ?? String(i)}`,
    firstMs: atMs,
    lastMs: atMs,
  }));
}

interface Score {
  readonly incidents: number;
  readonly truePositives: number;
  readonly detected: Map<string, number>;
}

function score(t: Traffic, incidents: readonly Incident[]): Score {
  const detected = new Map<string, number>();
  let tp = 0;
  for (const inc of incidents) {
    const hits = t.anomalies.filter(
      (a) =>
        a.streams.includes(inc.stream) && inc.lastMs >= a.startMs && inc.firstMs <= a.endMs + GRACE,
    );
    if (hits.length > 0) tp++;
    for (const a of hits) {
      const delay = Math.max(0, inc.firstMs - a.startMs);
      detected.set(a.id, Math.min(detected.get(a.id) ?? Infinity, delay));
    }
  }
  return { incidents: incidents.length, truePositives: tp, detected };
}

const pct = (num: number, den: number): string =>
  den === 0 ? 'n/a' : `${((100 * num) / den).toFixed(1)}%`;

function medianOf(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[(s.length - 1) >> 1] as number);
}

function printScore(name: string, t: Traffic, sc: Score): void {
  const kinds = ['loop', 'spike', 'ramp'] as const;
  const recall = kinds
    .map((k) => {
      const of = t.anomalies.filter((a) => a.kind === k);
      const hit = of.filter((a) => sc.detected.has(a.id));
      const delay = medianOf(hit.map((a) => sc.detected.get(a.id) ?? 0)) / MINUTE;
      return `${k} ${hit.length}/${of.length} (median delay ${Number.isNaN(delay) ? '-' : `${delay.toFixed(0)} min`})`;
    })
    .join(', ');
  console.log(
    `  ${name.padEnd(34)} precision ${pct(sc.truePositives, sc.incidents)} (${sc.truePositives}/${sc.incidents} incidents)  recall ${pct(sc.detected.size, t.anomalies.length)}: ${recall}`,
  );
}

function merge(a: Score, b: Score): Score {
  const detected = new Map(a.detected);
  for (const [id, d] of b.detected) detected.set(id, Math.min(detected.get(id) ?? Infinity, d));
  return {
    incidents: a.incidents + b.incidents,
    truePositives: a.truePositives + b.truePositives,
    detected,
  };
}

/** Sum of hours [from, to) of a series. */
function sumHours(series: HourlySeries, from: number, to: number): bigint {
  let sum = 0n;
  for (let h = from; h < to; h++) sum += series.nano[h - series.firstHour] ?? 0n;
  return sum;
}

/** |forecast − actual| / actual in basis points. */
function apeBp(forecast: bigint, actual: bigint): number {
  const diff = forecast > actual ? forecast - actual : actual - forecast;
  return Number((diff * 10_000n) / actual);
}

function forecasts(t: Traffic, series: Map<string, HourlySeries>): void {
  const endMs = t.startMs + t.hours * HOUR;
  const touched = (ns: string, from: number, to: number): boolean =>
    t.anomalies.some(
      (a: LabelledAnomaly) => a.namespace === ns && a.startMs < to && a.endMs > from,
    );
  for (const period of ['Weekly', 'Monthly'] as const) {
    const rows: Record<
      number,
      { lin: number[]; new: number[]; inBand: number; clean: { lin: number[]; new: number[] } }
    > = {};
    let periods = 0;
    // Whole periods that start at least a week into the traffic, so the forecaster has history.
    const from = t.startMs + 7 * 24 * HOUR;
    for (let p = periodAt(from, period); p.end <= endMs; p = periodAt(p.end, period)) {
      if (p.start < from) continue;
      periods++;
      for (const [stream, s] of series) {
        const namespace = stream.startsWith('namespace:') ? stream.slice('namespace:'.length) : '';
        if (namespace === '') continue;
        const actual = sumHours(s, hourOf(p.start), hourOf(p.end));
        if (actual === 0n) continue;
        for (const f of [25, 50, 75]) {
          const nowMs = p.start + Math.floor(((p.end - p.start) * f) / 100 / HOUR) * HOUR;
          const input = {
            series: s,
            spentNano: sumHours(s, hourOf(p.start), hourOf(nowMs)),
            periodStartMs: p.start,
            periodEndMs: p.end,
            nowMs,
          };
          const lin = apeBp(linearForecast(input).pointNano, actual);
          const fc = forecastPeriodEnd(input);
          const row = (rows[f] ??= { lin: [], new: [], inBand: 0, clean: { lin: [], new: [] } });
          row.lin.push(lin);
          row.new.push(apeBp(fc.pointNano, actual));
          if ((fc.lowNano ?? actual + 1n) <= actual && actual <= (fc.highNano ?? -1n)) row.inBand++;
          if (!touched(namespace, p.start, p.end)) {
            row.clean.lin.push(lin);
            row.clean.new.push(apeBp(fc.pointNano, actual));
          }
        }
      }
    }
    const mean = (v: number[]): string =>
      v.length === 0 ? 'n/a' : `${(v.reduce((a, b) => a + b, 0) / v.length / 100).toFixed(1)}%`;
    console.log(`  ${period} periods: ${periods}, namespace scope keys: ${NAMESPACES}`);
    for (const f of [25, 50, 75]) {
      const r = rows[f];
      if (r === undefined) continue;
      console.log(
        `    at ${f}%: MAPE linear ${mean(r.lin)} → seasonal ${mean(r.new)}; without anomalies ${mean(r.clean.lin)} → ${mean(r.clean.new)} (${r.clean.new.length} keys×periods); final spend inside low..high ${pct(r.inBand, r.new.length)}`,
      );
    }
  }
}

function cpuMs<T>(fn: () => T): { ms: number; result: T } {
  const before = process.cpuUsage();
  const result = fn();
  const used = process.cpuUsage(before);
  return { ms: (used.user + used.system) / 1000, result };
}

/** The detector's work per operator round at the scale of the store issue's benchmark. */
function scale(): void {
  const r = rng(SEED + 1);
  const namespaces = 50;
  const totals = new Map<string, bigint[]>();
  const active: SessionSpend[] = [];
  for (let i = 0; i < SCALE_SESSIONS; i++) {
    const ns = `ns-${i % namespaces}`;
    const nano = BigInt(
      Math.round(
        0.05e9 * Math.exp(Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())),
      ),
    );
    let list = totals.get(ns);
    if (list === undefined) {
      list = [];
      totals.set(ns, list);
    }
    list.push(nano);
    active.push({ key: `${ns}/s-${i}`, namespace: ns, nano });
  }
  // Streams: 50 namespaces, 20 models and 50 tag values with five weeks of hours each.
  const hours = 5 * 168;
  const firstHour = hourOf(START_MS);
  const streams = new Map<string, HourlySeries>();
  for (const key of [
    ...Array.from({ length: 50 }, (_, i) => streamKey('namespace', `ns-${i}`)),
    ...Array.from({ length: 20 }, (_, i) => streamKey('model', `m-${i}`)),
    ...Array.from({ length: 50 }, (_, i) => streamKey('tag', `team=t-${i}`)),
  ]) {
    streams.set(key, {
      firstHour,
      nano: Array.from({ length: hours }, () => BigInt(Math.round(1e9 * (1 + r())))),
    });
  }
  const runs = 5;
  const bars: number[] = [];
  const judge: number[] = [];
  const stream: number[] = [];
  const sorted: number[] = [];
  const byValue = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
  for (let run = 0; run < runs; run++) {
    const copy = new Map([...totals].map(([k, v]) => [k, [...v]]));
    const b = cpuMs(() => sessionBars(copy));
    bars.push(b.ms);
    // The same two order statistics by sorting: what the linear-time selection is measured against.
    const copy2 = [...totals.values()].map((v) => [...v]);
    sorted.push(
      cpuMs(() =>
        copy2.map((v) => {
          v.sort(byValue);
          return [v[Math.floor((v.length * 990) / 1000)], v[v.length >> 1]];
        }),
      ).ms,
    );
    judge.push(cpuMs(() => detectSessions(active, b.result)).ms);
    stream.push(cpuMs(() => detectStreams(streams, firstHour + hours - 1)).ms);
  }
  const med = (v: number[]): string => `${medianOf(v).toFixed(1)} ms`;
  console.log(
    `  ${SCALE_SESSIONS.toLocaleString('en')} sessions in ${namespaces} namespaces (median of ${runs}): peer bars ${med(bars)} (by sorting instead: ${med(sorted)}), judging every session ${med(judge)}; 120 streams × windows ${DEFAULT_STREAM_DETECTOR.windows.join('/')} h: ${med(stream)} CPU`,
  );
}

function main(): void {
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, node ${process.version}`,
  );
  const t0 = performance.now();
  const traffic = generate({
    startMs: START_MS,
    days: DAYS,
    namespaces: NAMESPACES,
    quietDays: 35,
    loops: 8,
    spikes: 8,
    ramps: 4,
    seed: SEED,
  });
  const series = streamsOf(traffic);
  const kinds = traffic.anomalies.reduce<Record<string, number>>(
    (m, a) => ((m[a.kind] = (m[a.kind] ?? 0) + 1), m),
    {},
  );
  console.log(
    `traffic: ${DAYS} days, ${NAMESPACES} namespaces, ${traffic.sessions.count.toLocaleString('en')} sessions, ${series.size} streams; labelled anomalies from day 35: ${JSON.stringify(kinds)} (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  console.log('anomalies (incidents: flagged hours of one stream, or one session):');
  const d = DEFAULT_STREAM_DETECTOR;
  console.log(
    `  shipped settings: windows ${d.windows.join(' and ')} h, ${Number(d.thresholdTenths) / 10} σ, spread ≥ ${Number(d.relativeFloorPermille) / 10}% of expected, minimum cost ${d.minCostNano / 1_000_000_000n} units; sessions: ${Number(DEFAULT_SESSION_DETECTOR.multipleTenths) / 10} × the peers' ${DEFAULT_SESSION_DETECTOR.quantilePermille / 10}th percentile`,
  );
  const chosen = score(traffic, runStreams(traffic, series, medianMadJudge(d)));
  const sessions = score(traffic, runSessions(traffic));
  printScore('streams, median+MAD hour of week', traffic, chosen);
  printScore(
    'streams, seasonal EWMA',
    traffic,
    score(traffic, runStreams(traffic, series, seasonalEwmaJudge(d))),
  );
  printScore(
    'streams, median+MAD, no rhythm',
    traffic,
    score(traffic, runStreams(traffic, series, flatMedianJudge(d))),
  );
  printScore('sessions, peer quantile', traffic, sessions);
  printScore('streams + sessions (shipped)', traffic, merge(chosen, sessions));
  console.log('  median+MAD at other settings:');
  for (const [k, cost, windows] of [
    [60n, 1n, [1, 24]],
    [80n, 2n, [1, 24]],
    [60n, 2n, [3, 24]],
    [60n, 2n, [24]],
  ] as const) {
    const c = { ...d, thresholdTenths: k, minCostNano: cost * 1_000_000_000n, windows };
    printScore(
      `${Number(k) / 10} σ, min ${cost} units, ${windows.join('+')} h`,
      traffic,
      score(traffic, runStreams(traffic, series, medianMadJudge(c), windows)),
    );
  }
  console.log('forecast of the period’s final spend (namespace scope keys):');
  forecasts(traffic, series);
  console.log('detector cost per operator round:');
  scale();
}

main();
