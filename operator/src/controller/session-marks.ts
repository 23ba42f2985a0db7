// Mirrors the over-budget sessions (keys `namespace/id`) into every agent's session API, so
// agents can refuse a session's further work.
import type { Logger } from 'pino';
import type { Agent } from '../collect/agents.ts';
import type { AgentApi } from '../collect/client.ts';
import { mapLimit } from './map-limit.ts';

/** The marks to set (over = true) and clear so that an agent holding `have` holds `want`. */
export function markChanges(
  have: ReadonlySet<string>,
  want: ReadonlySet<string>,
): { key: string; over: boolean }[] {
  return [
    ...[...want].filter((k) => !have.has(k)).map((key) => ({ key, over: true })),
    ...[...have].filter((k) => !want.has(k)).map((key) => ({ key, over: false })),
  ];
}

export interface SessionMarksDeps {
  readonly agentApi: AgentApi;
  readonly logger: Logger;
  readonly concurrency: number;
}

export class SessionMarks {
  readonly #deps: SessionMarksDeps;
  /** What the last sync asked for: while non-empty, a sync is due even with no session budget. */
  #marked = new Set<string>();

  constructor(deps: SessionMarksDeps) {
    this.#deps = deps;
  }

  /** Whether a sync is needed: some budget is scoped to sessions, or marks may need clearing. */
  due(sessionBudgets: boolean): boolean {
    return sessionBudgets || this.#marked.size > 0;
  }

  /** Sets and clears marks on every agent; an agent that fails is retried next round. */
  async sync(want: ReadonlySet<string>, agents: readonly Agent[]): Promise<void> {
    const { agentApi: api, logger } = this.#deps;
    await mapLimit(agents, this.#deps.concurrency, async (agent) => {
      try {
        const have = new Set(
          (await api.overBudgetSessions(agent)).map((s) => `${s.namespace}/${s.id}`),
        );
        for (const { key, over } of markChanges(have, want)) {
          const i = key.indexOf('/');
          await api.setSessionOverBudget(agent, key.slice(0, i), key.slice(i + 1), over);
        }
      } catch (err) {
        logger.warn(
          { node: agent.node, err: (err as Error).message },
          'session budget marks not updated',
        );
      }
    });
    this.#marked = new Set(want);
  }
}
