// openai-app: runs agent sessions that call a model through the official `openai` client, each
// session inside an `invoke_agent` span with `session.id` in baggage, then flushes and exits.
// Run: node --import ./src/instrument.ts src/main.ts '<plan>'
// The plan (JSON): [{ "session": "s1", "calls": [{ "op": "chat" | "stream" | "embed", "model": "…" }] }]
// The client reads OPENAI_BASE_URL and OPENAI_API_KEY. Prints one JSON line per session with
// its invoke_agent span's trace and span ids, so a caller can check the calls' place in the tree.
import { context, propagation, trace } from '@opentelemetry/api';
import OpenAI from 'openai';
import { provider } from './instrument.ts';

interface PlannedCall {
  readonly op: 'chat' | 'stream' | 'embed';
  readonly model: string;
}
interface PlannedSession {
  readonly session: string;
  readonly calls: readonly PlannedCall[];
}

const plan = JSON.parse(process.argv[2] ?? '[]') as PlannedSession[];
const client = new OpenAI();
const tracer = trace.getTracer('openai-app');

async function call(session: string, c: PlannedCall): Promise<void> {
  const messages = [{ role: 'user' as const, content: 'What does this pod cost?' }];
  if (c.op === 'chat') {
    await client.chat.completions.create({ model: c.model, messages, user: session });
  } else if (c.op === 'stream') {
    const stream = await client.chat.completions.create({
      model: c.model,
      messages,
      user: session,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of stream) void chunk;
  } else {
    await client.embeddings.create({ model: c.model, input: 'pod cost', user: session });
  }
}

function runSession(s: PlannedSession): Promise<void> {
  const bag = propagation.createBaggage({ 'session.id': { value: s.session } });
  return context.with(propagation.setBaggage(context.active(), bag), () =>
    tracer.startActiveSpan(
      'invoke_agent openai-app',
      { attributes: { 'gen_ai.operation.name': 'invoke_agent' } },
      async (span) => {
        try {
          for (const c of s.calls) await call(s.session, c);
        } finally {
          span.end();
        }
        const { traceId, spanId } = span.spanContext();
        process.stdout.write(`${JSON.stringify({ session: s.session, traceId, spanId })}\n`);
      },
    ),
  );
}

try {
  await Promise.all(plan.map(runSession));
} finally {
  // The batch processor exports in the background: without this the last spans are lost.
  await provider.shutdown();
}
