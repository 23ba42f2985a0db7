// `session NAMESPACE/ID` end to end on node:sqlite: calls committed through the store come back
// as a tree, with subtotals per model, tool and API host, and a total that is infrastructure
// plus the calls exactly.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { formatMoney, parseMoney } from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelCallRecord } from '../../../test/support/call-record.ts';
import { seedStore } from '../../../test/support/seed-store.ts';
import type { CallRecord } from '../store/accounting.ts';
import { runSession } from './session.ts';
import { UsageError } from './usage-error.ts';

const dir = mkdtempSync(join(os.tmpdir(), 'agentmeter-session-cli-'));
const path = join(dir, 'store.db');
const T = 1_796_000_000_000_000_000n;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const span = (n: number) => n.toString(16).padStart(16, '0');

function call(n: number, parent: number | null, over: Partial<CallRecord>): CallRecord {
  return {
    ...modelCallRecord({
      traceId: TRACE,
      spanId: span(n),
      startNs: T + BigInt(n),
      endNs: T + BigInt(n) + 10n,
      namespace: 'team-a',
      sessionId: 's1',
      pod: 'runtime',
      inputTokens: 10_000n,
      outputTokens: 500n,
      costNano: 5_400_001n,
      policyGeneration: 1n,
      tags: {},
    }),
    parentSpanId: parent === null ? null : span(parent),
    ...over,
  };
}

const tool = (name: string) => ({
  kind: 'tool' as const,
  operation: 'execute_tool',
  model: null,
  provider: null,
  toolName: name,
  inputTokens: 0n,
  outputTokens: 0n,
});

beforeAll(async () => {
  const calls = [
    call(1, null, { cacheReadTokens: 8_000n }),
    call(2, 1, { ...tool('web_search'), costNano: 10_000_000n }),
    call(3, 2, { costNano: 3_333_333n }),
    call(4, 1, { ...tool('shell'), costNano: null, unpricedReason: 'no-tool-rate' }),
    call(5, null, {
      kind: 'api',
      operation: 'http',
      model: null,
      provider: null,
      apiHost: 'api.stripe.com',
      inputTokens: 0n,
      outputTokens: 0n,
      costNano: 2_000_000n,
    }),
    // Another session's call: not listed.
    call(6, null, { sessionId: 's2' }),
  ];
  await seedStore(path, {
    sessions: [
      {
        namespace: 'team-a',
        sessionId: 's1',
        day: 20_000,
        infraNano: 123_456_789n,
        tokensNano: 8_733_334n,
        toolsNano: 10_000_000n,
        apisNano: 2_000_000n,
        calls: 5n,
        unpricedCalls: 1n,
        inputTokens: 20_000n,
        outputTokens: 1_000n,
        firstNs: T,
        lastNs: T + 100n,
      },
    ],
    calls,
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<string> {
  let text = '';
  await runSession(argv, (s) => (text += s));
  return text;
}

describe('agentmeter session NAMESPACE/ID', () => {
  it('prints the tree, the subtotals and a total that adds up exactly', async () => {
    const table = await run(['team-a/s1', '--policy', 'p', '--store', path]);
    expect(table).toContain(`trace ${TRACE}`);
    const lines = table.split('\n');
    const at = (text: string) => lines.findIndex((l) => l.includes(text));
    // Nesting by parent span: the tool under the first chat, the second chat under the tool.
    expect(lines[at('execute_tool web_search')]).toMatch(/^ {4}execute_tool web_search {2}0\.01$/);
    expect(lines[at('in=10000 out=500  0.003333333')]).toMatch(/^ {6}chat gpt-5/);
    expect(lines[at('execute_tool shell')]).toMatch(/unpriced \(no-tool-rate\)$/);
    expect(table).toMatch(/chat gpt-5 in=10000 out=500 cache_read=8000 {2}0\.005400001/);
    expect(table).toMatch(/http api\.stripe\.com {2}0\.002/);
    expect(table).not.toContain('s2');
    // 5.400001 + 3.333333 (gpt-5) + 10 (web_search) + 2 (stripe) = 20.733334 milli-dollars.
    expect(table).toMatch(/model +gpt-5 +2 +0 +20000 +1000 +8000 +0\.008733334/);
    expect(table).toMatch(/tool +shell +1 +1 .*0\n/);
    expect(table).toMatch(/calls +0\.020733334/);
    expect(table).toMatch(/infrastructure +0\.123456789/);
    expect(table).toMatch(/total +0\.144190123/);
    expect(table).not.toContain('note:');
  });

  it('gives the same numbers as JSON, the total their exact sum', async () => {
    const json = JSON.parse(
      await run(['team-a/s1', '--policy', 'p', '--store', path, '--format', 'json']),
    ) as {
      traces: { calls: { spanId: string; children: { spanId: string }[] }[] }[];
      byTool: Record<string, { cost: string; unpricedCalls: string }>;
      cost: { infrastructure: string; calls: string; total: string };
    };
    expect(json.traces[0]?.calls.map((c) => c.spanId)).toEqual([span(1), span(5)]);
    expect(json.traces[0]?.calls[0]?.children.map((c) => c.spanId)).toEqual([span(2), span(4)]);
    expect(json.byTool.shell).toMatchObject({ cost: '0', unpricedCalls: '1' });
    expect(parseMoney(json.cost.total)).toBe(
      parseMoney(json.cost.infrastructure) + parseMoney(json.cost.calls),
    );
    expect(json.cost.total).toBe(formatMoney(123_456_789n + 20_733_334n));
  });

  it('refuses bad arguments as usage errors', async () => {
    await expect(run(['team-a', '--policy', 'p', '--store', path])).rejects.toThrow(UsageError);
    await expect(run(['team-a/s1', '--store', path])).rejects.toThrow(UsageError);
    await expect(run(['team-a/s1', '--policy', 'p', '--format', 'csv'])).rejects.toThrow(
      UsageError,
    );
    await expect(run(['team-a/none', '--policy', 'p', '--store', path])).rejects.toThrow(
      /no session/,
    );
  });
});
