// Realistic OTLP/JSON ExportTraceServiceRequest objects for tests and the ingest bench.

export interface BatchOptions {
  readonly spans: number;
  /** Sessions cycled through the batch; the trace's root span carries `session.id`. */
  readonly sessions?: number;
  readonly spansPerTrace?: number;
  readonly startNs?: bigint;
  readonly podUid?: string;
  /** Varies ids between batches. */
  readonly seed?: number;
}

function hexOf(n: number, width: number): string {
  return n.toString(16).padStart(width, '0').slice(-width);
}

function attr(key: string, value: string | number): { key: string; value: object } {
  return typeof value === 'string'
    ? { key, value: { stringValue: value } }
    : { key, value: { intValue: String(value) } };
}

export function makeTraceBatch(options: BatchOptions): Record<string, unknown> {
  const perTrace = options.spansPerTrace ?? 5;
  const sessions = options.sessions ?? 10;
  const seed = options.seed ?? 1;
  const start = options.startNs ?? 1_760_000_000_000_000_000n;
  const spans = [];
  for (let i = 0; i < options.spans; i++) {
    const trace = Math.floor(i / perTrace);
    const root = i % perTrace === 0;
    const traceId = hexOf(seed, 16) + hexOf(trace + 1, 16);
    const spanStart = start + BigInt(i) * 1_000_000n;
    const attributes = [
      attr('gen_ai.operation.name', 'chat'),
      attr('gen_ai.provider.name', 'openai'),
      attr('gen_ai.request.model', 'llama-3.1-8b'),
      attr('gen_ai.usage.input_tokens', 400 + (i % 50)),
      attr('gen_ai.usage.output_tokens', 100 + (i % 30)),
      attr('http.route', '/v1/chat/completions'),
    ];
    if (root) attributes.push(attr('session.id', `s-${seed}-${trace % sessions}`));
    spans.push({
      traceId,
      spanId: hexOf(seed, 8) + hexOf(i + 1, 8),
      ...(root ? {} : { parentSpanId: hexOf(seed, 8) + hexOf(i - (i % perTrace) + 1, 8) }),
      name: 'chat llama-3.1-8b',
      kind: root ? 2 : 3,
      startTimeUnixNano: String(spanStart),
      endTimeUnixNano: String(spanStart + 250_000_000n),
      attributes,
      status: { code: 1 },
    });
  }
  const resourceAttributes = [
    attr('service.name', 'agent-runtime'),
    attr('k8s.namespace.name', 'team-a'),
  ];
  if (options.podUid !== undefined) resourceAttributes.push(attr('k8s.pod.uid', options.podUid));
  return {
    resourceSpans: [
      {
        resource: { attributes: resourceAttributes },
        scopeSpans: [{ scope: { name: 'my.agent', version: '0.3.0' }, spans }],
      },
    ],
  };
}
