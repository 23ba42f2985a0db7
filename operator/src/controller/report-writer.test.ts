import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CostReport } from '@agentmeter/crds';
import { FakeApiServer, statusReply, type SeenRequest } from '../runtime/fake-apiserver.ts';
import { newNamespaceAccum, type ClosedPeriod } from '../budgets/state.ts';
import { buildReports } from '../reports/build.ts';
import { writeReports } from './report-writer.ts';
import { controllerDeps, memoryStore, costPolicy, REPORT_PATH } from './test-support.ts';

let server: FakeApiServer;
beforeAll(async () => {
  server = await FakeApiServer.start();
});
afterEach(() => server.verify());
afterAll(() => server.close());

function closedMay(): ClosedPeriod {
  const a = newNamespaceAccum();
  a.cost.cpu = 1_500_000_000n;
  return {
    spec: 'Monthly/UTC',
    budgets: ['b'],
    start: Date.parse('2026-05-01T00:00:00Z'),
    end: Date.parse('2026-06-01T00:00:00Z'),
    generation: 1,
    heads: [{ node: 'n1', seq: 3n, hash: 'f'.repeat(64) }],
    namespaces: new Map([['ns-1', a]]),
  };
}

describe('writeReports', () => {
  it('creates the reports of a closed period and records that it closed', async () => {
    const store = await memoryStore();
    const may = closedMay();
    const session = (spec: string, namespace: string, sessionId: string) => ({
      spec,
      periodStartNs: BigInt(may.start) * 1_000_000n,
      namespace,
      sessionId,
    });
    await store.commit({
      policy: 'p',
      atNs: 1n,
      cursors: [],
      budgets: [],
      sessions: [],
      // Two sessions of ns-1 in this period; one of another period spec is not counted.
      periodSessions: [
        session('Monthly/UTC', 'ns-1', 's1'),
        session('Monthly/UTC', 'ns-1', 's2'),
        session('Weekly/UTC', 'ns-1', 's3'),
      ],
      rollups: [],
      calls: [],
    });
    const deps = controllerDeps(server, store);
    let created: CostReport | undefined;
    server.expect({
      method: 'POST',
      path: REPORT_PATH,
      check: (req) => (created = req.body as CostReport),
      reply: (req: SeenRequest) => ({ status: 201, body: req.body }),
    });
    expect(await writeReports(deps, costPolicy('p'), [may])).toBe(1);
    expect(created?.spec).toMatchObject({ policy: { name: 'p', budget: 'b' }, currency: 'USD' });
    expect(created?.spec.totals.sessions).toBe(2);
    expect(created?.spec.namespaces.map((n) => n.sessions)).toEqual([2]);
    expect(deps.events.recorded.map((e) => e.input.reason)).toEqual(['PeriodClosed']);
  });

  it('takes an existing equal report as written, and surfaces a different one untouched', async () => {
    const [expected] = buildReports({
      policy: 'p',
      currency: 'USD',
      closed: closedMay(),
      sessions: new Map(),
      timeZone: 'UTC',
      budget: 'b',
    });
    const name = expected?.metadata.name ?? '';
    const exists = statusReply(409, 'AlreadyExists', `costreports "${name}" already exists`);
    const deps = controllerDeps(server, await memoryStore());
    server.expect(
      { method: 'POST', path: REPORT_PATH, reply: exists },
      { method: 'GET', path: `${REPORT_PATH}/${name}`, reply: { body: expected } },
    );
    expect(await writeReports(deps, costPolicy('p'), [closedMay()])).toBe(0);
    expect(deps.events.recorded).toEqual([]);

    const other = { ...expected, spec: { ...expected?.spec, currency: 'EUR' } };
    server.expect(
      { method: 'POST', path: REPORT_PATH, reply: exists },
      { method: 'GET', path: `${REPORT_PATH}/${name}`, reply: { body: other } },
    );
    expect(await writeReports(deps, costPolicy('p'), [closedMay()])).toBe(0);
    expect(deps.events.recorded.map((e) => [e.input.type, e.input.reason])).toEqual([
      ['Warning', 'CostReportConflict'],
    ]);
  });

  it('passes on a failure other than AlreadyExists', async () => {
    server.expect({
      method: 'POST',
      path: REPORT_PATH,
      reply: statusReply(403, 'Forbidden', 'costreports is forbidden'),
    });
    await expect(
      writeReports(controllerDeps(server, await memoryStore()), costPolicy('p'), [closedMay()]),
    ).rejects.toThrow(/forbidden|403/);
  });
});
