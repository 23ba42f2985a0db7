import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalSplit } from './canonical.ts';
import { canonicalSplitFast } from './canonical-fast-path.ts';
import { sealEntryLine } from './chain.ts';
import { callsBody as callsBody_, draft, podUsage, sampleBodies } from './fixtures.ts';
import { FIELD_MAX_LENGTH, MAX_ENTRY_TAGS } from './limits.ts';
import { parseEntry } from './parse.ts';
import { GENESIS_PREV } from './types.ts';
import { REQUIRED_USAGE_KEYS } from './usage.ts';

type Json = Record<string, unknown>;

/** Strings with what JSON must escape: quotes, backslashes, control and separator characters,
 * lone surrogates. */
const anyText = (maxLength: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: Math.min(maxLength, 12) }),
    fc.constantFrom('a"b', 'a\\b', 'x\ny', '\u0000', '\u2028', '\ud800', 'é'),
  );
const decimal = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String);
const usage = fc
  .record(
    {
      cpuNs: decimal,
      memoryByteSeconds: decimal,
      memoryRssByteSeconds: decimal,
      ioReadBytes: decimal,
      ioWriteBytes: decimal,
      netRxBytes: decimal,
      netTxBytes: decimal,
      gpuAllocatedUs: decimal,
      gpuActiveUs: decimal,
    },
    { requiredKeys: [...REQUIRED_USAGE_KEYS] },
  )
  .map((u) => u as Json);
const session = fc.option(fc.record({ namespace: anyText(253), id: anyText(256) }), {
  nil: null,
});
const sessionKey = (s: { namespace: string; id: string } | null): string =>
  s === null ? '' : `${s.namespace}/${s.id}`;

/** Envelope members, with `hash` still undefined as the writer has them. */
const envelope = fc
  .record({
    agentId: anyText(128),
    node: anyText(253),
    bootId: fc.option(anyText(128), { nil: undefined }),
    first: fc.bigInt({ min: 1n, max: 1n << 40n }),
    size: fc.bigInt({ min: 1n, max: 300n }),
    offset: fc.nat(),
    prev: fc.constantFrom(GENESIS_PREV, 'ab'.repeat(32)),
    start: fc.bigInt({ min: 0n, max: 1n << 62n }),
    length: fc.bigInt({ min: 0n, max: 1n << 40n }),
  })
  .map((e): Json => {
    const seq = e.first + (BigInt(e.offset) % e.size);
    const out: Json = {
      agentId: e.agentId,
      node: e.node,
      v: 1,
      seq: seq.toString(),
      prev: e.prev,
      batch: { first: e.first.toString(), size: e.size.toString() },
      time: { start: e.start.toString(), end: (e.start + e.length).toString() },
      hash: undefined,
    };
    if (e.bootId !== undefined) out.bootId = e.bootId;
    return out;
  });

/** Allocation tags, sorted by name as the agent writes them; absent in most entries. */
const tags = fc.option(
  fc
    .uniqueArray(fc.constantFrom('a', 'cost-center', 'gen_ai.agent.name', 'team', 'z9'), {
      minLength: 1,
      maxLength: 5,
    })
    .chain((names) =>
      fc
        .tuple(...names.map(() => anyText(256)))
        .map((values) => Object.fromEntries(names.sort().map((name, i) => [name, values[i]]))),
    ),
  { nil: undefined },
);
const withTags = (body: fc.Arbitrary<Json>): fc.Arbitrary<Json> =>
  fc.tuple(body, tags).map(([b, t]) => (t === undefined ? b : { ...b, tags: t }));

const podUsageBody = fc
  .record({
    tick: anyText(64),
    pod: fc.record(
      {
        uid: anyText(128),
        namespace: anyText(253),
        name: anyText(253),
        qos: fc.constantFrom('Guaranteed', 'Burstable', 'BestEffort'),
        workload: fc.record({ kind: anyText(253), name: anyText(253) }),
      },
      { requiredKeys: ['uid', 'namespace', 'name', 'qos'] },
    ),
    usage,
    shares: fc.uniqueArray(fc.record({ session, usage }), {
      minLength: 1,
      maxLength: 4,
      selector: (s) => sessionKey(s.session),
    }),
    cost: fc.option(
      fc.record({
        currency: fc.constantFrom('USD', 'EUR', 'JPY'),
        policy: fc.record({ name: anyText(253), generation: decimal }),
        totalNano: decimal,
        bySession: fc.uniqueArray(fc.record({ session, totalNano: decimal }), {
          maxLength: 4,
          selector: (s) => sessionKey(s.session),
        }),
      }),
      { nil: null },
    ),
    flags: fc.uniqueArray(fc.constantFrom('first-sample', 'baseline-established', 'reset-cpu'), {
      maxLength: 3,
    }),
  })
  .map((b): Json => ({ kind: 'pod-usage', ...b, priced: b.cost !== null }));

const counterNames = ['cpuNs', 'ioReadBytes', 'memoryCarry', 'memoryRssBytes', 'netNsInode'];
const checkpointBody = fc
  .record({
    tick: anyText(64),
    cgroups: fc.uniqueArray(
      fc.record({
        key: anyText(4096),
        podUid: fc.option(anyText(128), { nil: null }),
        counters: fc.subarray(counterNames).chain((names) =>
          fc.tuple(...names.map(() => decimal)).map((values) =>
            // Sorted by name, as the agent writes them.
            Object.fromEntries(names.map((name, i) => [name, values[i]])),
          ),
        ),
      }),
      { maxLength: 5, selector: (c) => c.key },
    ),
  })
  .map((b): Json => ({ kind: 'checkpoint', ...b }));

const hex = (length: number): fc.Arbitrary<string> =>
  fc
    .string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length })
    .filter((id) => /[1-9a-f]/.test(id));
const word = (max: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom('chat', 'execute_tool', 'tools/call', 'http', 'a"b', 'a\\b'),
    fc.string({ unit: fc.constantFrom('a', 'Z', '_', '.', '~'), minLength: 1, maxLength: max }),
  );
const callKind = fc.constantFrom('model' as const, 'tool' as const, 'api' as const);
const MISSING_RATE = { model: 'no-model-rate', tool: 'no-tool-rate', api: 'no-api-rate' } as const;

/** A call record consistent with its kind and with whether the entry is priced. */
const callRecord = (priced: boolean): fc.Arbitrary<Json> =>
  fc
    .record({
      traceId: hex(32),
      spanId: hex(16),
      parentSpanId: fc.option(hex(16), { nil: null }),
      start: fc.bigInt({ min: 0n, max: 1n << 62n }),
      length: fc.bigInt({ min: 0n, max: 1n << 40n }),
      kind: callKind,
      operation: word(64),
      provider: fc.option(word(128), { nil: null }),
      model: fc.option(anyText(256), { nil: null }),
      tool: fc.record(
        {
          name: anyText(256),
          type: fc.option(anyText(64), { nil: null }),
          callId: fc.option(anyText(256), { nil: null }),
          argsHash: fc.option(hex(64), { nil: null }),
        },
        { requiredKeys: ['name', 'type', 'callId'] },
      ),
      apiHost: fc.constantFrom('api.stripe.com', 'a', 'x-1.example.com', '10.0.0.1'),
      tokens: fc.record({
        input: decimal,
        output: decimal,
        cacheRead: decimal,
        cacheCreation: decimal,
        reasoning: decimal,
      }),
      errorType: fc.option(anyText(256), { nil: null }),
      price: priced
        ? fc.option(fc.record({ costNano: decimal, rate: anyText(256) }), { nil: null })
        : fc.constant(null),
    })
    .map((c): Json => ({
      traceId: c.traceId,
      spanId: c.spanId,
      parentSpanId: c.parentSpanId,
      start: c.start.toString(),
      end: (c.start + c.length).toString(),
      kind: c.kind,
      operation: c.operation,
      provider: c.provider,
      model: c.model,
      tool: c.kind === 'tool' ? c.tool : null,
      apiHost: c.kind === 'api' ? c.apiHost : null,
      tokens: c.kind === 'model' ? c.tokens : null,
      errorType: c.errorType,
      costNano: c.price?.costNano ?? null,
      rate: c.price?.rate ?? null,
      unpriced: c.price !== null ? null : priced ? MISSING_RATE[c.kind] : 'no-policy',
    }));

const callsBody = fc
  .option(
    fc.record({
      currency: fc.constantFrom('USD', 'EUR', 'JPY'),
      policy: fc.record({ name: anyText(253), generation: decimal }),
      totalNano: decimal,
    }),
    { nil: null },
  )
  .chain((cost) =>
    fc.record({
      tick: anyText(64),
      session,
      pod: fc.record({ uid: anyText(128), namespace: anyText(253), name: anyText(253) }),
      calls: fc.uniqueArray(callRecord(cost !== null), {
        minLength: 1,
        maxLength: 4,
        selector: (c) => `${c.traceId as string}/${c.spanId as string}`,
      }),
      cost: fc.constant(cost),
    }),
  )
  .map((b): Json => ({ kind: 'calls', ...b, priced: b.cost !== null }));

/** Keys in another order at every level: the fast path must not depend on member order. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversed(v)]),
  );
}

/** Every path to a member or element of `value`. */
function paths(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => [[...at, k], ...paths((value as Json)[k as string], [...at, k])]);
}

/** Any member or element alike: fast-check's integers lean towards small values. */
const pick = fc.noBias(fc.nat());

const oddValue = fc.oneof(
  fc.bigInt({ min: 0n, max: 1n << 41n }).map(String),
  fc.constantFrom(undefined, null, true, 0, 1, 1.5, '', '0', '01', '-1', '1e3', ' 1', [], {}),
  fc.constantFrom('XYZ', 'usd', 'Burstable ', 'qos'),
  fc.constant((1n << 64n).toString()),
  fc.string({ maxLength: 8 }),
  fc.string({ minLength: 4097, maxLength: 4100 }),
  fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 2 }),
);

type Mutation =
  | { op: 'delete' | 'set'; pick: number; value: unknown }
  | { op: 'add'; pick: number; key: string; value: unknown }
  | { op: 'duplicate' | 'swap'; pick: number; other: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constantFrom('delete' as const, 'set' as const), pick, value: oddValue }),
  // A repeated array element (a flag, a session, a cgroup), or two members' values exchanged (a
  // time range's start and end, a batch's first and size).
  fc.record({ op: fc.constantFrom('duplicate' as const, 'swap' as const), pick, other: pick }),
  fc.record({
    op: fc.constant('add' as const),
    pick,
    // 'zz!' sorts after every counter name, so only the name check can refuse it.
    key: fc.constantFrom(
      'gpu',
      'extra',
      'hash',
      'bootId',
      'workload',
      'v',
      '0',
      'zz!',
      'tags',
      'Team',
    ),
    value: fc.oneof(decimal, oddValue),
  }),
);

/** A deep copy of `record` with one member deleted, replaced, added, repeated or exchanged. */
function mutate(record: Json, m: Mutation): Json {
  const copy = structuredClone(record);
  const all = paths(copy);
  const path = all[m.pick % all.length] as (string | number)[];
  let parent: Json = copy;
  for (const k of path.slice(0, -1)) parent = parent[k as string] as Json;
  const last = path[path.length - 1] as string;
  if (m.op === 'add') {
    if (!Array.isArray(parent)) parent[m.key] = m.value;
  } else if (m.op === 'duplicate') {
    if (Array.isArray(parent)) parent.push(structuredClone(parent[Number(last)]));
  } else if (m.op === 'swap') {
    const keys = Object.keys(parent);
    const other = keys[m.other % keys.length] as string;
    [parent[last], parent[other]] = [parent[other], parent[last]];
  } else if (m.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else Reflect.deleteProperty(parent, last);
  } else if (m.op === 'set') {
    parent[last] = m.value;
  }
  return copy;
}

/** The property: fast members, when there are any, are the canonical ones of a valid entry. */
function agrees(record: Json): boolean {
  const fast = canonicalSplitFast(record);
  if (fast === undefined) return false;
  expect(fast).toEqual(canonicalSplit(record, 'hash'));
  expect(() => parseEntry({ ...record, hash: 'f'.repeat(64) })).not.toThrow();
  return true;
}

const entry = fc
  .tuple(envelope, fc.oneof(withTags(podUsageBody), checkpointBody, withTags(callsBody)))
  .map(([e, b]) => ({
    ...b,
    ...e,
  }));

describe('canonicalSplitFast', () => {
  it('takes every valid pod-usage, checkpoint and calls entry, in any member order, and matches canonicalSplit', () => {
    fc.assert(
      fc.property(entry, fc.boolean(), (record, reverse) => {
        const input = reverse ? (reversed(record) as Json) : record;
        // Checkpoint counters out of order are left to the generic path, which sorts them.
        // So are tags out of order.
        const unsorted =
          reverse &&
          ((record.kind === 'checkpoint' &&
            (record.cgroups as { counters: Json }[]).some(
              (c) => Object.keys(c.counters).length > 1,
            )) ||
            (record.tags !== undefined && Object.keys(record.tags as Json).length > 1));
        expect(agrees(input)).toBe(!unsorted);
      }),
      { numRuns: 400 },
    );
  });

  it('returns nothing for an entry that parseEntry refuses or canonicalSplit writes differently', () => {
    let taken = 0;
    fc.assert(
      fc.property(entry, mutation, (record, m) => {
        if (agrees(mutate(record, m))) taken++;
      }),
      { numRuns: 3000 },
    );
    // Some mutations leave a valid entry (an odd string where any string goes): those are taken.
    expect(taken).toBeGreaterThan(0);
    // 3000 entries of three kinds, each refused or checked twice: seconds on a busy machine.
  }, 60_000);

  it('refuses what parseEntry refuses in the fields a writer is most likely to get wrong', () => {
    const sealed = sealEntryLine(draft(podUsage(3)), GENESIS_PREV, 1n);
    const valid: Json = { ...sealed.entry, hash: undefined };
    expect(canonicalSplitFast(valid)).toBeDefined();
    const broken: Json[] = [
      { ...valid, shares: [] },
      { ...valid, flags: ['first-sample', 'first-sample'] },
      { ...valid, time: { start: '2', end: '1' } },
      { ...valid, priced: true },
      { ...valid, seq: '2' },
      { ...valid, usage: { ...(valid.usage as Json), cpuNs: '-1' } },
    ];
    for (const record of broken) {
      expect(canonicalSplitFast(record)).toBeUndefined();
      expect(() => parseEntry({ ...record, hash: 'f'.repeat(64) })).toThrow();
    }
  });

  it('refuses the call records parseEntry refuses', () => {
    const valid: Json = {
      ...sealEntryLine(draft(callsBody_()), GENESIS_PREV, 1n).entry,
      hash: undefined,
    };
    expect(canonicalSplitFast(valid)).toBeDefined();
    const broken = [
      ['calls.0.kind', 'toString'],
      ['calls.0.rate', null],
      ['calls.0.unpriced', 'no-model-rate'],
      ['calls.1.unpriced', 'no-policy'],
      ['calls.1.rate', 'web_search'],
      ['calls.2.apiHost', 'https://api.stripe.com'],
      ['calls.2.apiHost', `${'a.'.repeat(127)}ab`],
      ['calls.0.traceId', '0'.repeat(32)],
      ['calls.0.operation', 'chat completion'],
      ['calls.0.tokens.input', '100.0'],
      ['calls.0.tool', { name: 'x', type: null, callId: null }],
      ['calls', []],
      ['priced', false],
    ] as const;
    for (const [path, value] of broken) {
      const record = withMember(valid, path, value);
      expect(canonicalSplitFast(record), path).toBeUndefined();
      expect(() => parseEntry({ ...record, hash: 'f'.repeat(64) }), path).toThrow();
    }
  });

  it('refuses the tags parseEntry refuses, and leaves unsorted ones to the generic path', () => {
    const valid: Json = {
      ...sealEntryLine(draft({ ...callsBody_(), tags: { a: '1', team: 'red' } }), GENESIS_PREV, 1n)
        .entry,
      hash: undefined,
    };
    expect(agrees(valid)).toBe(true);
    const tooMany = Object.fromEntries(
      Array.from({ length: MAX_ENTRY_TAGS + 1 }, (_, i) => [`t${i}`, 'v']),
    );
    for (const tags of [{}, { Team: 'red' }, { team: '' }, { team: 1 }, { '-a': 'x' }, tooMany]) {
      const record = { ...valid, tags };
      expect(canonicalSplitFast(record), JSON.stringify(tags)).toBeUndefined();
      expect(() => parseEntry({ ...record, hash: 'f'.repeat(64) })).toThrow();
    }
    const unsorted = { ...valid, tags: { team: 'red', a: '1' } };
    expect(canonicalSplitFast(unsorted)).toBeUndefined();
    expect(() => parseEntry({ ...unsorted, hash: 'f'.repeat(64) })).not.toThrow();
  });

  it('leaves other kinds and GPU rows to the generic path', () => {
    const gpuPod = podUsage(2, {
      gpu: [{ model: 'NVIDIA A100-SXM4-40GB', allocatedUs: '7', activeUs: '3' }],
    });
    for (const body of [...sampleBodies(), gpuPod]) {
      const sealed = sealEntryLine(draft(body), GENESIS_PREV, 1n);
      const record: Json = { ...sealed.entry, hash: undefined };
      const fast = canonicalSplitFast(record);
      if (
        body.kind === 'checkpoint' ||
        body.kind === 'calls' ||
        (body.kind === 'pod-usage' && body.gpu === undefined)
      ) {
        expect(fast).toEqual(canonicalSplit(record, 'hash'));
      } else {
        expect(fast).toBeUndefined();
      }
    }
  });

  it("follows FIELD_MAX_LENGTH as parseEntry does: a string at its limit is taken, one unit longer is left to parseEntry's error", () => {
    const session = { namespace: 'agents', id: 's-1' };
    const pod: Json = {
      ...sealEntryLine(draft(podUsage(1)), GENESIS_PREV, 1n).entry,
      bootId: 'boot',
      pod: {
        uid: 'u',
        namespace: 'n',
        name: 'p',
        qos: 'Burstable',
        workload: { kind: 'Job', name: 'j' },
      },
      shares: [{ session, usage: podUsage(1).usage }],
      cost: {
        currency: 'USD',
        policy: { name: 'p', generation: '1' },
        totalNano: '5',
        bySession: [{ session, totalNano: '5' }],
      },
      priced: true,
      flags: ['a'],
      tags: { team: 'red' },
      hash: undefined,
    };
    const checkpoint: Json = {
      ...sealEntryLine(
        draft({
          kind: 'checkpoint',
          time: podUsage(1).time,
          tick: 't',
          cgroups: [{ key: 'k', podUid: 'u', counters: { a: '1' } }],
        }),
        GENESIS_PREV,
        1n,
      ).entry,
      hash: undefined,
    };
    const calls: Json = {
      ...sealEntryLine(draft(callsBody_()), GENESIS_PREV, 1n).entry,
      hash: undefined,
    };
    const cases: [Json, string, keyof typeof FIELD_MAX_LENGTH][] = [
      [calls, 'tick', 'tick'],
      [calls, 'pod.uid', 'podUid'],
      [calls, 'pod.name', 'name'],
      [calls, 'session.id', 'sessionId'],
      [calls, 'cost.policy.name', 'name'],
      [calls, 'calls.0.operation', 'callOperation'],
      [calls, 'calls.0.provider', 'callProvider'],
      [calls, 'calls.0.model', 'callModel'],
      [calls, 'calls.0.rate', 'callRate'],
      [calls, 'calls.1.tool.name', 'toolName'],
      [calls, 'calls.1.tool.type', 'toolType'],
      [calls, 'calls.1.tool.callId', 'toolCallId'],
      [calls, 'calls.2.errorType', 'errorType'],
      [pod, 'agentId', 'agentId'],
      [pod, 'node', 'node'],
      [pod, 'bootId', 'bootId'],
      [pod, 'tick', 'tick'],
      [pod, 'pod.uid', 'podUid'],
      [pod, 'pod.namespace', 'name'],
      [pod, 'pod.name', 'name'],
      [pod, 'pod.workload.kind', 'kind'],
      [pod, 'pod.workload.name', 'name'],
      [pod, 'shares.0.session.namespace', 'name'],
      [pod, 'shares.0.session.id', 'sessionId'],
      [pod, 'cost.policy.name', 'name'],
      [pod, 'flags.0', 'default'],
      [pod, 'tags.team', 'tagValue'],
      [checkpoint, 'cgroups.0.key', 'cgroupKey'],
      [checkpoint, 'cgroups.0.podUid', 'podUid'],
    ];
    expect(canonicalSplitFast(pod)).toBeDefined();
    expect(canonicalSplitFast(checkpoint)).toBeDefined();
    for (const [record, path, limit] of cases) {
      const max = FIELD_MAX_LENGTH[limit];
      const atLimit = withMember(record, path, 'a'.repeat(max));
      expect(agrees(atLimit), `${path} at ${max}`).toBe(true);
      const over = withMember(record, path, 'a'.repeat(max + 1));
      expect(canonicalSplitFast(over), `${path} at ${max + 1}`).toBeUndefined();
      expect(() => parseEntry({ ...over, hash: 'f'.repeat(64) })).toThrow(/length must be 1\.\./);
    }
  });
});

/** A deep copy of `record` with the member at a dotted path (array indexes as numbers) set. */
function withMember(record: Json, path: string, value: unknown): Json {
  const copy = structuredClone(record);
  const keys = path.split('.');
  let parent = copy;
  for (const key of keys.slice(0, -1)) parent = parent[key] as Json;
  parent[keys.at(-1) as string] = value;
  return copy;
}
