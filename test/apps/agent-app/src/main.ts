// agent-app: a small agent service instrumented the standard way (NodeTracerProvider, a
// BatchSpanProcessor and the OTLP/HTTP protobuf exporter). Configured by the SDK's own
// environment variables (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) and:
//   PORT                  listen port (default 8080, all addresses: it runs in a pod; 0 picks one,
//                         which the `listening` log line names)
//   HOST                  listen address (default 0.0.0.0: inside a pod, the pod's own addresses)
//   AGENT_APP_MODEL       model its chat spans name (default gpt-4o-mini)
// SIGTERM or SIGINT stops the server and shuts the provider down, which exports every span.
// `node src/loop-main.ts` runs the looping agent instead (loop.ts).
import { trace } from '@opentelemetry/api';
import { createAppServer } from './server.ts';
import { log, startTracing } from './telemetry.ts';

const port = Number(process.env.PORT ?? '8080');
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log({ level: 'error', msg: 'PORT is not a port number', port: process.env.PORT });
  process.exit(2);
}

const provider = startTracing();

const server = createAppServer({
  tracer: trace.getTracer('agent-app'),
  agentName: 'agent-app',
  defaultModel: process.env.AGENT_APP_MODEL ?? 'gpt-4o-mini',
  flush: () => provider.forceFlush(),
  log,
});
server.listen(port, process.env.HOST ?? '0.0.0.0', () => {
  const address = server.address();
  log({
    level: 'info',
    msg: 'listening',
    port: typeof address === 'object' && address ? address.port : port,
  });
});

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log({ level: 'info', msg: 'stopping', signal });
  server.close();
  provider.shutdown().then(
    () => {
      log({ level: 'info', msg: 'spans flushed; exiting' });
      process.exit(0);
    },
    (err: unknown) => {
      log({ level: 'error', msg: 'span export failed at shutdown', error: String(err) });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
