// A runaway agent: stuck in a loop, it asks the model and calls the same tool with the same
// arguments again and again. Every span carries `session.id`; the tool span carries the
// arguments as `gen_ai.tool.call.arguments` (the agent stores only their sha256). Like a
// well-behaved runtime it asks, before each step, whether its session is over budget, and stops
// when it is: that is how a runaway-session guard stops it.
import { SpanKind, type Tracer } from '@opentelemetry/api';
import { setTimeout as sleep } from 'node:timers/promises';
import { SESSION_ID_ATTRIBUTE } from './session.ts';

export interface LoopOptions {
  readonly sessionId: string;
  readonly model: string;
  readonly tool: string;
  readonly toolArguments: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly pauseMs: number;
  /** Bound on the loop: a loop that is never stopped ends here. */
  readonly maxSteps: number;
  readonly overBudget: () => Promise<boolean>;
}

export interface LoopResult {
  readonly stoppedBy: 'over-budget' | 'max-steps';
  readonly steps: number;
  /** Start of the first step's model span and end of the last tool span, ns since the epoch. */
  readonly firstNs: bigint | null;
  readonly lastNs: bigint | null;
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export async function runToolLoop(tracer: Tracer, opts: LoopOptions): Promise<LoopResult> {
  const session = { [SESSION_ID_ATTRIBUTE]: opts.sessionId };
  let firstNs: bigint | null = null;
  let lastNs: bigint | null = null;
  for (let step = 0; step < opts.maxSteps; step++) {
    if (await opts.overBudget()) return { stoppedBy: 'over-budget', steps: step, firstNs, lastNs };
    firstNs ??= nowNs();
    tracer
      .startSpan(`chat ${opts.model}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          ...session,
          'gen_ai.operation.name': 'chat',
          'gen_ai.request.model': opts.model,
          'gen_ai.response.model': opts.model,
          'gen_ai.usage.input_tokens': opts.inputTokens,
          'gen_ai.usage.output_tokens': opts.outputTokens,
        },
      })
      .end();
    tracer
      .startSpan(`execute_tool ${opts.tool}`, {
        kind: SpanKind.INTERNAL,
        attributes: {
          ...session,
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': opts.tool,
          'gen_ai.tool.type': 'function',
          'gen_ai.tool.call.id': `call_${step}`,
          'gen_ai.tool.call.arguments': opts.toolArguments,
        },
      })
      .end();
    lastNs = nowNs();
    await sleep(opts.pauseMs);
  }
  return { stoppedBy: 'max-steps', steps: opts.maxSteps, firstNs, lastNs };
}
