import { LedgerFormatError, describeValue } from './errors.ts';
import { array, checkDecimal, decimal, keys, matching, object, string } from './fields.ts';
import type { JsonObject } from './fields.ts';
import { FIELD_MAX_LENGTH as MAX, MAX_CALLS_PER_ENTRY } from './limits.ts';
import { CALL_KINDS, UNPRICED_REASONS } from './types.ts';
import type { CallKind, UnpricedReason } from './types.ts';

/** W3C trace context ids: lower-case hex, and never all zeros (the invalid id). */
export const TRACE_ID_PATTERN = /^(?!0{32})[0-9a-f]{32}$/;
export const SPAN_ID_PATTERN = /^(?!0{16})[0-9a-f]{16}$/;
/** A lower-case DNS name: no scheme, port, path, query or credentials can pass. */
export const API_HOST_PATTERN =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Operation and provider names: printable ASCII without spaces. */
export const CALL_WORD_PATTERN = /^[!-~]+$/;

export const CALL_FIELDS = [
  'traceId',
  'spanId',
  'parentSpanId',
  'start',
  'end',
  'kind',
  'operation',
  'provider',
  'model',
  'tool',
  'apiHost',
  'tokens',
  'errorType',
  'costNano',
  'rate',
  'unpriced',
] as const;
export const CALL_TOKEN_FIELDS = [
  'input',
  'output',
  'cacheRead',
  'cacheCreation',
  'reasoning',
] as const;

/** The unpriced reason of a call whose kind has no rate in the policy that priced the entry. */
const MISSING_RATE: Readonly<Record<CallKind, UnpricedReason>> = {
  model: 'no-model-rate',
  tool: 'no-tool-rate',
  api: 'no-api-rate',
};

/**
 * Validates a calls entry's records: every field's type and form, the fields each kind carries
 * (tokens on model calls only, a tool on tool calls, a host on API calls), cost, rate and
 * reason consistent with each other and with whether a policy priced the entry (`priced`), and
 * each (traceId, spanId) once.
 */
export function parseCallRecords(value: unknown, path: string, priced: boolean): void {
  const calls = array(value, path);
  if (calls.length === 0 || calls.length > MAX_CALLS_PER_ENTRY) {
    throw new LedgerFormatError(path, 'invalid-value', `must hold 1..${MAX_CALLS_PER_ENTRY} calls`);
  }
  const seen = new Set<string>();
  for (let i = 0; i < calls.length; i++) {
    const at = `${path}[${i}]`;
    const call = object(calls[i], at);
    callRecord(call, at, priced);
    const key = `${call.traceId as string}/${call.spanId as string}`;
    if (seen.has(key)) throw new LedgerFormatError(at, 'invalid-value', 'duplicate span');
    seen.add(key);
  }
}

function callRecord(call: JsonObject, at: string, priced: boolean): void {
  keys(call, at, CALL_FIELDS);
  matching(call.traceId, `${at}.traceId`, TRACE_ID_PATTERN, 'a trace id (32 lower-case hex)');
  matching(call.spanId, `${at}.spanId`, SPAN_ID_PATTERN, 'a span id (16 lower-case hex)');
  if (call.parentSpanId !== null) {
    matching(
      call.parentSpanId,
      `${at}.parentSpanId`,
      SPAN_ID_PATTERN,
      'a span id (16 lower-case hex)',
    );
  }
  if (decimal(call.start, `${at}.start`) > decimal(call.end, `${at}.end`)) {
    throw new LedgerFormatError(at, 'invalid-value', 'start is after end');
  }
  const kind = call.kind as CallKind;
  if (!CALL_KINDS.includes(kind)) {
    throw new LedgerFormatError(
      `${at}.kind`,
      'invalid-value',
      `${describeValue(kind)} is not a call kind`,
    );
  }
  word(call.operation, `${at}.operation`, MAX.callOperation);
  if (call.provider !== null) word(call.provider, `${at}.provider`, MAX.callProvider);
  if (call.model !== null) string(call.model, `${at}.model`, MAX.callModel);
  if (call.errorType !== null) string(call.errorType, `${at}.errorType`, MAX.errorType);
  present(call.tool !== null, kind === 'tool', `${at}.tool`, 'tool calls');
  if (call.tool !== null) tool(call.tool, `${at}.tool`);
  present(call.apiHost !== null, kind === 'api', `${at}.apiHost`, 'API calls');
  if (call.apiHost !== null) {
    string(call.apiHost, `${at}.apiHost`, MAX.apiHost);
    matching(call.apiHost, `${at}.apiHost`, API_HOST_PATTERN, 'a lower-case DNS host name');
  }
  present(call.tokens !== null, kind === 'model', `${at}.tokens`, 'model calls');
  if (call.tokens !== null) tokens(call.tokens, `${at}.tokens`);
  price(call, at, kind, priced);
}

/** A field is set exactly on the kind of call that has it. */
function present(isSet: boolean, belongs: boolean, path: string, which: string): void {
  if (isSet !== belongs) {
    throw new LedgerFormatError(path, 'invalid-value', `set on ${which} and only on them`);
  }
}

function word(value: unknown, path: string, max: number): void {
  string(value, path, max);
  matching(value, path, CALL_WORD_PATTERN, 'printable ASCII without spaces');
}

function tool(value: unknown, path: string): void {
  const obj = object(value, path);
  keys(obj, path, ['name', 'type', 'callId']);
  string(obj.name, `${path}.name`, MAX.toolName);
  if (obj.type !== null) string(obj.type, `${path}.type`, MAX.toolType);
  if (obj.callId !== null) string(obj.callId, `${path}.callId`, MAX.toolCallId);
}

function tokens(value: unknown, path: string): void {
  const obj = object(value, path);
  keys(obj, path, CALL_TOKEN_FIELDS);
  for (const field of CALL_TOKEN_FIELDS) checkDecimal(obj[field], path, field);
}

/**
 * costNano and rate are set together or not at all, and `unpriced` says why not: `no-policy`
 * exactly when no policy priced the entry, otherwise the missing rate of the call's kind.
 */
function price(call: JsonObject, at: string, kind: CallKind, priced: boolean): void {
  const unpriced = call.unpriced as UnpricedReason | null;
  if (unpriced !== null && !UNPRICED_REASONS.includes(unpriced)) {
    throw new LedgerFormatError(
      `${at}.unpriced`,
      'invalid-value',
      `${describeValue(unpriced)} is not an unpriced reason`,
    );
  }
  if (call.costNano === null) {
    if (call.rate !== null) {
      throw new LedgerFormatError(`${at}.rate`, 'invalid-value', 'an unpriced call has no rate');
    }
    const expected = priced ? MISSING_RATE[kind] : 'no-policy';
    if (unpriced !== expected) {
      throw new LedgerFormatError(
        `${at}.unpriced`,
        'invalid-value',
        `an unpriced ${kind} call in ${priced ? 'a priced' : 'an unpriced'} entry is ${expected}`,
      );
    }
    return;
  }
  if (!priced) {
    throw new LedgerFormatError(`${at}.costNano`, 'invalid-value', 'the entry has no cost');
  }
  checkDecimal(call.costNano, `${at}.costNano`);
  string(call.rate, `${at}.rate`, MAX.callRate);
  if (unpriced !== null) {
    throw new LedgerFormatError(`${at}.unpriced`, 'invalid-value', 'a priced call has no reason');
  }
}
