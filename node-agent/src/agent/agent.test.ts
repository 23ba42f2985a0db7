import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log.ts';
import { Agent, type AgentParts, type Listening, type Watch } from './agent.ts';

/** Parts that record every call in one list, in the order the agent makes them. */
function fakeParts(
  options: {
    podsSync?: Promise<void>;
    policiesSync?: Promise<void>;
    failing?: readonly string[];
    gpu?: boolean;
  } = {},
) {
  const calls: string[] = [];
  const warnings: Record<string, unknown>[] = [];
  const log = createLogger({
    component: 'test',
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed.level === 'warn') warnings.push(parsed);
        }
        done();
      },
    }),
  });
  const record = (name: string) => async (): Promise<void> => {
    calls.push(name);
    if (options.failing?.includes(name)) throw new Error(`${name} failed`);
  };
  const server = (name: string): { listen(): Promise<Listening> } => ({
    listen: async () => {
      calls.push(`${name}.listen`);
      return { host: '127.0.0.1', port: 1, close: record(`${name}.close`) };
    },
  });
  const watch = (name: string, synced: Promise<void>): Watch => ({
    start: () => void calls.push(`${name}.start`),
    whenSynced: () => synced,
    stop: record(`${name}.stop`),
  });
  const parts: AgentParts = {
    log,
    ledger: { markStart: record('ledger.markStart'), close: record('ledger.close') },
    sampler: {
      recover: record('sampler.recover'),
      close: () => void calls.push('sampler.close'),
    },
    health: server('health'),
    api: server('api'),
    metricsServer: server('metrics'),
    otlp: server('otlp'),
    pods: watch('pods', options.podsSync ?? Promise.resolve()),
    policies: watch('policies', options.policiesSync ?? Promise.resolve()),
    gpu:
      options.gpu === false
        ? null
        : { start: () => void calls.push('gpu.start'), stop: record('gpu.stop') },
    ticks: { start: record('ticks.start'), stop: record('ticks.stop') },
    policySyncWaitMs: 10,
  };
  return { parts, calls, warnings };
}

const STOP_ORDER = [
  'otlp.close',
  'ticks.stop',
  'api.close',
  'metrics.close',
  'gpu.stop',
  'pods.stop',
  'policies.stop',
  'sampler.close',
  'ledger.close',
  'health.close',
];

describe('Agent', () => {
  it('starts the ledger and baselines first, then the servers, the watches and the ticks', async () => {
    const { parts, calls } = fakeParts();
    const agent = new Agent(parts);
    await agent.start();
    expect(calls).toEqual([
      'ledger.markStart',
      'sampler.recover',
      'health.listen',
      'api.listen',
      'metrics.listen',
      'otlp.listen',
      'pods.start',
      'policies.start',
      'gpu.start',
      'ticks.start',
    ]);
    expect(agent.apiAddress).toEqual({ host: '127.0.0.1', port: 1 });
  });

  it('stops the OTLP receiver, ticks a last time, then closes the API, watches, files and ledger', async () => {
    const { parts, calls } = fakeParts();
    const agent = new Agent(parts);
    await agent.start();
    calls.length = 0;
    await agent.stop();
    expect(calls).toEqual(STOP_ORDER);
  });

  it('runs each stop step once however often stop() is called', async () => {
    const { parts, calls } = fakeParts({ gpu: false });
    const agent = new Agent(parts);
    await agent.start();
    calls.length = 0;
    await Promise.all([agent.stop(), agent.stop()]);
    await agent.stop();
    expect(calls).toEqual(STOP_ORDER.filter((c) => c !== 'gpu.stop'));
  });

  it('closes only the ledger and the cgroup files when it never started', async () => {
    const { parts, calls } = fakeParts();
    await new Agent(parts).stop();
    expect(calls).toEqual(['sampler.close', 'ledger.close']);
  });

  it('stopped while waiting for the pod watch, it never ticks and stops what did start', async () => {
    const { parts, calls } = fakeParts({ podsSync: new Promise(() => undefined) });
    const agent = new Agent(parts);
    const started = agent.start();
    while (!calls.includes('gpu.start')) await new Promise((r) => setImmediate(r));
    await agent.stop();
    await started;
    expect(calls).not.toContain('ticks.start');
    expect(calls.slice(calls.indexOf('gpu.start') + 1)).toEqual(
      STOP_ORDER.filter((c) => c !== 'ticks.stop'),
    );
  });

  it('meters unpriced when CostPolicies do not sync in time, and says so', async () => {
    const { parts, calls, warnings } = fakeParts({ policiesSync: new Promise(() => undefined) });
    await new Agent(parts).start();
    expect(calls.at(-1)).toBe('ticks.start');
    expect(warnings.map((w) => w.msg)).toContain(
      'cost policies not synced yet; pods are metered unpriced until they are',
    );
  });

  it('logs a failing stop step and still runs the rest, down to closing the ledger', async () => {
    const { parts, calls, warnings } = fakeParts({ failing: ['otlp.close', 'ticks.stop'] });
    const agent = new Agent(parts);
    await agent.start();
    calls.length = 0;
    await agent.stop();
    expect(calls).toEqual(STOP_ORDER);
    expect(warnings.map((w) => w.step)).toEqual(['otlp-close', 'final-tick']);
  });

  it('after a failed start, stops what started', async () => {
    const { parts, calls } = fakeParts({ failing: ['ticks.start'] });
    const agent = new Agent(parts);
    await expect(agent.start()).rejects.toThrow('ticks.start failed');
    calls.length = 0;
    await agent.stop();
    expect(calls).toEqual(STOP_ORDER);
  });
});
