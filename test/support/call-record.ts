// A model call record (a gpt-5 chat call, no cache or reasoning tokens, priced) as the store keeps
// it: tests and benches that fill the store give only what differs between their calls.
import type { CallRecord } from '../../operator/src/store/accounting.ts';

export type ModelCall = Pick<
  CallRecord,
  | 'traceId'
  | 'spanId'
  | 'startNs'
  | 'endNs'
  | 'namespace'
  | 'sessionId'
  | 'pod'
  | 'inputTokens'
  | 'outputTokens'
  | 'costNano'
  | 'policyGeneration'
  | 'tags'
>;

export function modelCallRecord(call: ModelCall): CallRecord {
  return {
    parentSpanId: null,
    toolCallId: null,
    kind: 'model',
    operation: 'chat',
    provider: 'openai',
    model: 'gpt-5',
    toolName: null,
    toolType: null,
    apiHost: null,
    cacheReadTokens: 0n,
    cacheCreationTokens: 0n,
    reasoningTokens: 0n,
    errorType: null,
    unpricedReason: null,
    ...call,
  };
}
