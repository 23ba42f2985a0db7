// Pulling agents' ledgers: each agent once per round, from the lowest position any policy needs,
// every verified page folded into every policy and then dropped.
import type { Logger } from 'pino';
import type { LedgerPosition } from '@agentmeter/crds';
import type { Clock } from '../runtime/index.ts';
import { indexPage } from '../budgets/accumulate.ts';
import type { Agent } from '../collect/agents.ts';
import type { AgentApi, LedgerInfo } from '../collect/client.ts';
import { pullChain, type ChainFailure, type PullOptions } from '../collect/pull.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { mapLimit } from './map-limit.ts';
import type { PolicyRun } from './policy-run.ts';

export interface AgentPull {
  readonly agent: Agent;
  readonly info: LedgerInfo;
  /** Verified entries pulled this round. */
  readonly entries: number;
  readonly failure: ChainFailure | null;
}

export interface PullDeps {
  readonly agentApi: AgentApi;
  readonly metrics: Pick<OperatorMetrics, 'entries' | 'chainFailures' | 'lag'>;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly pull?: PullOptions;
  /** Agents pulled in parallel. */
  readonly concurrency: number;
}

/** The agent's ledger head and anchor; null (logged) when it does not answer. */
export async function readInfo(deps: PullDeps, agent: Agent): Promise<LedgerInfo | null> {
  try {
    return await deps.agentApi.info(agent);
  } catch (err) {
    deps.logger.warn({ node: agent.node, err: (err as Error).message }, 'agent unreachable');
    return null;
  }
}

function anchorOf(node: string, info: LedgerInfo): LedgerPosition {
  return { node, ...info.anchor };
}

/** The lowest position any run needs on `node` (a run with no cursor there needs the anchor);
 * undefined when there are no runs. */
export function pullStart(
  node: string,
  info: LedgerInfo,
  runs: readonly PolicyRun[],
): LedgerPosition | undefined {
  let start: LedgerPosition | undefined;
  for (const run of runs) {
    const from = run.fold.cursor(node) ?? anchorOf(node, info);
    if (start === undefined || from.seq < start.seq) start = from;
  }
  return start;
}

/** Pulls one agent, folding each verified page into every run; null when it could not be read. */
export async function pullAgent(
  deps: PullDeps,
  agent: Agent,
  info: LedgerInfo,
  runs: readonly PolicyRun[],
): Promise<AgentPull | null> {
  const { agentApi, metrics, clock } = deps;
  const node = agent.node;
  const start = pullStart(node, info, runs);
  if (start === undefined || start.seq >= info.head.seq) {
    metrics.lag.set({ node }, 0);
    return { agent, info, entries: 0, failure: null };
  }
  try {
    const r = await pullChain(
      agentApi,
      agent,
      start,
      (after, entries) => {
        const page = indexPage(node, after, entries);
        for (const run of runs) run.fold.add(page);
      },
      deps.pull,
    );
    metrics.entries.inc({ node, result: 'accepted' }, r.count);
    if (r.failure) {
      metrics.chainFailures.inc({ node });
      metrics.entries.inc({ node, result: 'refused' });
      deps.logger.error(
        { node, ...r.failure },
        'ledger chain verification failed; entries refused',
      );
    }
    const lagMs = r.complete
      ? 0
      : clock.date().getTime() - (r.last ? Number(BigInt(r.last.time.end) / 1_000_000n) : 0);
    metrics.lag.set({ node }, Math.max(0, lagMs / 1000));
    return { agent, info, entries: r.count, failure: r.failure };
  } catch (err) {
    // What was folded before the error stays folded: its cursors move with it.
    deps.logger.warn({ node, err: (err as Error).message }, 'ledger pull failed');
    return null;
  }
}

/** After a conflict this round's pages are gone: pull again into `run` from its fresh cursors,
 * from the agents that answered this round. A failure leaves the rest for the next round. */
export async function repull(
  deps: PullDeps,
  run: PolicyRun,
  pulls: readonly AgentPull[],
): Promise<void> {
  await mapLimit(pulls, deps.concurrency, async ({ agent, info }) => {
    const from = run.fold.cursor(agent.node) ?? anchorOf(agent.node, info);
    if (from.seq >= info.head.seq) return;
    try {
      await pullChain(
        deps.agentApi,
        agent,
        from,
        (after, entries) => run.fold.add(indexPage(agent.node, after, entries)),
        deps.pull,
      );
    } catch (err) {
      deps.logger.warn(
        { node: agent.node, err: (err as Error).message },
        'ledger re-pull failed; the rest is counted next round',
      );
    }
  });
}
