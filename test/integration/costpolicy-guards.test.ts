// spec.guards against a real kube-apiserver: a policy with every kind of guard is stored with
// its defaults filled in, and each malformed guard is refused by the apiserver itself (schema
// and CEL) with a message that names the field and the rule.
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COST_POLICY_GVK } from '../../crds/src/costpolicy/crd.ts';
import type { CostPolicy, Guard } from '../../crds/src/costpolicy/types.ts';
import { adminKubeConfig, refusal } from '../support/kube.ts';

const run = Math.random().toString(36).slice(2, 8);
const policies = {
  group: COST_POLICY_GVK.group,
  version: COST_POLICY_GVK.version,
  plural: COST_POLICY_GVK.plural,
};
let api: CustomObjectsApi;
const created: string[] = [];

function policy(name: string, guards: Guard[]): CostPolicy {
  return {
    apiVersion: 'agentmeter.dev/v1alpha1',
    kind: 'CostPolicy',
    metadata: { name: `${name}-${run}` },
    spec: { currency: 'USD', rates: { cpuCoreHour: '0.03' }, guards },
  };
}

/** A guard with a field set to a value its type forbids, as a careless user would write it. */
function raw(fields: Record<string, unknown>): Guard {
  return fields as unknown as Guard;
}

const badGuards: { name: string; guards: Guard[]; message: string }[] = [
  {
    name: 'no limit',
    guards: [{ name: 'empty' }],
    message:
      'spec.guards[0]: Invalid value: a guard sets exactly one of maxSpendPerMinute, maxCallsPerMinute or repeatedToolCall',
  },
  {
    name: 'two limits',
    guards: [{ name: 'both', maxSpendPerMinute: '1', maxCallsPerMinute: 10 }],
    message: 'a guard sets exactly one of maxSpendPerMinute, maxCallsPerMinute or repeatedToolCall',
  },
  {
    name: 'zero spend',
    guards: [{ name: 'zero', maxSpendPerMinute: '0.00' }],
    message: 'spec.guards[0].maxSpendPerMinute: Invalid value: "0.00": must be greater than zero',
  },
  {
    name: 'negative spend',
    guards: [{ name: 'neg', maxSpendPerMinute: '-1' }],
    message:
      'spec.guards[0].maxSpendPerMinute: Invalid value: "-1": must be a non-negative decimal amount',
  },
  {
    name: 'spend as a number',
    guards: [raw({ name: 'num', maxSpendPerMinute: 0.5 })],
    message:
      'spec.guards[0].maxSpendPerMinute: Invalid value: "number": spec.guards[0].maxSpendPerMinute in body must be of type string',
  },
  {
    name: 'no calls allowed',
    guards: [{ name: 'calls', maxCallsPerMinute: 0 }],
    message:
      'spec.guards[0].maxCallsPerMinute: Invalid value: 0: spec.guards[0].maxCallsPerMinute in body should be greater than or equal to 1',
  },
  {
    name: 'a repeat count of one',
    guards: [{ name: 'loop', repeatedToolCall: { count: 1 } }],
    message:
      'spec.guards[0].repeatedToolCall.count: Invalid value: 1: spec.guards[0].repeatedToolCall.count in body should be greater than or equal to 2',
  },
  {
    name: 'a window over a day',
    guards: [{ name: 'loop', repeatedToolCall: { count: 3, windowSeconds: 86_401 } }],
    message:
      'spec.guards[0].repeatedToolCall.windowSeconds: Invalid value: 86401: spec.guards[0].repeatedToolCall.windowSeconds in body should be less than or equal to 86400',
  },
  {
    name: 'a repeat without a count',
    guards: [raw({ name: 'loop', repeatedToolCall: { windowSeconds: 60 } })],
    message: 'spec.guards[0].repeatedToolCall.count: Required value',
  },
  {
    name: 'a malformed name',
    guards: [{ name: 'Tool_Loop', maxCallsPerMinute: 5 }],
    message:
      'spec.guards[0].name: Invalid value: "Tool_Loop": guard name must be lowercase letters',
  },
  {
    name: 'a repeated name',
    guards: [
      { name: 'rate', maxCallsPerMinute: 5 },
      { name: 'rate', maxSpendPerMinute: '1' },
    ],
    message: 'spec.guards[1]: Duplicate value: {"name":"rate"}',
  },
  {
    name: 'an unknown action',
    guards: [raw({ name: 'rate', maxCallsPerMinute: 5, action: 'Kill' })],
    message:
      'spec.guards[0].action: Unsupported value: "Kill": supported values: "MarkOverBudget", "Suspend"',
  },
  {
    name: 'too many guards',
    guards: Array.from({ length: 17 }, (_, i) => ({ name: `g${i}`, maxCallsPerMinute: 5 })),
    message: 'spec.guards: Too many: 17: must have at most 16 items',
  },
];

beforeAll(() => {
  api = adminKubeConfig().makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  for (const name of created) {
    await api.deleteClusterCustomObject({ ...policies, name }).catch((err: unknown) => {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    });
  }
});

describe('CostPolicy spec.guards', () => {
  it('stores every kind of guard with its defaults', async () => {
    const body = policy('guards', [
      { name: 'spend-rate', maxSpendPerMinute: '0.50' },
      { name: 'call-rate', maxCallsPerMinute: 120, action: 'Suspend' },
      { name: 'tool-loop', repeatedToolCall: { count: 5 } },
    ]);
    const stored = (await api.createClusterCustomObject({ ...policies, body })) as CostPolicy;
    created.push(String(body.metadata.name));
    expect(stored.spec.guards).toEqual([
      { name: 'spend-rate', maxSpendPerMinute: '0.50', action: 'MarkOverBudget' },
      { name: 'call-rate', maxCallsPerMinute: 120, action: 'Suspend' },
      {
        name: 'tool-loop',
        repeatedToolCall: { count: 5, windowSeconds: 300 },
        action: 'MarkOverBudget',
      },
    ]);
  });

  it.each(badGuards)('refuses $name', async ({ guards, message }) => {
    const { code, message: actual } = await refusal(
      api.createClusterCustomObject({ ...policies, body: policy('bad', guards), dryRun: 'All' }),
    );
    expect(code).toBe(422);
    expect(actual).toContain(message);
  });
});
