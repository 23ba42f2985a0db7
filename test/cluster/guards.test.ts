// A runaway agent on the real node: the OTel SDK app, run as a session Job, loops on one tool
// with the same arguments. The node agent hashes the arguments into each call's argsHash, the
// operator's repeated-tool guard trips on the session and marks it over budget on the agent, and
// the app, which asks the agent's session view before each step, stops. The budgets the operator
// recorded equal the ledger's priced sums to the nano-unit, and the figures printed are the time
// from the first looping call to the stop and the spend in that time
// (AGENTMETER_GUARD_FIGURES=<file> appends them to a file as well).
import { appendFile } from 'node:fs/promises';
import {
  formatMoney,
  parseMoney,
  type CallsEntry,
  type CostPolicy,
  type LedgerEntry,
} from '@agentmeter/crds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import { apply, kubectlJson, kubectlOk, otlpServiceEndpoint, realNode } from './support/cluster.ts';
import { ledgerSettledPast } from './support/faults.ts';
import { listPods, waitForPodPhase } from './support/pods.ts';
import {
  namespacePolicy,
  policyCursorSeq,
  createPolicyNamespace,
  deletePolicyNamespace,
} from './support/policies.ts';
import { agentLedgerAccess, pullLedger } from './support/views.ts';

const SESSION = 'loop-1';
const GUARD = 'same-call';
/** Identical calls in the window that trip the guard. */
const REPEATS = 20;

type GuardedPolicy = Pick<CostPolicy, 'status'>;
type CostPolicyStatus = NonNullable<CostPolicy['status']>;

interface EventList {
  items: { reason?: string; note?: string; regarding?: { kind?: string; name?: string } }[];
}

interface JobPod {
  metadata: { name: string; uid: string };
  status: {
    containerStatuses?: {
      state?: { terminated?: { exitCode: number; startedAt?: string; finishedAt?: string } };
    }[];
  };
}

/** The priced cost `entry` adds under `policy` in total, and for the session `key`. */
function pricedCost(entry: LedgerEntry, policy: string, key: string): [bigint, bigint] {
  if (entry.kind === 'calls') {
    if (entry.cost === null || entry.cost.policy.name !== policy) return [0n, 0n];
    const total = BigInt(entry.cost.totalNano);
    const mine = entry.session !== null && `${entry.session.namespace}/${entry.session.id}` === key;
    return [total, mine ? total : 0n];
  }
  if (entry.kind !== 'pod-usage' || entry.cost?.policy.name !== policy) return [0n, 0n];
  let mine = 0n;
  for (const s of entry.cost.bySession) {
    if (s.session !== null && `${s.session.namespace}/${s.session.id}` === key) {
      mine += BigInt(s.totalNano);
    }
  }
  return [BigInt(entry.cost.totalNano), mine];
}

describe('the runaway-session guard on the real node', () => {
  let namespace = '';
  const policy = `guard-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    namespace = await createPolicyNamespace('runaway', policy);
  });

  afterAll(async () => {
    await deletePolicyNamespace(policy, namespace);
  });

  it('stops an app looping on one tool with the same arguments; budgets equal the ledger', async () => {
    const key = `${namespace}/${SESSION}`;
    await apply([
      namespacePolicy(policy, {
        rates: {
          cpuCoreHour: '0.05',
          memoryGiBHour: '0.01',
          tokens: [{ model: 'gpt-4o-mini', inputPerMillion: '0.15', outputPerMillion: '0.6' }],
          tools: [{ name: 'web_search', perCall: '0.01' }],
        },
        budgets: [
          { name: 'all', amount: '1000', period: 'Monthly', action: 'Notify' },
          { name: 'per-session', amount: '1000', period: 'Monthly', scope: 'Session' },
        ],
        guards: [{ name: GUARD, repeatedToolCall: { count: REPEATS, windowSeconds: 300 } }],
      }),
    ]);
    const endpoint = await otlpServiceEndpoint();
    await apply([
      {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'looper', namespace },
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { annotations: { 'agentmeter.dev/session-id': SESSION } },
            spec: {
              restartPolicy: 'Never',
              containers: [
                {
                  name: 'app',
                  image: realNode().images['agent-app'] ?? 'agentmeter.local/agent-app:dev',
                  imagePullPolicy: 'Never',
                  command: ['node', 'src/loop-main.ts'],
                  env: [
                    { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: endpoint },
                    { name: 'OTEL_BSP_SCHEDULE_DELAY', value: '500' },
                    { name: 'AGENT_APP_LOOP_SESSION', value: SESSION },
                    {
                      name: 'AGENT_APP_SESSION_URL',
                      value: `${endpoint}/v1/sessions/${namespace}/${SESSION}`,
                    },
                    { name: 'AGENT_APP_LOOP_PAUSE_MS', value: '100' },
                    // About ten minutes of looping if nothing stopped it: then the pod fails.
                    { name: 'AGENT_APP_LOOP_MAX_STEPS', value: '5000' },
                  ],
                },
              ],
            },
          },
        },
      },
    ]);
    let podName = '';
    await waitFor('the looper pod', async () => {
      podName = (await listPods(namespace, 'job-name=looper'))[0]?.metadata.name ?? '';
      return podName !== '';
    });
    // Succeeded is the app's exit 0: it read its session over budget (exit 3 would be Failed).
    await waitForPodPhase(namespace, podName, ['Succeeded'], 600_000);
    const pod = await kubectlJson<JobPod>(['get', 'pod', podName, '-n', namespace]);
    const logs = await kubectlOk(['logs', '-n', namespace, podName]);
    const stopped = JSON.parse(
      logs.split('\n').find((l) => l.includes('"loop stopped"')) ?? '{}',
    ) as { stoppedBy?: string; steps?: number; firstNs?: string; lastNs?: string };
    expect(stopped.stoppedBy, logs).toBe('over-budget');

    let status: CostPolicyStatus | undefined;
    await waitFor('the guard trip in the policy status', async () => {
      status = (await kubectlJson<GuardedPolicy>(['get', 'costpolicy', policy])).status;
      return (status?.guards?.tripped ?? []).some((t) => t.session === key);
    });
    const trip = status?.guards?.tripped?.find((t) => t.session === key);
    expect(trip).toMatchObject({
      guard: GUARD,
      kind: 'repeatedToolCall',
      action: 'MarkOverBudget',
      limit: String(REPEATS),
      tool: 'web_search',
    });
    const events = await kubectlJson<EventList>(['get', 'events.events.k8s.io', '-A']);
    const tripped = events.items.filter(
      (e) => e.reason === 'GuardTripped' && e.regarding?.name === policy,
    );
    expect(tripped).toHaveLength(1);
    expect(tripped[0]?.note).toContain(`guard ${GUARD}`);

    // Settle: the agent has written a tick after the stop and the operator counted past it.
    const stopNs = BigInt(Date.now()) * 1_000_000n;
    const entries = await ledgerSettledPast(stopNs);
    const target = BigInt(entries.at(-1)?.seq ?? '0');
    await waitFor(
      'the operator to count past the settled ledger',
      async () => {
        status = (await kubectlJson<GuardedPolicy>(['get', 'costpolicy', policy])).status;
        return (policyCursorSeq({ status }, realNode().nodeName) ?? 0n) >= target;
      },
      180_000,
    );
    const cursor = policyCursorSeq({ status }, realNode().nodeName) ?? 0n;
    const counted = (await pullLedger(await agentLedgerAccess())).filter(
      (e) => BigInt(e.seq) <= cursor,
    );
    let policyNano = 0n;
    let sessionNano = 0n;
    for (const e of counted) {
      const [total, mine] = pricedCost(e, policy, key);
      policyNano += total;
      sessionNano += mine;
    }
    const budget = (name: string) => status?.budgets?.find((b) => b.name === name);
    expect(parseMoney(budget('all')?.spent ?? '')).toBe(policyNano);
    const top = budget('per-session')?.topScopes?.find((s) => s.key === key);
    expect(parseMoney(top?.spent ?? '')).toBe(sessionNano);

    // Every looping call is in the ledger once, each tool call with the same argument hash.
    const calls = counted
      .filter(
        (e): e is CallsEntry =>
          e.kind === 'calls' && e.session?.namespace === namespace && e.session.id === SESSION,
      )
      .flatMap((e) => e.calls);
    const tools = calls.filter((c) => c.kind === 'tool');
    expect(tools).toHaveLength(stopped.steps ?? -1);
    expect(new Set(tools.map((c) => c.tool?.argsHash)).size).toBe(1);
    expect(tools[0]?.tool?.argsHash).toMatch(/^[0-9a-f]{64}$/);
    expect(tools.length).toBeGreaterThanOrEqual(REPEATS);

    const firstNs = calls.reduce((m, c) => (BigInt(c.start) < m ? BigInt(c.start) : m), stopNs);
    const lastNs = calls.reduce((m, c) => (BigInt(c.end) > m ? BigInt(c.end) : m), 0n);
    const finishedAt = pod.status.containerStatuses?.[0]?.state?.terminated?.finishedAt ?? '';
    const exitNs = BigInt(Date.parse(finishedAt)) * 1_000_000n;
    const callNano = calls.reduce((s, c) => s + BigInt(c.costNano ?? '0'), 0n);
    const ms = (ns: bigint) => `${ns / 1_000_000n} ms`;
    const line =
      `guard figures: ${GUARD} (${REPEATS} identical calls in 300 s): ${tools.length} looping steps; ` +
      `first looping call -> last call ${ms(lastNs - firstNs)}, -> trip recorded at ${trip?.trippedAt}, ` +
      `-> app exit ${ms(exitNs - firstNs)} (finishedAt ${finishedAt}, 1 s resolution); ` +
      `spend in that time: calls ${formatMoney(callNano)} USD, session total ` +
      `${formatMoney(sessionNano)} USD (budget per-session ${top?.spent}); policy ledger sum ` +
      `${policyNano} nano-USD = budget all ${budget('all')?.spent} USD\n`;
    process.stdout.write(line);
    const file = process.env.AGENTMETER_GUARD_FIGURES;
    if (file) await appendFile(file, `${new Date().toISOString()} ${line}`);
    expect(exitNs).toBeGreaterThan(0n);
    expect(sessionNano).toBeGreaterThanOrEqual(callNano);
    expect(callNano).toBeGreaterThan(0n);
  });
});
