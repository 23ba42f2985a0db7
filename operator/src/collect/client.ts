// HTTP client for the agents' operator-facing API, authenticated with the operator's
// ServiceAccount token (audience agentmeter); the agent checks it with TokenReview and
// SubjectAccessReview. The token file is re-read on every call because the kubelet rotates it.
import { readFile } from 'node:fs/promises';
import { parseSeq } from '@agentmeter/crds';
import type { ChainHead } from '@agentmeter/crds';
import type { Agent } from './agents.ts';

export interface LedgerInfo {
  readonly anchor: ChainHead;
  readonly head: ChainHead;
  readonly acked: bigint;
}

export interface LedgerPage {
  readonly entries: unknown[];
  readonly next: bigint | null;
  readonly head: ChainHead;
}

export interface AgentApi {
  info(agent: Agent): Promise<LedgerInfo>;
  page(agent: Agent, after: bigint, limit: number): Promise<LedgerPage>;
  ack(agent: Agent, seq: bigint): Promise<void>;
  setSessionOverBudget(agent: Agent, namespace: string, id: string, over: boolean): Promise<void>;
  overBudgetSessions(agent: Agent): Promise<{ namespace: string; id: string }[]>;
}

export class AgentRequestError extends Error {
  override readonly name = 'AgentRequestError';
  readonly node: string;
  readonly status: number | undefined;
  constructor(node: string, message: string, status?: number, options?: ErrorOptions) {
    super(`agent ${node}: ${message}`, options);
    this.node = node;
    this.status = status;
  }
}

/** Sequence numbers arrive as decimal strings; anything else is the agent's fault, named. */
function seqFrom(node: string, what: string, value: unknown): bigint {
  const seq = parseSeq(value);
  if (seq === undefined) {
    throw new AgentRequestError(node, `${what} is not a sequence number: ${JSON.stringify(value)}`);
  }
  return seq;
}

function positionFrom(node: string, what: string, value: unknown): ChainHead {
  const { seq, hash } = (value ?? {}) as { seq?: unknown; hash?: unknown };
  if (typeof hash !== 'string') throw new AgentRequestError(node, `${what}.hash is not a string`);
  return { seq: seqFrom(node, `${what}.seq`, seq), hash };
}

export interface HttpAgentApiOptions {
  /** Returns the bearer token; e.g. tokenFromFile(path). */
  readonly token: () => Promise<string>;
  readonly timeoutMs?: number;
}

export function tokenFromFile(path: string): () => Promise<string> {
  return async () => (await readFile(path, 'utf8')).trim();
}

export function httpAgentApi(options: HttpAgentApiOptions): AgentApi {
  const timeoutMs = options.timeoutMs ?? 10_000;
  async function call(
    agent: Agent,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<unknown> {
    const token = await options.token();
    let res: Response;
    try {
      res = await fetch(`${agent.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new AgentRequestError(
        agent.node,
        `${method} ${path}: ${(err as Error).message}`,
        undefined,
        {
          cause: err,
        },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      throw new AgentRequestError(
        agent.node,
        `${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`,
        res.status,
      );
    }
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }
  return {
    info: async (agent) => {
      const body = (await call(agent, 'GET', '/v1/ledger/ack')) as Record<string, unknown>;
      return {
        anchor: positionFrom(agent.node, 'anchor', body.anchor),
        head: positionFrom(agent.node, 'head', body.head),
        acked: seqFrom(agent.node, 'acked', body.acked),
      };
    },
    page: async (agent, after, limit) => {
      const path = `/v1/ledger?after=${after}&limit=${limit}`;
      const body = (await call(agent, 'GET', path)) as Record<string, unknown>;
      if (!Array.isArray(body.entries)) {
        throw new AgentRequestError(agent.node, `GET ${path}: entries is not a list`);
      }
      return {
        entries: body.entries as unknown[],
        next: body.next === null ? null : seqFrom(agent.node, 'next', body.next),
        head: positionFrom(agent.node, 'head', body.head),
      };
    },
    ack: async (agent, seq) => {
      await call(agent, 'POST', '/v1/ledger/ack', { seq: seq.toString() });
    },
    setSessionOverBudget: async (agent, namespace, id, over) => {
      const path = `/v1/sessions/${encodeURIComponent(namespace)}/${encodeURIComponent(id)}/over-budget`;
      await call(agent, over ? 'POST' : 'DELETE', path);
    },
    overBudgetSessions: async (agent) =>
      (
        (await call(agent, 'GET', '/v1/sessions-over-budget')) as {
          sessions: { namespace: string; id: string }[];
        }
      ).sessions,
  };
}
