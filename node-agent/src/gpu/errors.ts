/**
 * What went wrong in GPU metering. A bounded set, so callers can use `reason` as a metric label
 * and log each kind once (the collector rate-limits per kind).
 */
export type GpuErrorReason =
  | 'not_found'
  | 'timeout'
  | 'still_running'
  | 'exit_code'
  | 'driver'
  | 'output_too_large'
  | 'parse'
  | 'stale_sample'
  | 'socket_missing'
  | 'grpc'
  | 'proc'
  | 'dcgm_http'
  | 'dcgm_missing'
  | 'dcgm_stale'
  | 'dcgm_zero';

export type GpuErrorSource = 'nvidia-smi' | 'pod-resources' | 'proc' | 'dcgm';

export interface GpuError {
  readonly source: GpuErrorSource;
  readonly reason: GpuErrorReason;
  /** Human detail: command, stderr excerpt, file and line. Never a metric label. */
  readonly message: string;
}

export type GpuParseFormat = 'query-gpu' | 'query-compute-apps' | 'pmon' | 'list' | 'xml';

/** nvidia-smi output that does not have the documented format. */
export class GpuParseError extends Error {
  override readonly name = 'GpuParseError';
  readonly format: GpuParseFormat;
  /** 1-based line; 0 when the problem is the output as a whole. */
  readonly line: number;
  readonly reason: string;

  constructor(format: GpuParseFormat, line: number, reason: string) {
    super(`nvidia-smi ${format}:${line}: ${reason}`);
    this.format = format;
    this.line = line;
    this.reason = reason;
  }
}

/** A short, printable excerpt of untrusted text for error messages and logs. */
export function excerpt(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max)}…` : flat);
}
