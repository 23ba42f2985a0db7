// Loaded with `node --import ./src/instrument.ts` before the app, as the instrumentation's docs
// ask: the OpenAI instrumentation patches the `openai` module when it is first imported, so the
// ESM loader hook and the instrumentation are registered before any import of it.
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  the agent's receiver (standard SDK variable)
//   OTLP_LOCAL_ADDRESS                  source address of the exports (tests: the pod's IP on
//                                       loopback; in a pod the pod's own address is the source)
import { register } from 'node:module';
import {
  ALLOW_ALL_BAGGAGE_KEYS,
  BaggageSpanProcessor,
} from '@opentelemetry/baggage-span-processor';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { OpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);

const localAddress = process.env.OTLP_LOCAL_ADDRESS;
export const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'openai-app' }),
  spanProcessors: [
    // session.id from baggage onto every span, the instrumentation's included.
    new BaggageSpanProcessor(ALLOW_ALL_BAGGAGE_KEYS),
    new BatchSpanProcessor(
      new OTLPTraceExporter(
        localAddress === undefined ? {} : { httpAgentOptions: { localAddress, keepAlive: true } },
      ),
    ),
  ],
});
provider.register();
registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()] });
