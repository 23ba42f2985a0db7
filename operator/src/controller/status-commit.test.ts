// The round's commit to a real embedded store and its status to a scripted apiserver
// (controller-rs fixtures.rs style): what is sent, in what order, what a 409 Conflict leads to,
// and what a cursor another round moved first leads to.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CostPolicy, CostPolicyStatus } from '@agentmeter/crds';
import { FakeApiServer, statusReply, type SeenRequest } from '../runtime/fake-apiserver.ts';
import { chainOf, podBody } from '../budgets/test-ledger.ts';
import { indexPage } from '../budgets/accumulate.ts';
import { HourlyBook } from '../anomaly/hourly-book.ts';
import { ActivityWindow } from '../guards/window.ts';
import { decodeWindow } from '../guards/window-state.ts';
import { preparePolicy, type PolicyRun } from './policy-run.ts';
import { commitStatus, MAX_ATTEMPTS, ReconcileError } from './status-commit.ts';
import type { Health } from './status-build.ts';
import type { AccountingStore } from '../store/accounting.ts';
import { controllerDeps, costPolicy, memoryStore, POLICY_PATH } from './test-support.ts';

const healthy: Health = { unreachable: [], refused: [] };
const STATUS = `${POLICY_PATH}/p/status`;
let server: FakeApiServer;

beforeAll(async () => {
  server = await FakeApiServer.start();
});
afterEach(() => server.verify());
afterAll(() => server.close());

/** A controller on `store` (a fresh embedded one unless given: another process's shares it). */
async function setup(pulled: (run: PolicyRun) => void = () => undefined, store?: AccountingStore) {
  const deps = controllerDeps(server, store ?? (await memoryStore()));
  const positions = { anchors: new Map<string, bigint>() };
  const repulled: PolicyRun[] = [];
  const window = new ActivityWindow();
  const commit = {
    ...deps,
    prepare: (p: CostPolicy) => preparePolicy(deps, p, positions),
    repull: async (run: PolicyRun) => {
      repulled.push(run);
      pulled(run);
    },
    guardWindow: () => window,
    history: new HourlyBook(),
  };
  return { deps, commit, repulled, window };
}

/** Answers a status patch with the policy carrying the patched status at a new version. */
function accept(rv: string) {
  return (req: SeenRequest) => {
    const body = req.body as { status: CostPolicyStatus };
    const stored = costPolicy('p', { status: body.status });
    return { body: { ...stored, metadata: { ...stored.metadata, resourceVersion: rv } } };
  };
}

const conflict = statusReply(409, 'Conflict', 'the object has been modified');

/** Expects one status patch, accepted at `rv`; the function returned gives the status it sent. */
function capturePatch(rv: string): () => CostPolicyStatus | undefined {
  let sent: CostPolicyStatus | undefined;
  server.expect({
    method: 'PATCH',
    path: STATUS,
    check: (req) => (sent = (req.body as { status: CostPolicyStatus }).status),
    reply: accept(rv),
  });
  return () => sent;
}

describe('commitStatus', () => {
  it('writes one merge patch guarded by the resourceVersion it read', async () => {
    const { commit } = await setup();
    const run = await commit.prepare(costPolicy('p'));
    let sent: SeenRequest | undefined;
    server.expect({
      method: 'PATCH',
      path: STATUS,
      check: (req) => (sent = req),
      reply: accept('2'),
    });
    const r = await commitStatus(commit, run, healthy);
    expect(r.writes).toBe(1);
    expect(sent?.headers['content-type']).toBe('application/merge-patch+json');
    const body = sent?.body as { metadata: { resourceVersion: string }; status: CostPolicyStatus };
    expect(body.metadata.resourceVersion).toBe('1');
    expect(body.status.observedGeneration).toBe(1);
    expect(body.status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    // The state lives in the store; a status from before the store loses its copy.
    expect(body.status.accumulatorState).toBeNull();
    expect((await commit.store.point('p')).state).toMatch(/^v1\./);
    expect(r.outcome.policy.metadata.resourceVersion).toBe('2');
  });

  it('sends nothing when the stored status already says the same', async () => {
    const { commit } = await setup();
    server.expect({ method: 'PATCH', path: STATUS, reply: accept('2') });
    const first = await commitStatus(commit, await commit.prepare(costPolicy('p')), healthy);
    const again = await commitStatus(commit, await commit.prepare(first.outcome.policy), healthy);
    expect(again.writes).toBe(0);
    expect(server.seen.at(-1)?.method).toBe('PATCH');
  });

  it('on a status conflict re-reads the policy and writes over the new version, counting nothing again', async () => {
    const { commit, repulled } = await setup();
    const run = await commit.prepare(costPolicy('p'));
    const fresh = costPolicy('p');
    fresh.metadata.resourceVersion = '7';
    server.expect(
      { method: 'PATCH', path: STATUS, reply: conflict },
      { method: 'GET', path: `${POLICY_PATH}/p`, reply: { body: fresh } },
      {
        method: 'PATCH',
        path: STATUS,
        check: (req) =>
          expect((req.body as { metadata: { resourceVersion: string } }).metadata).toEqual({
            resourceVersion: '7',
          }),
        reply: accept('8'),
      },
    );
    const r = await commitStatus(commit, run, healthy);
    expect(r.writes).toBe(1);
    expect(repulled).toHaveLength(0);
  });

  it('on a store cursor conflict prepares again from the store and pulls again: counted once', async () => {
    const entries = chainOf('n1', [
      podBody({ namespace: 'ns-1', nano: 700n, atMs: Date.parse('2026-05-10T11:00:00Z') }),
    ]);
    const page = indexPage('n1', { node: 'n1', seq: 0n, hash: entries[0]?.prev ?? '' }, entries);
    const { commit, repulled } = await setup((run) => run.fold.add(page));
    const policy = costPolicy('p');
    policy.spec.budgets = [{ name: 'all', amount: '1', period: 'Daily' }];
    // Two rounds from the same stored point (a deposed leader and the new one).
    const stale = await commit.prepare(policy);
    const leader = await commit.prepare(policy);
    stale.fold.add(page);
    leader.fold.add(page);
    server.expect({ method: 'PATCH', path: STATUS, reply: accept('2') });
    await commitStatus(commit, leader, healthy);
    server.expect(
      { method: 'GET', path: `${POLICY_PATH}/p`, reply: { body: policy } },
      { method: 'PATCH', path: STATUS, reply: accept('3') },
    );
    const r = await commitStatus(commit, stale, healthy);
    expect(repulled).toHaveLength(1);
    const start = BigInt(Date.parse('2026-05-10T00:00:00Z')) * 1_000_000n;
    expect(await commit.store.spend('p', 'all', start, '*')).toBe(700n);
    expect(r.outcome.cursors).toEqual([{ node: 'n1', seq: 1n, hash: entries[0]?.hash }]);
  });

  it('rebuilds a lost store from the ledgers: open period only, a StoreRebuilt condition and Event', async () => {
    const entries = chainOf('n1', [
      podBody({ namespace: 'ns-1', nano: 500n, atMs: Date.parse('2026-05-09T23:00:00Z') }, 0),
      podBody({ namespace: 'ns-1', nano: 40n, atMs: Date.parse('2026-05-10T11:00:00Z') }, 1),
    ]);
    const page = indexPage('n1', { node: 'n1', seq: 0n, hash: entries[0]?.prev ?? '' }, entries);
    const { deps, commit } = await setup();
    // The status says n1 was counted up to 2 and n2 up to 7; the store is empty, n2 is gone.
    const policy = costPolicy('p', {
      status: { collection: { cursors: `n1 2 ${'b'.repeat(64)}\nn2 7 ${'c'.repeat(64)}` } },
    });
    policy.spec.budgets = [{ name: 'all', amount: '1', period: 'Daily' }];
    const run = await preparePolicy(deps, policy, { anchors: new Map([['n1', 0n]]) });
    run.fold.add(page);
    const sent = capturePatch('2');
    await commitStatus(commit, run, healthy);
    // Yesterday's entry belongs to a closed period (its CostReport): not counted again.
    const start = BigInt(Date.parse('2026-05-10T00:00:00Z')) * 1_000_000n;
    expect(await commit.store.spend('p', 'all', start, '*')).toBe(40n);
    expect((await commit.store.point('p')).countFromMs).toBe(Date.parse('2026-05-10T00:00:00Z'));
    const c = sent()?.conditions?.find((x) => x.type === 'StoreRebuilt');
    expect(c).toMatchObject({ status: 'True', reason: 'Incomplete' });
    expect(c?.message).toContain('not rebuilt: n2: its agent does not answer');
    const events = deps.events.recorded.filter((e) => e.input.reason === 'StoreRebuilt');
    expect(events).toHaveLength(1);
    expect(events[0]?.input.note).toBe(c?.message);
    // The next round finds the store holding the policy: no second rebuild.
    expect((await commit.prepare(costPolicy('p', { status: sent() }))).rebuild).toBeUndefined();
  });

  it(`gives up with a ReconcileError after ${MAX_ATTEMPTS} status conflicts`, async () => {
    const { commit, repulled } = await setup();
    const run = await commit.prepare(costPolicy('p'));
    for (let i = 0; i < MAX_ATTEMPTS; i++)
      server.expect(
        { method: 'PATCH', path: STATUS, reply: conflict },
        { method: 'GET', path: `${POLICY_PATH}/p`, reply: { body: costPolicy('p') } },
      );
    await expect(commitStatus(commit, run, healthy)).rejects.toThrow(ReconcileError);
    expect(repulled).toHaveLength(0);
  });

  it('passes any other failure through without retrying', async () => {
    const { commit } = await setup();
    const run = await commit.prepare(costPolicy('p'));
    server.expect({
      method: 'PATCH',
      path: STATUS,
      reply: statusReply(422, 'Invalid', 'status.budgets: Invalid value'),
    });
    await expect(commitStatus(commit, run, healthy)).rejects.toThrow(/Invalid value|422/);
  });

  describe('guards', () => {
    const now = Date.parse('2026-05-10T12:00:00Z');
    // Four ticks of 0.3 in 30 s for session s1 of ns-1: 1.2 in a minute against a limit of 1.
    const entries = chainOf(
      'n1',
      [0, 10, 20, 30].map((s, i) =>
        podBody(
          { namespace: 'ns-1', nano: 300_000_000n, atMs: now - 40_000 + s * 1000, session: 's1' },
          i,
        ),
      ),
    );
    const page = indexPage('n1', { node: 'n1', seq: 0n, hash: entries[0]?.prev ?? '' }, entries);
    const guarded = (status?: CostPolicyStatus, annotations?: Record<string, string>) => {
      const p = costPolicy('p', status ? { status } : {});
      p.spec.guards = [{ name: 'burn', maxSpendPerMinute: '1' }];
      if (annotations) p.metadata.annotations = annotations;
      return p;
    };

    it('trips a session once, with an Event naming the guard, also after a status conflict', async () => {
      const { deps, commit, window } = await setup((run) => run.fold.add(page));
      const run = await commit.prepare(guarded());
      run.fold.add(page);
      let sent: CostPolicyStatus | undefined;
      server.expect(
        { method: 'PATCH', path: STATUS, reply: conflict },
        { method: 'GET', path: `${POLICY_PATH}/p`, reply: { body: guarded() } },
        {
          method: 'PATCH',
          path: STATUS,
          check: (req) => (sent = (req.body as { status: CostPolicyStatus }).status),
          reply: accept('2'),
        },
      );
      const r = await commitStatus(commit, run, healthy);
      expect(sent?.guards?.tripped).toEqual([
        {
          guard: 'burn',
          session: 'ns-1/s1',
          action: 'MarkOverBudget',
          kind: 'spendPerMinute',
          trippedAt: '2026-05-10T11:59:50Z',
          until: '2026-05-11T00:00:00Z',
          observed: '1.2',
          limit: '1',
        },
      ]);
      expect(r.outcome.tripped.map((t) => t.session)).toEqual(['ns-1/s1']);
      const trips = deps.events.recorded.filter((e) => e.input.reason === 'GuardTripped');
      expect(trips).toHaveLength(1);
      expect(trips[0]?.input.note).toBe(
        'guard burn: session ns-1/s1 spent 1.2 USD in one minute (limit 1) at 2026-05-10T11:59:50.000Z',
      );
      // The four entries are in the window once each, however often they were folded.
      expect(window.size).toBe(4);
      expect(window.records([], -Infinity)).toHaveLength(4);
    });

    it('clears the tripped set on a new clear-guards value and forgives the activity before it', async () => {
      const { deps, commit, window } = await setup();
      window.commit([
        {
          entry: 'n1/1',
          records: [{ session: 'ns-1/s1', atMs: now - 1000, nano: 2_000_000_000n }],
        },
      ]);
      const held: CostPolicyStatus = {
        guards: {
          tripped: [
            {
              guard: 'burn',
              session: 'ns-1/s1',
              action: 'MarkOverBudget',
              kind: 'spendPerMinute',
              trippedAt: '2026-05-10T11:59:59Z',
              until: '2026-05-11T00:00:00Z',
              observed: '2',
              limit: '1',
            },
          ],
        },
      };
      const sent = capturePatch('2');
      const run = await commit.prepare(guarded(held, { 'agentmeter.dev/clear-guards': 'x1' }));
      const r = await commitStatus(commit, run, healthy);
      expect(sent()?.guards).toMatchObject({
        tripped: [],
        cleared: 'x1',
        clearedAt: '2026-05-10T12:00:00Z',
      });
      expect(r.outcome.tripped).toEqual([]);
      expect(deps.events.recorded.filter((e) => e.input.reason === 'GuardTripped')).toEqual([]);
    });

    /** A first operator counts the first two ticks (0.6, under the limit) and stores its status;
     * the store it committed to is the one the next leader finds. */
    async function firstLeader(): Promise<{ stored: CostPolicyStatus; store: AccountingStore }> {
      const { commit } = await setup();
      const run = await commit.prepare(guarded());
      run.fold.add(indexPage('n1', page.after, entries.slice(0, 2)));
      const sent = capturePatch('2');
      const r = await commitStatus(commit, run, healthy);
      expect(r.outcome.tripped).toEqual([]);
      return { stored: sent() as CostPolicyStatus, store: commit.store };
    }

    it('a new leader judges the window and forecasts from the history the last one stored', async () => {
      const { stored, store } = await firstLeader();
      expect(decodeWindow(stored.guards?.window).map((e) => e.entry)).toEqual(['n1/2', 'n1/1']);
      // A fresh process: empty window and book, the policy as the apiserver holds it.
      const { commit, window } = await setup(undefined, store);
      const run = await commit.prepare(guarded(stored));
      run.fold.add(page);
      server.expect({ method: 'PATCH', path: STATUS, reply: accept('3') });
      const r = await commitStatus(commit, run, healthy);
      // Only ticks 3 and 4 are counted here; with the stored two they pass the limit.
      expect(r.outcome.tripped).toMatchObject([{ guard: 'burn', observed: '1.2' }]);
      expect(window.size).toBe(4);
      // The ticks were in the hour before `now`: all four in the restored book and this round.
      const hour = Math.floor(now / 3_600_000) - 1;
      const held = commit.history.view('p', new Map(), now).streams.get('policy:*');
      expect(held).toEqual(new Map([[hour, 1_200_000_000n]]));
    });

    it('without the stored window a new leader would miss the trip', async () => {
      const { stored, store } = await firstLeader();
      const { commit } = await setup(undefined, store);
      const run = await commit.prepare(
        guarded({ ...stored, guards: { ...stored.guards, window: '' } }),
      );
      run.fold.add(page);
      server.expect({ method: 'PATCH', path: STATUS, reply: accept('3') });
      expect((await commitStatus(commit, run, healthy)).outcome.tripped).toEqual([]);
    });
  });
});
