// A model call as the agent reads it from its span (a gpt-5 chat call of trace a…a), before it
// is priced: agent tests give only what differs between their calls.
import type { CallDraft } from '../../node-agent/src/calls/index.ts';

/** The id of span `n`: n in 16 hex digits. */
export const spanIdOf = (n: number): string => n.toString(16).padStart(16, '0');

export type ModelCallDraft = Pick<CallDraft, 'startNs' | 'endNs' | 'tokens'> & Partial<CallDraft>;

export function modelCallDraft(n: number, call: ModelCallDraft): CallDraft {
  return {
    traceId: 'a'.repeat(32),
    spanId: spanIdOf(n),
    parentSpanId: null,
    kind: 'model',
    operation: 'chat',
    provider: 'openai',
    model: 'gpt-5',
    tool: null,
    apiHost: null,
    errorType: null,
    ...call,
  };
}
