// Optional utilisation source: dcgm-exporter's DCGM_FI_PROF_GR_ENGINE_ACTIVE, the only per-MIG-
// instance activity metric (DCGM_FI_DEV_GPU_UTIL is unsupported under MIG). Values are ratios
// printed as decimal text; they become integer parts per million by string arithmetic. A series
// that is missing or stale is not a zero: the caller falls back to nvidia-smi.
import { migKey } from './inventory.ts';

export const GR_ENGINE_ACTIVE = 'DCGM_FI_PROF_GR_ENGINE_ACTIVE';
export const DEFAULT_DCGM_TIMEOUT_MS = 2_000;
export const DEFAULT_DCGM_MAX_BYTES = 8 * 1024 * 1024;

export class DcgmError extends Error {
  override readonly name = 'DcgmError';
  readonly url: string;

  constructor(url: string, detail: string) {
    super(`dcgm-exporter ${url}: ${detail}`);
    this.url = url;
  }
}

export interface DcgmSeries {
  /** GPU UUID, or `<GPU UUID>/gi<N>` for a MIG instance (`GPU_I_ID` label). */
  key: string;
  ppm: bigint;
  /** Sample timestamp (ms since the epoch) when the exposition carries one. */
  timestampMs: bigint | null;
}

const PPM_SCALE = 6;

/**
 * A non-negative decimal ratio (`0.65`, `1`, `6.5e-01`) → ppm, truncated toward zero and capped
 * at 1 000 000 (profiling ratios can overshoot 1 by sampling jitter). null for NaN, ±Inf,
 * negatives and anything that is not a number.
 */
export function ratioToPpm(text: string): bigint | null {
  const m = /^\+?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/.exec(text);
  if (m === null) return null;
  const int = m[1] ?? '';
  const frac = m[2] ?? '';
  if (int === '' && frac === '') return null;
  const digits = BigInt(`${int}${frac}` || '0');
  // value = digits × 10^(exp − frac.length); ppm = value × 10^6.
  const shift = PPM_SCALE + Number(m[3] ?? '0') - frac.length;
  const ppm = shift >= 0 ? digits * 10n ** BigInt(shift) : digits / 10n ** BigInt(-shift);
  return ppm > 1_000_000n ? 1_000_000n : ppm;
}

function parseLabels(text: string): Map<string, string> | null {
  const labels = new Map<string, string>();
  let i = 0;
  while (i < text.length) {
    const name = /^\s*,?\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(text.slice(i));
    if (name === null) return text.slice(i).trim().replace(/^,/, '').trim() === '' ? labels : null;
    i += name[0].length;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) return null;
      i++;
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i++];
        value += e === 'n' ? '\n' : (e ?? '');
      } else value += c;
    }
    labels.set(name[1] as string, value);
  }
  return labels;
}

/** The GR_ENGINE_ACTIVE series of a Prometheus text exposition; malformed lines are skipped. */
export function parseDcgmMetrics(text: string): DcgmSeries[] {
  const out: DcgmSeries[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith(`${GR_ENGINE_ACTIVE}{`)) continue;
    const close = line.lastIndexOf('}');
    if (close === -1) continue;
    const labels = parseLabels(line.slice(GR_ENGINE_ACTIVE.length + 1, close));
    const [value, ts] = line
      .slice(close + 1)
      .trim()
      .split(/\s+/);
    const uuid = labels?.get('UUID');
    if (labels === null || uuid === undefined || value === undefined) continue;
    const ppm = ratioToPpm(value);
    if (ppm === null) continue;
    const gi = labels.get('GPU_I_ID');
    const key = gi !== undefined && /^\d+$/.test(gi) ? migKey(uuid, Number(gi)) : uuid;
    out.push({ key, ppm, timestampMs: ts !== undefined && /^\d+$/.test(ts) ? BigInt(ts) : null });
  }
  return out;
}

export interface DcgmSelection {
  ppm: Map<string, bigint>;
  /** Keys whose only samples were older than the limit. */
  stale: string[];
}

/** Fresh values per key; the first series of a key wins (one GPU is exported once per pod label set). */
export function selectFresh(
  series: readonly DcgmSeries[],
  nowMs: bigint,
  maxAgeMs: bigint,
): DcgmSelection {
  const ppm = new Map<string, bigint>();
  const stale = new Set<string>();
  for (const s of series) {
    if (s.timestampMs !== null && nowMs - s.timestampMs > maxAgeMs) {
      stale.add(s.key);
      continue;
    }
    if (!ppm.has(s.key)) ppm.set(s.key, s.ppm);
  }
  return { ppm, stale: [...stale].filter((k) => !ppm.has(k)).sort() };
}

/** GETs the exposition with a timeout and a size bound; rejects with {@link DcgmError}. */
export async function scrapeDcgm(
  url: string,
  timeoutMs = DEFAULT_DCGM_TIMEOUT_MS,
  maxBytes = DEFAULT_DCGM_MAX_BYTES,
): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new DcgmError(url, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new DcgmError(url, `HTTP ${res.status}`);
  }
  // Read incrementally so an endless or oversized body is cut off at the bound.
  const reader = res.body?.getReader();
  if (reader === undefined) return '';
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      if (bytes > maxBytes) {
        await reader.cancel();
        throw new DcgmError(url, `body exceeds ${maxBytes} bytes`);
      }
      text += decoder.decode(value, { stream: true });
    }
  } catch (err) {
    if (err instanceof DcgmError) throw err;
    throw new DcgmError(url, err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  }
  return text + decoder.decode();
}
