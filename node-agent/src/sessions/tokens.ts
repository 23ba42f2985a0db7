// GenAI token usage per (session, model). Current and pre-v1.28 semconv names are accepted; the
// current name wins when both are present so a span is never counted twice.
import type { Attributes, AttrValue } from '../otlp/types.ts';
import type { SessionKeyString } from './session-id.ts';

export const INPUT_TOKEN_KEYS = [
  'gen_ai.usage.input_tokens',
  'gen_ai.usage.prompt_tokens',
] as const;
export const OUTPUT_TOKEN_KEYS = [
  'gen_ai.usage.output_tokens',
  'gen_ai.usage.completion_tokens',
] as const;
/** Priced on the answering model when known, else on the requested one. */
export const MODEL_KEYS = ['gen_ai.response.model', 'gen_ai.request.model'] as const;
export const UNKNOWN_MODEL = 'unknown';

const DECIMAL_RE = /^[0-9]{1,19}$/;
const MAX_MODEL_LENGTH = 256;

export interface TokenUsage {
  readonly model: string;
  readonly inputTokens: bigint;
  readonly outputTokens: bigint;
}

export type TokenExtraction =
  | { readonly kind: 'none' }
  | { readonly kind: 'usage'; readonly usage: TokenUsage }
  | { readonly kind: 'invalid'; readonly key: string };

/** A token count: an int value or a decimal string, never a double, never negative. */
function count(value: AttrValue): bigint | null {
  if (typeof value === 'bigint') return value >= 0n ? value : null;
  if (typeof value === 'string' && DECIMAL_RE.test(value)) return BigInt(value);
  return null;
}

function firstCount(
  attributes: Attributes,
  keys: readonly string[],
): { value: bigint } | { invalid: string } | null {
  for (const key of keys) {
    const raw = attributes.get(key);
    if (raw === undefined) continue;
    const n = count(raw);
    return n === null ? { invalid: key } : { value: n };
  }
  return null;
}

export function extractTokenUsage(attributes: Attributes): TokenExtraction {
  const input = firstCount(attributes, INPUT_TOKEN_KEYS);
  const output = firstCount(attributes, OUTPUT_TOKEN_KEYS);
  if (input === null && output === null) return { kind: 'none' };
  if (input !== null && 'invalid' in input) return { kind: 'invalid', key: input.invalid };
  if (output !== null && 'invalid' in output) return { kind: 'invalid', key: output.invalid };
  let model = UNKNOWN_MODEL;
  for (const key of MODEL_KEYS) {
    const value = attributes.get(key);
    if (typeof value === 'string' && value !== '' && value.length <= MAX_MODEL_LENGTH) {
      model = value;
      break;
    }
  }
  return {
    kind: 'usage',
    usage: { model, inputTokens: input?.value ?? 0n, outputTokens: output?.value ?? 0n },
  };
}

export interface TokenTotals {
  inputTokens: bigint;
  outputTokens: bigint;
  /** Spans that carried usage. */
  requests: bigint;
}

/** Running totals per session and model; the ledger integration drains it per tick. */
export class TokenCounter {
  readonly #totals = new Map<SessionKeyString, Map<string, TokenTotals>>();

  add(key: SessionKeyString, usage: TokenUsage): void {
    let perModel = this.#totals.get(key);
    if (perModel === undefined) {
      perModel = new Map();
      this.#totals.set(key, perModel);
    }
    let totals = perModel.get(usage.model);
    if (totals === undefined) {
      totals = { inputTokens: 0n, outputTokens: 0n, requests: 0n };
      perModel.set(usage.model, totals);
    }
    totals.inputTokens += usage.inputTokens;
    totals.outputTokens += usage.outputTokens;
    totals.requests += 1n;
  }

  get(key: SessionKeyString, model: string): Readonly<TokenTotals> | undefined {
    return this.#totals.get(key)?.get(model);
  }

  /** Returns everything counted so far and starts again from zero. */
  drain(): Map<SessionKeyString, Map<string, Readonly<TokenTotals>>> {
    const out = new Map(this.#totals);
    this.#totals.clear();
    return out;
  }
}
