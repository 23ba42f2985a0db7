// The looping agent as a process (loop.ts), configured by the SDK's environment variables and:
//   AGENT_APP_LOOP_SESSION   session id (required)
//   AGENT_APP_SESSION_URL    the node agent's view of the session, `GET .../v1/sessions/{ns}/{id}`
//                            on its OTLP port (required); 404 (no usage yet) reads as not over
//   AGENT_APP_LOOP_TOOL      tool name (default web_search)
//   AGENT_APP_LOOP_ARGS      the tool arguments, the same every step (default a JSON query)
//   AGENT_APP_LOOP_PAUSE_MS  pause between steps (default 100)
//   AGENT_APP_LOOP_MAX_STEPS bound on the loop (default 20000)
//   AGENT_APP_LOOP_INPUT_TOKENS, AGENT_APP_LOOP_OUTPUT_TOKENS  tokens of each chat (2000, 100)
//   AGENT_APP_MODEL          model of the chat spans (default gpt-4o-mini)
// Exits 0 when its session was marked over budget, 3 when the bound ended the loop instead.
import { trace } from '@opentelemetry/api';
import { runToolLoop } from './loop.ts';
import { log, startTracing } from './telemetry.ts';

function setting(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    log({ level: 'error', msg: `${name} is required` });
    process.exit(2);
  }
  return value;
}

function whole(name: string, fallback: string): number {
  const raw = setting(name, fallback);
  if (!/^\d{1,9}$/.test(raw)) {
    log({ level: 'error', msg: `${name} is not a whole number`, value: raw });
    process.exit(2);
  }
  return Number(raw);
}

const sessionUrl = setting('AGENT_APP_SESSION_URL');
let failures = 0;

async function overBudget(): Promise<boolean> {
  try {
    const res = await fetch(sessionUrl, { signal: AbortSignal.timeout(2_000) });
    if (res.status === 404) return false;
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    return ((await res.json()) as { overBudget?: boolean }).overBudget === true;
  } catch (err) {
    // A runaway keeps running while it cannot ask; each failure is logged.
    failures++;
    log({ level: 'warn', msg: 'session check failed', failures, error: String(err) });
    return false;
  }
}

const provider = startTracing();
const result = await runToolLoop(trace.getTracer('agent-app'), {
  sessionId: setting('AGENT_APP_LOOP_SESSION'),
  model: setting('AGENT_APP_MODEL', 'gpt-4o-mini'),
  tool: setting('AGENT_APP_LOOP_TOOL', 'web_search'),
  toolArguments: setting('AGENT_APP_LOOP_ARGS', '{"query":"status of order 42"}'),
  inputTokens: whole('AGENT_APP_LOOP_INPUT_TOKENS', '2000'),
  outputTokens: whole('AGENT_APP_LOOP_OUTPUT_TOKENS', '100'),
  pauseMs: whole('AGENT_APP_LOOP_PAUSE_MS', '100'),
  maxSteps: whole('AGENT_APP_LOOP_MAX_STEPS', '20000'),
  overBudget,
});
log({
  level: 'info',
  msg: 'loop stopped',
  stoppedBy: result.stoppedBy,
  steps: result.steps,
  firstNs: result.firstNs?.toString() ?? null,
  lastNs: result.lastNs?.toString() ?? null,
});
await provider.shutdown();
process.exit(result.stoppedBy === 'over-budget' ? 0 : 3);
