import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Agent } from '../collect/agents.ts';
import type { AgentApi } from '../collect/client.ts';
import { markChanges, SessionMarks } from './session-marks.ts';

describe('markChanges', () => {
  it('sets what is wanted and missing, clears what is held and no longer wanted', () => {
    expect(markChanges(new Set(['n/a', 'n/b']), new Set(['n/b', 'n/c']))).toEqual([
      { key: 'n/c', over: true },
      { key: 'n/a', over: false },
    ]);
    expect(markChanges(new Set(['n/a']), new Set(['n/a']))).toEqual([]);
  });
});

describe('SessionMarks', () => {
  /** Agents that each hold a set of marks; `down` refuses every call. */
  function agents(down: string) {
    const held = new Map<string, Set<string>>([
      ['a', new Set(['ns/old'])],
      ['b', new Set()],
      [down, new Set()],
    ]);
    const check = (agent: Agent) => {
      if (agent.node === down) throw new Error('connection refused');
      return held.get(agent.node) as Set<string>;
    };
    const api = {
      overBudgetSessions: async (agent: Agent) =>
        [...check(agent)].map((k) => ({ namespace: k.split('/')[0], id: k.split('/')[1] })),
      setSessionOverBudget: async (agent: Agent, ns: string, id: string, over: boolean) => {
        const marks = check(agent);
        if (over) marks.add(`${ns}/${id}`);
        else marks.delete(`${ns}/${id}`);
      },
    } as unknown as AgentApi;
    const list = [...held.keys()].map((node) => ({ node, url: `http://${node}` }));
    return { held, api, list };
  }

  it('brings every answering agent to the wanted marks and tolerates one that fails', async () => {
    const { held, api, list } = agents('c');
    const marks = new SessionMarks({
      agentApi: api,
      logger: pino({ level: 'silent' }),
      concurrency: 2,
    });
    expect(marks.due(false)).toBe(false);
    await marks.sync(new Set(['ns/s1']), list);
    expect([...(held.get('a') ?? [])]).toEqual(['ns/s1']);
    expect([...(held.get('b') ?? [])]).toEqual(['ns/s1']);
    // Marks are held, so a later round with no session budget still clears them.
    expect(marks.due(false)).toBe(true);
    await marks.sync(new Set(), list);
    expect(held.get('a')?.size).toBe(0);
    expect(marks.due(false)).toBe(false);
  });
});
