// A synthetic month of an agent platform, as the operator would pull it: sessions spread over
// 30 days in 50 namespaces, 20 leaf calls each (model, tool and API calls, a few unpriced or
// failed), plus each session's infrastructure share. Deterministic (no Math.random), so every
// engine ingests the same month. Batches are agent pulls: a session's calls arrive over
// PULLS_PER_SESSION consecutive pulls, as they would while it runs, so session rows are updated
// several times rather than written once.

export const NAMESPACES = 50;
export const CALLS_PER_SESSION = 20;
export const PULLS_PER_SESSION = 4;
const CALLS_PER_PULL = CALLS_PER_SESSION / PULLS_PER_SESSION;
export const DAY_NS = 86_400_000_000_000n;
export const DAYS = 30;
/** 2026-11-01T00:00:00Z. */
export const MONTH_START_NS = 1_793_491_200_000_000_000n;
export const POLICY = 'bench';
export const POLICY_GENERATION = 3n;
/** Budgets of the bench policy: Policy, Namespace and Session scope, all monthly. */
export const BUDGETS = { all: 'all', namespace: 'per-namespace', session: 'per-session' } as const;
const AGENTS_PER_NAMESPACE = 4;

const MODELS = [
  { model: 'gpt-5', provider: 'openai', inNano: 1250n, outNano: 10_000n },
  { model: 'gpt-5-mini', provider: 'openai', inNano: 250n, outNano: 2000n },
  { model: 'claude-sonnet-4-5', provider: 'anthropic', inNano: 3000n, outNano: 15_000n },
  { model: 'claude-haiku-4-5', provider: 'anthropic', inNano: 1000n, outNano: 5000n },
  { model: 'gemini-2.5-pro', provider: 'gcp.gemini', inNano: 1250n, outNano: 10_000n },
  { model: 'text-embedding-3-small', provider: 'openai', inNano: 20n, outNano: 0n },
] as const;
const TOOLS = ['web_search', 'code_interpreter', 'file_search', 'sql_query', 'fetch_page'];
const TOOL_PRICE_NANO = 5_000_000n;
const API_HOSTS = ['api.search.example', 'maps.example', 'geo.example'];
const API_PRICE_NANO = 2_000_000n;

/** One allocation-tag set per (namespace, agent name); id = its row in tag_sets. */
export interface TagSet {
  readonly id: number;
  readonly tags: Readonly<Record<string, string>>;
}

export function tagSets(): TagSet[] {
  const out: TagSet[] = [];
  for (let ns = 0; ns < NAMESPACES; ns++) {
    for (let a = 0; a < AGENTS_PER_NAMESPACE; a++) {
      out.push({
        id: ns * AGENTS_PER_NAMESPACE + a + 1,
        tags: {
          'cost-center': `cc-${ns % 7}`,
          'gen_ai.agent.name': `agent-${a}`,
          team: `team-${ns % 10}`,
        },
      });
    }
  }
  return out;
}

/** Leaf calls of one pull, column by column (what a multi-row insert binds). */
export interface CallColumns {
  traceId: string[];
  spanId: string[];
  parentSpanId: string[];
  startNs: bigint[];
  endNs: bigint[];
  namespace: string[];
  sessionId: string[];
  pod: string[];
  kind: ('model' | 'tool' | 'api')[];
  operation: string[];
  provider: (string | null)[];
  model: (string | null)[];
  toolName: (string | null)[];
  toolType: (string | null)[];
  apiHost: (string | null)[];
  inputTokens: bigint[];
  outputTokens: bigint[];
  cacheReadTokens: bigint[];
  cacheCreationTokens: bigint[];
  reasoningTokens: bigint[];
  errorType: (string | null)[];
  costNano: (bigint | null)[];
  unpricedReason: (string | null)[];
  tagSet: number[];
}

/** A session's infrastructure share in one pull (from pod-usage entries). */
export interface InfraShare {
  readonly namespace: string;
  readonly sessionId: string;
  readonly atNs: bigint;
  readonly nano: bigint;
  readonly cpuNs: bigint;
  readonly memoryByteSeconds: bigint;
  readonly tagSet: number;
}

/** One agent pull: the ledger range it covers and what the entries in it say. */
export interface Pull {
  readonly node: string;
  readonly agentId: string;
  readonly entries: number;
  readonly calls: CallColumns;
  readonly infra: readonly InfraShare[];
}

export interface MonthShape {
  readonly sessions: number;
  /** Sessions whose calls start in one pull (per pull, PULLS_PER_SESSION such blocks overlap). */
  readonly sessionsPerBlock: number;
  readonly nodes: number;
}

/** splitmix32: a well-mixed 32-bit hash of an integer seed. */
function mix(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const hex8 = (x: number): string => x.toString(16).padStart(8, '0');
const hexOf = (seed: number, words: number): string => {
  let s = '';
  for (let i = 0; i < words; i++) s += hex8(mix(seed * 8 + i + 1));
  return s;
};

export function sessionIdOf(s: number): string {
  const h = hexOf(s * 3 + 1, 4);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
export const namespaceOf = (s: number): string =>
  `tenant-${String(s % NAMESPACES).padStart(2, '0')}`;
const tagSetOf = (s: number): number =>
  (s % NAMESPACES) * AGENTS_PER_NAMESPACE + (mix(s) % AGENTS_PER_NAMESPACE) + 1;

function emptyColumns(): CallColumns {
  return {
    traceId: [],
    spanId: [],
    parentSpanId: [],
    startNs: [],
    endNs: [],
    namespace: [],
    sessionId: [],
    pod: [],
    kind: [],
    operation: [],
    provider: [],
    model: [],
    toolName: [],
    toolType: [],
    apiHost: [],
    inputTokens: [],
    outputTokens: [],
    cacheReadTokens: [],
    cacheCreationTokens: [],
    reasoningTokens: [],
    errorType: [],
    costNano: [],
    unpricedReason: [],
    tagSet: [],
  };
}

export function sessionStartNs(s: number, shape: MonthShape): bigint {
  return MONTH_START_NS + (BigInt(s) * BigInt(DAYS) * DAY_NS) / BigInt(shape.sessions);
}

function pushCall(c: CallColumns, s: number, i: number, shape: MonthShape): void {
  const r = mix(s * 64 + i);
  const start =
    sessionStartNs(s, shape) + BigInt(i) * 45_000_000_000n + BigInt(r % 1000) * 1_000_000n;
  const ns = namespaceOf(s);
  c.traceId.push(hexOf(s * 8 + Math.floor(i / 5), 4));
  c.spanId.push(hexOf(s * 64 + i + 0x4000_0000, 2));
  c.parentSpanId.push(hexOf(s * 8 + Math.floor(i / 5) + 0x2000_0000, 2));
  c.namespace.push(ns);
  c.sessionId.push(sessionIdOf(s));
  c.pod.push(`${ns}-runtime-${mix(s) % 8}`);
  c.tagSet.push(tagSetOf(s));
  c.errorType.push(r % 100 === 7 ? 'timeout' : null);
  const roll = r % 100;
  let cost: bigint | null;
  if (roll < 70) {
    const m = MODELS[r % MODELS.length] as (typeof MODELS)[number];
    const input = BigInt(500 + (r % 20_000));
    const cached = (input * BigInt(r % 5)) / 5n;
    const output = m.outNano === 0n ? 0n : BigInt(50 + (r % 2000));
    const unpriced = roll < 2;
    cost = unpriced
      ? null
      : (input - cached) * m.inNano + cached * (m.inNano / 10n) + output * m.outNano;
    c.kind.push('model');
    c.operation.push(m.outNano === 0n ? 'embeddings' : 'chat');
    c.provider.push(m.provider);
    c.model.push(unpriced ? 'in-house-llm' : m.model);
    c.toolName.push(null);
    c.toolType.push(null);
    c.apiHost.push(null);
    c.inputTokens.push(input);
    c.outputTokens.push(output);
    c.cacheReadTokens.push(cached);
    c.cacheCreationTokens.push(r % 7 === 0 ? 1024n : 0n);
    c.reasoningTokens.push(m.provider === 'openai' ? output / 3n : 0n);
    c.endNs.push(start + BigInt(200 + (r % 9000)) * 1_000_000n);
  } else {
    const tool = roll < 95;
    cost = tool ? TOOL_PRICE_NANO : API_PRICE_NANO;
    c.kind.push(tool ? 'tool' : 'api');
    c.operation.push(tool ? 'execute_tool' : 'GET');
    c.provider.push(null);
    c.model.push(null);
    c.toolName.push(tool ? (TOOLS[r % TOOLS.length] as string) : null);
    c.toolType.push(tool ? 'function' : null);
    c.apiHost.push(tool ? null : (API_HOSTS[r % API_HOSTS.length] as string));
    for (const col of [
      c.inputTokens,
      c.outputTokens,
      c.cacheReadTokens,
      c.cacheCreationTokens,
      c.reasoningTokens,
    ]) {
      col.push(0n);
    }
    c.endNs.push(start + BigInt(50 + (r % 3000)) * 1_000_000n);
  }
  c.startNs.push(start);
  c.costNano.push(cost);
  c.unpricedReason.push(cost === null ? 'no-rate-for-model' : null);
}

/** Number of pulls the month is delivered in. */
export function pullCount(shape: MonthShape): number {
  return Math.ceil(shape.sessions / shape.sessionsPerBlock) + PULLS_PER_SESSION - 1;
}

/** Pull k: blocks k-3..k of sessions each deliver their next CALLS_PER_PULL calls. */
export function pullAt(k: number, shape: MonthShape): Pull {
  const calls = emptyColumns();
  const infra: InfraShare[] = [];
  const blocks = Math.ceil(shape.sessions / shape.sessionsPerBlock);
  for (let part = 0; part < PULLS_PER_SESSION; part++) {
    const block = k - part;
    if (block < 0 || block >= blocks) continue;
    const end = Math.min(shape.sessions, (block + 1) * shape.sessionsPerBlock);
    for (let s = block * shape.sessionsPerBlock; s < end; s++) {
      for (let i = part * CALLS_PER_PULL; i < (part + 1) * CALLS_PER_PULL; i++) {
        pushCall(calls, s, i, shape);
      }
      const r = mix(s * 16 + part + 7);
      infra.push({
        namespace: namespaceOf(s),
        sessionId: sessionIdOf(s),
        atNs: sessionStartNs(s, shape) + BigInt(part) * 225_000_000_000n,
        nano: BigInt(100_000 + (r % 5_000_000)),
        cpuNs: BigInt(1_000_000_000 + (r % 50_000_000_000)),
        memoryByteSeconds: BigInt(r) * 4096n,
        tagSet: tagSetOf(s),
      });
    }
  }
  const node = k % shape.nodes;
  return {
    node: `node-${String(node).padStart(3, '0')}`,
    agentId: `agent-${node}`,
    entries: calls.traceId.length + infra.length,
    calls,
    infra,
  };
}
