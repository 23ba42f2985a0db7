// The CostPolicy and CostReport CRDs against a real kube-apiserver: the samples are accepted,
// bad policies are refused by the apiserver itself with messages a user can act on, the printer
// columns and the status subresource work, and closed reports cannot be rewritten.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COST_POLICY_GVK } from '../../crds/src/costpolicy/crd.ts';
import type {
  AllocationTag,
  Budget,
  CostPolicy,
  CostPolicyStatus,
  GpuModelRate,
  GpuRates,
  ApiRate,
  LongContextRate,
  Rates,
  TokenRate,
  ToolRate,
} from '../../crds/src/costpolicy/types.ts';
import { COST_REPORT_GVK } from '../../crds/src/costreport/crd.ts';
import type { CostReport } from '../../crds/src/costreport/types.ts';
import type { LabelSelectorRequirement } from '../../crds/src/schema/common-types.ts';
import { adminKubeConfig, applyCrds, kubectl, refusal } from '../support/kube.ts';

const samplesDir = fileURLToPath(new URL('../../crds/samples/', import.meta.url));
const run = Math.random().toString(36).slice(2, 8);
const policies = {
  group: COST_POLICY_GVK.group,
  version: COST_POLICY_GVK.version,
  plural: COST_POLICY_GVK.plural,
};
const reports = {
  group: COST_REPORT_GVK.group,
  version: COST_REPORT_GVK.version,
  plural: COST_REPORT_GVK.plural,
};
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

let api: CustomObjectsApi;
const created: { plural: string; name: string }[] = [];

function uniqueName(base: string): string {
  return `${base}-${run}`;
}

async function createPolicy(policy: CostPolicy): Promise<CostPolicy> {
  const result = (await api.createClusterCustomObject({ ...policies, body: policy })) as CostPolicy;
  created.push({ plural: policies.plural, name: String(policy.metadata.name) });
  return result;
}

/** Sets a field to a value its type forbids, as a careless user would. */
function set(target: object, field: string, value: unknown): void {
  Reflect.set(target, field, value);
}

function unset(target: object, field: string): void {
  Reflect.deleteProperty(target, field);
}

/** A valid policy and direct references to the parts the bad cases break. */
interface Fixture {
  policy: CostPolicy;
  rates: Rates;
  gpu: GpuRates;
  gpuModel: GpuModelRate;
  token: TokenRate;
  longContext: LongContextRate;
  tool: ToolRate;
  api: ApiRate;
  budget: Budget;
  namespaceLabels: Record<string, string>;
  podRequirement: LabelSelectorRequirement;
  tags: AllocationTag[];
}

function fixture(name: string): Fixture {
  const namespaceLabels: Record<string, string> = { team: 'search' };
  const podRequirement: LabelSelectorRequirement = {
    key: 'app.kubernetes.io/name',
    operator: 'In',
    values: ['agent'],
  };
  const gpuModel: GpuModelRate = { model: 'NVIDIA L4', rate: '0.68' };
  const gpu: GpuRates = { default: '2.50', basis: 'Allocation', models: [gpuModel] };
  const longContext: LongContextRate = {
    aboveInputTokens: 200_000,
    inputPerMillion: '5.00',
    outputPerMillion: '20.00',
    cacheReadPerMillion: '0.50',
  };
  const token: TokenRate = {
    model: 'gpt-4o',
    inputPerMillion: '2.50',
    outputPerMillion: '10.00',
    cacheReadPerMillion: '0.25',
    cacheCreationPerMillion: '3.125',
    longContext,
  };
  const tool: ToolRate = { name: 'web_search', perCall: '0.01' };
  const api: ApiRate = { host: 'api.stripe.com', perCall: '0.002' };
  const rates: Rates = {
    cpuCoreHour: '0.0316',
    memoryGiBHour: '0.0042',
    gpuHour: gpu,
    ioGiB: '0.0005',
    networkGiB: '0.01',
    tokens: [token],
    tools: [tool, { name: '*', perCall: '0.001' }],
    apis: [api, { host: '*.googleapis.com', perCall: '0.0005' }],
  };
  const budget: Budget = {
    name: 'monthly',
    amount: '1000.00',
    period: 'Monthly',
    timeZone: 'Europe/Berlin',
    scope: 'Policy',
    thresholds: [80, 100],
    action: 'Suspend',
  };
  const tags: AllocationTag[] = [
    { name: 'team', namespaceLabel: 'example.com/team' },
    { name: 'cost-center', podLabel: 'cost-center' },
    { name: 'agent', spanAttribute: 'gen_ai.agent.name' },
  ];
  const policy: CostPolicy = {
    apiVersion: 'agentmeter.dev/v1alpha1',
    kind: 'CostPolicy',
    metadata: { name },
    spec: {
      priority: 10,
      selector: {
        namespaceSelector: { matchLabels: namespaceLabels },
        podSelector: { matchExpressions: [podRequirement] },
      },
      currency: 'USD',
      rates,
      budgets: [budget],
      allocation: { tags },
    },
  };
  return {
    policy,
    tags,
    rates,
    gpu,
    gpuModel,
    token,
    longContext,
    tool,
    api,
    budget,
    namespaceLabels,
    podRequirement,
  };
}

/** Each case breaks one thing, so the apiserver reports exactly that problem. */
const badPolicies: { name: string; breakIt: (f: Fixture) => void; message: string }[] = [
  {
    name: 'negative money',
    breakIt: (f) => (f.rates.cpuCoreHour = '-0.50'),
    message:
      'spec.rates.cpuCoreHour: Invalid value: "-0.50": must be a non-negative decimal amount such as "12.50"',
  },
  {
    name: 'malformed money',
    breakIt: (f) => (f.rates.memoryGiBHour = '1.2.3'),
    message:
      'spec.rates.memoryGiBHour: Invalid value: "1.2.3": must be a non-negative decimal amount',
  },
  {
    name: 'money in exponent notation',
    breakIt: (f) => (f.rates.networkGiB = '1e-3'),
    message: 'spec.rates.networkGiB: Invalid value: "1e-3": must be a non-negative decimal amount',
  },
  {
    name: 'money finer than nano-units',
    breakIt: (f) => (f.rates.ioGiB = '0.0000000001'),
    message:
      'spec.rates.ioGiB: Invalid value: "0.0000000001": must be a non-negative decimal amount',
  },
  {
    name: 'money with a thousands separator',
    breakIt: (f) => (f.budget.amount = '1,000'),
    message:
      'spec.budgets[0].amount: Invalid value: "1,000": must be a non-negative decimal amount',
  },
  {
    name: 'money as a JSON number',
    breakIt: (f) => set(f.rates, 'cpuCoreHour', 0.05),
    message:
      'spec.rates.cpuCoreHour: Invalid value: "number": spec.rates.cpuCoreHour in body must be of type string',
  },
  {
    name: 'token price with a leading zero',
    breakIt: (f) => (f.token.inputPerMillion = '02.50'),
    message:
      'spec.rates.tokens[0].inputPerMillion: Invalid value: "02.50": must be a non-negative decimal amount',
  },
  {
    name: 'negative cache-read price',
    breakIt: (f) => (f.token.cacheReadPerMillion = '-0.30'),
    message:
      'spec.rates.tokens[0].cacheReadPerMillion: Invalid value: "-0.30": must be a non-negative decimal amount',
  },
  {
    name: 'malformed cache-creation price',
    breakIt: (f) => (f.token.cacheCreationPerMillion = '3,75'),
    message:
      'spec.rates.tokens[0].cacheCreationPerMillion: Invalid value: "3,75": must be a non-negative decimal amount',
  },
  {
    name: 'long-context threshold of zero',
    breakIt: (f) => (f.longContext.aboveInputTokens = 0),
    message:
      'spec.rates.tokens[0].longContext.aboveInputTokens: Invalid value: 0: aboveInputTokens must be greater than zero',
  },
  {
    name: 'long-context threshold as a string',
    breakIt: (f) => set(f.longContext, 'aboveInputTokens', '200000'),
    message:
      'spec.rates.tokens[0].longContext.aboveInputTokens: Invalid value: "string": spec.rates.tokens[0].longContext.aboveInputTokens in body must be of type integer',
  },
  {
    name: 'long-context tier without an output price',
    breakIt: (f) => unset(f.longContext, 'outputPerMillion'),
    message: 'spec.rates.tokens[0].longContext.outputPerMillion: Required value',
  },
  {
    name: 'long-context price in exponent notation',
    breakIt: (f) => (f.longContext.inputPerMillion = '5e0'),
    message:
      'spec.rates.tokens[0].longContext.inputPerMillion: Invalid value: "5e0": must be a non-negative decimal amount',
  },
  {
    name: 'negative tool price',
    breakIt: (f) => (f.tool.perCall = '-0.01'),
    message:
      'spec.rates.tools[0].perCall: Invalid value: "-0.01": must be a non-negative decimal amount',
  },
  {
    name: 'duplicate tool name',
    breakIt: (f) => (f.rates.tools = [f.tool, { ...f.tool, perCall: '0.02' }]),
    message: 'spec.rates.tools[1]: Duplicate value: {"name":"web_search"}',
  },
  {
    name: 'tool name with a trailing space',
    breakIt: (f) => (f.tool.name = 'web_search '),
    message:
      'spec.rates.tools[0].name: Invalid value: "web_search ": tool name must be printable ASCII without leading or trailing spaces',
  },
  {
    name: 'API price as a JSON number',
    breakIt: (f) => set(f.api, 'perCall', 0.002),
    message:
      'spec.rates.apis[0].perCall: Invalid value: "number": spec.rates.apis[0].perCall in body must be of type string',
  },
  {
    name: 'duplicate API host',
    breakIt: (f) => (f.rates.apis = [f.api, { ...f.api, perCall: '1' }]),
    message: 'spec.rates.apis[1]: Duplicate value: {"host":"api.stripe.com"}',
  },
  {
    name: 'API host given as a URL',
    breakIt: (f) => (f.api.host = 'https://api.stripe.com/v1'),
    message:
      'spec.rates.apis[0].host: Invalid value: "https://api.stripe.com/v1": host must be a lower-case DNS name such as api.stripe.com',
  },
  {
    name: 'API host with a port',
    breakIt: (f) => (f.api.host = 'api.stripe.com:443'),
    message:
      'spec.rates.apis[0].host: Invalid value: "api.stripe.com:443": host must be a lower-case DNS name',
  },
  {
    name: 'upper-case API host',
    breakIt: (f) => (f.api.host = 'API.Stripe.com'),
    message:
      'spec.rates.apis[0].host: Invalid value: "API.Stripe.com": host must be a lower-case DNS name',
  },
  {
    name: 'bare "*" API host',
    breakIt: (f) => (f.api.host = '*'),
    message:
      'spec.rates.apis[0].host: Invalid value: "*": host must not be a bare "*": only hosts a policy prices are API calls',
  },
  {
    name: 'wildcard in the middle of an API host',
    breakIt: (f) => (f.api.host = 'api.*.com'),
    message:
      'spec.rates.apis[0].host: Invalid value: "api.*.com": host must be a lower-case DNS name',
  },
  {
    name: 'unknown currency',
    breakIt: (f) => (f.policy.spec.currency = 'XYZ'),
    message: 'spec.currency: Unsupported value: "XYZ": supported values: "AED"',
  },
  {
    name: 'lower-case currency',
    breakIt: (f) => (f.policy.spec.currency = 'usd'),
    message: 'spec.currency: Unsupported value: "usd"',
  },
  {
    name: 'missing currency',
    breakIt: (f) => unset(f.policy.spec, 'currency'),
    message: 'spec.currency: Required value',
  },
  {
    name: 'zero budget amount',
    breakIt: (f) => (f.budget.amount = '0.000'),
    message:
      'spec.budgets[0].amount: Invalid value: "0.000": budget amount must be greater than zero',
  },
  {
    name: 'threshold of 0 percent',
    breakIt: (f) => (f.budget.thresholds = [0, 100]),
    message:
      'spec.budgets[0].thresholds[0]: Invalid value: 0: spec.budgets[0].thresholds[0] in body should be greater than or equal to 1',
  },
  {
    name: 'threshold above 1000 percent',
    breakIt: (f) => (f.budget.thresholds = [100, 1001]),
    message:
      'spec.budgets[0].thresholds[1]: Invalid value: 1001: spec.budgets[0].thresholds[1] in body should be less than or equal to 1000',
  },
  {
    name: 'repeated threshold',
    breakIt: (f) => (f.budget.thresholds = [80, 80]),
    message: 'spec.budgets[0].thresholds[1]: Duplicate value: 80',
  },
  {
    name: 'too many thresholds',
    breakIt: (f) => (f.budget.thresholds = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]),
    message: 'spec.budgets[0].thresholds: Too many: 11: must have at most 10 items',
  },
  {
    name: 'duplicate budget names',
    breakIt: (f) => (f.policy.spec.budgets = [f.budget, { ...f.budget, scope: 'Namespace' }]),
    message: 'spec.budgets[1]: Duplicate value: {"name":"monthly"}',
  },
  {
    name: 'too many budgets',
    breakIt: (f) =>
      (f.policy.spec.budgets = Array.from({ length: 17 }, (_, i) => ({
        ...f.budget,
        name: `b${i}`,
      }))),
    message: 'spec.budgets: Too many: 17: must have at most 16 items',
  },
  {
    name: 'budget name that is not a DNS label',
    breakIt: (f) => (f.budget.name = 'Team Budget'),
    message:
      'spec.budgets[0].name: Invalid value: "Team Budget": budget name must be lowercase letters, digits and "-"',
  },
  {
    name: 'budget without an amount',
    breakIt: (f) => unset(f.budget, 'amount'),
    message: 'spec.budgets[0].amount: Required value',
  },
  {
    name: 'unknown period',
    breakIt: (f) => set(f.budget, 'period', 'Yearly'),
    message:
      'spec.budgets[0].period: Unsupported value: "Yearly": supported values: "Daily", "Weekly", "Monthly"',
  },
  {
    name: 'unknown time zone',
    breakIt: (f) => (f.budget.timeZone = 'Mars/Olympus_Mons'),
    message:
      'spec.budgets[0].timeZone: Invalid value: "Mars/Olympus_Mons": timeZone must be an IANA time zone name such as UTC, Europe/Berlin or America/New_York',
  },
  {
    name: 'UTC offset instead of a time zone',
    breakIt: (f) => (f.budget.timeZone = '+02:00'),
    message:
      'spec.budgets[0].timeZone: Invalid value: "+02:00": timeZone must be an IANA time zone name',
  },
  {
    name: 'unknown scope',
    breakIt: (f) => set(f.budget, 'scope', 'Cluster'),
    message:
      'spec.budgets[0].scope: Unsupported value: "Cluster": supported values: "Policy", "Namespace", "Session"',
  },
  {
    name: 'unknown action',
    breakIt: (f) => set(f.budget, 'action', 'Delete'),
    message:
      'spec.budgets[0].action: Unsupported value: "Delete": supported values: "Notify", "Suspend"',
  },
  {
    name: 'duplicate token model',
    breakIt: (f) => (f.rates.tokens = [f.token, { ...f.token, inputPerMillion: '5' }]),
    message: 'spec.rates.tokens[1]: Duplicate value: {"model":"gpt-4o"}',
  },
  {
    name: 'too many token models',
    breakIt: (f) =>
      (f.rates.tokens = Array.from({ length: 129 }, (_, i) => ({
        ...f.token,
        model: `model-${i}`,
      }))),
    message: 'spec.rates.tokens: Too many: 129: must have at most 128 items',
  },
  {
    name: 'oversized model name',
    breakIt: (f) => (f.gpuModel.model = 'X'.repeat(129)),
    message: 'spec.rates.gpuHour.models[0].model: Too long: may not be more than 128 bytes',
  },
  {
    name: 'GPU rate without a default',
    breakIt: (f) => unset(f.gpu, 'default'),
    message: 'spec.rates.gpuHour.default: Required value',
  },
  {
    name: 'unknown GPU basis',
    breakIt: (f) => set(f.gpu, 'basis', 'Peak'),
    message:
      'spec.rates.gpuHour.basis: Unsupported value: "Peak": supported values: "Allocation", "Utilization"',
  },
  {
    name: 'no rates at all',
    breakIt: (f) => (f.policy.spec.rates = {}),
    message:
      'spec.rates: Invalid value: rates must set at least one of cpuCoreHour, memoryGiBHour, gpuHour',
  },
  {
    name: 'priority above the range',
    breakIt: (f) => (f.policy.spec.priority = 1001),
    message:
      'spec.priority: Invalid value: 1001: spec.priority in body should be less than or equal to 1000',
  },
  {
    name: 'negative priority',
    breakIt: (f) => (f.policy.spec.priority = -1),
    message:
      'spec.priority: Invalid value: -1: spec.priority in body should be greater than or equal to 0',
  },
  {
    name: 'In requirement without values',
    breakIt: (f) => (f.podRequirement.values = []),
    message:
      'spec.selector.podSelector.matchExpressions[0]: Invalid value: values must be non-empty when operator is In or NotIn',
  },
  {
    name: 'Exists requirement with values',
    breakIt: (f) => (f.podRequirement.operator = 'Exists'),
    message: 'and empty when it is Exists or DoesNotExist',
  },
  {
    name: 'malformed label key',
    breakIt: (f) => (f.namespaceLabels['team name!'] = 'search'),
    message:
      'spec.selector.namespaceSelector.matchLabels: Invalid value: every key must be a label key',
  },
  {
    name: 'malformed label value',
    breakIt: (f) => (f.podRequirement.values = ['-agent-']),
    message:
      'spec.selector.podSelector.matchExpressions[0].values[0]: Invalid value: "-agent-": must be a label value',
  },
  {
    name: 'allocation tag with two sources',
    breakIt: (f) => set(f.tags[0] as object, 'podLabel', 'team'),
    message:
      'spec.allocation.tags[0]: Invalid value: a tag sets exactly one of namespaceLabel, podLabel or spanAttribute',
  },
  {
    name: 'allocation tag without a source',
    breakIt: (f) => unset(f.tags[1] as object, 'podLabel'),
    message: 'spec.allocation.tags[1]: Invalid value: a tag sets exactly one',
  },
  {
    name: 'two allocation tags of one name',
    breakIt: (f) => f.tags.push({ name: 'team', podLabel: 'team' }),
    message: 'spec.allocation.tags[3]: Duplicate value',
  },
  {
    name: 'malformed allocation tag name',
    breakIt: (f) => ((f.tags[0] as AllocationTag).name = 'Team'),
    message:
      'spec.allocation.tags[0].name: Invalid value: "Team": tag name must be lowercase letters',
  },
  {
    name: 'malformed allocation tag label key',
    breakIt: (f) => ((f.tags[0] as AllocationTag).namespaceLabel = 'team name!'),
    message:
      'spec.allocation.tags[0].namespaceLabel: Invalid value: "team name!": must be a label key',
  },
  {
    name: 'allocation tag span attribute with a space',
    breakIt: (f) => ((f.tags[2] as AllocationTag).spanAttribute = 'agent name'),
    message: 'spanAttribute must be printable ASCII without spaces',
  },
  {
    name: 'too many allocation tags',
    breakIt: (f) => {
      for (let i = 0; i < 14; i++) f.tags.push({ name: `tag-${i}`, podLabel: `label-${i}` });
    },
    message: 'spec.allocation.tags: Too many: 17: must have at most 16 items',
  },
  {
    name: 'too many matchLabels',
    breakIt: (f) => {
      for (let i = 0; i < 32; i++) f.namespaceLabels[`label-${i}`] = 'x';
    },
    message:
      'spec.selector.namespaceSelector.matchLabels: Too many: 33: must have at most 32 items',
  },
];

beforeAll(async () => {
  await applyCrds();
  api = adminKubeConfig().makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  for (const { plural, name } of created.reverse()) {
    await api
      .deleteClusterCustomObject({
        group: COST_POLICY_GVK.group,
        version: COST_POLICY_GVK.version,
        plural,
        name,
      })
      .catch((err: unknown) => {
        if (!(err instanceof ApiException && err.code === 404)) throw err;
      });
  }
});

describe('CostPolicy CRD', () => {
  const samples = readdirSync(samplesDir).filter((f) => f.endsWith('.yaml'));

  it.each(samples)('accepts the sample %s', async (file) => {
    const sample = parse(readFileSync(samplesDir + file, 'utf8')) as CostPolicy;
    sample.metadata.name = uniqueName(String(sample.metadata.name));
    const stored = await createPolicy(sample);
    expect(stored.spec.currency).toBe(sample.spec.currency);
    expect(stored.metadata.generation).toBe(1);
  });

  it('fills in defaults', async () => {
    const { policy, gpu, budget } = fixture(uniqueName('defaults'));
    delete policy.spec.priority;
    delete gpu.basis;
    delete budget.timeZone;
    delete budget.scope;
    delete budget.action;
    const stored = await createPolicy(policy);
    expect(stored.spec.priority).toBe(0);
    expect(stored.spec.rates.gpuHour?.basis).toBe('Allocation');
    expect(stored.spec.budgets?.[0]).toMatchObject({
      timeZone: 'UTC',
      scope: 'Policy',
      action: 'Notify',
    });
  });

  it('accepts allocation tags from a namespace label, a pod label and a span attribute', async () => {
    const { policy, tags } = fixture(uniqueName('tags'));
    for (let i = 0; i < 13; i++) tags.push({ name: `tag-${i}.x_y`, podLabel: `example.com/l${i}` });
    const stored = await createPolicy(policy);
    expect(stored.spec.allocation?.tags).toHaveLength(16);
    expect(stored.spec.allocation?.tags?.slice(0, 3)).toEqual([
      { name: 'team', namespaceLabel: 'example.com/team' },
      { name: 'cost-center', podLabel: 'cost-center' },
      { name: 'agent', spanAttribute: 'gen_ai.agent.name' },
    ]);
  });

  it('has at least 20 distinct bad-policy cases', () => {
    expect(new Set(badPolicies.map((c) => c.name)).size).toBeGreaterThanOrEqual(20);
    expect(new Set(badPolicies.map((c) => c.message)).size).toBe(badPolicies.length);
  });

  it.each(badPolicies)('refuses a policy with $name', async ({ breakIt, message }) => {
    const f = fixture(uniqueName('bad'));
    breakIt(f);
    const policy = f.policy;
    const { code, message: actual } = await refusal(
      api.createClusterCustomObject({ ...policies, body: policy, dryRun: 'All' }),
    );
    expect(code).toBe(422);
    expect(actual).toContain(message);
  });

  it('refuses a change of currency', async () => {
    const name = uniqueName('currency');
    await createPolicy(fixture(name).policy);
    const { code, message } = await refusal(
      api.patchClusterCustomObject(
        { ...policies, name, body: { spec: { currency: 'EUR' } } },
        mergePatch,
      ),
    );
    expect(code).toBe(422);
    expect(message).toContain('spec: Invalid value: currency is immutable');
  });

  it('writes status through the subresource with a merge patch and shows the printer columns', async () => {
    const name = uniqueName('status');
    const policy = await createPolicy(fixture(name).policy);
    const status: CostPolicyStatus = {
      observedGeneration: 1,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          observedGeneration: 1,
          lastTransitionTime: '2026-05-01T00:00:00Z',
          reason: 'Metering',
          message: 'rates are in force on every node',
        },
        {
          type: 'BudgetWarning',
          status: 'True',
          observedGeneration: 1,
          lastTransitionTime: '2026-05-20T10:00:00Z',
          reason: 'ThresholdReached',
          message: 'budget monthly reached 80%',
        },
      ],
      topBudgetUtilization: '82%',
      budgets: [
        {
          name: 'monthly',
          periodStart: '2026-04-30T22:00:00Z',
          periodEnd: '2026-05-31T22:00:00Z',
          spent: '820.125000001',
          remaining: '179.874999999',
          forecast: '1270.5',
          utilizationPercent: 82,
          thresholdsReached: [80],
          topScopes: [{ key: '*', spent: '820.125000001' }],
        },
      ],
      lastCollectionTime: '2026-05-20T10:00:05Z',
      collection: { cursors: `node-a.example 41000123 ${'ab'.repeat(32)}` },
      accumulators: [{ budget: 'monthly', key: '*', nano: '820125000001' }],
    };
    const patched = (await api.patchClusterCustomObjectStatus(
      { ...policies, name, body: { status } },
      mergePatch,
    )) as CostPolicy;
    expect(patched.status).toEqual(status);
    // Status writes never move the generation, so observedGeneration stays meaningful.
    expect(patched.metadata.generation).toBe(policy.metadata.generation);

    const table = await kubectl(['get', 'costpolicies', name, '-o', 'wide']);
    expect(table.code).toBe(0);
    const [header = '', row = ''] = table.stdout.trimEnd().split('\n');
    expect(header.split(/\s{2,}/)).toEqual([
      'NAME',
      'CURRENCY',
      'BUDGET USAGE',
      'READY',
      'PRIORITY',
      'AGE',
    ]);
    expect(row.split(/\s{2,}/).slice(0, 5)).toEqual([name, 'USD', '82%', 'True', '10']);
  });

  it('ignores status in writes to the main resource', async () => {
    const { policy } = fixture(uniqueName('nostatus'));
    const stored = await createPolicy({ ...policy, status: { topBudgetUtilization: '99%' } });
    expect(stored.status).toBeUndefined();
  });

  it('validates status written by the operator', async () => {
    const name = uniqueName('badstatus');
    await createPolicy(fixture(name).policy);
    const { code, message } = await refusal(
      api.patchClusterCustomObjectStatus(
        {
          ...policies,
          name,
          body: {
            status: {
              budgets: [
                {
                  name: 'monthly',
                  periodStart: '2026-05-01T00:00:00Z',
                  periodEnd: '2026-06-01T00:00:00Z',
                  spent: '-3',
                },
              ],
            },
          },
        },
        mergePatch,
      ),
    );
    expect(code).toBe(422);
    expect(message).toContain('status.budgets[0].spent');
  });
});

function validReport(name: string): CostReport {
  const cost = {
    total: '10.5',
    cpu: '4',
    memory: '1.5',
    gpu: '3',
    io: '0',
    network: '0.5',
    tokens: '1.5',
  };
  return {
    apiVersion: 'agentmeter.dev/v1alpha1',
    kind: 'CostReport',
    metadata: { name },
    spec: {
      policy: { name: 'platform-default', generation: 3, budget: 'platform-monthly' },
      period: { start: '2026-04-01T00:00:00Z', end: '2026-05-01T00:00:00Z' },
      currency: 'USD',
      shard: { index: 0, count: 1 },
      totals: { cost, tokens: { input: 120_000, output: 30_000 }, sessions: 12 },
      namespaces: [
        { namespace: 'team-a', cost, tokens: { input: 120_000, output: 30_000 }, sessions: 12 },
      ],
      chainHeads: [{ node: 'node-a', seq: '9001', hash: 'cd'.repeat(32) }],
    },
  };
}

describe('CostReport CRD', () => {
  async function createReport(report: CostReport): Promise<CostReport> {
    const result = (await api.createClusterCustomObject({
      ...reports,
      body: report,
    })) as CostReport;
    created.push({ plural: reports.plural, name: String(report.metadata.name) });
    return result;
  }

  it('is immutable once created', async () => {
    const name = uniqueName('report');
    await createReport(validReport(name));
    const changeTotal = await refusal(
      api.patchClusterCustomObject(
        { ...reports, name, body: { spec: { totals: { cost: { total: '0' } } } } },
        mergePatch,
      ),
    );
    expect(changeTotal.code).toBe(422);
    expect(changeTotal.message).toContain(
      'a CostReport is immutable: its period is closed and its totals are final',
    );

    const dropNamespace = await refusal(
      api.patchClusterCustomObject(
        { ...reports, name, body: { spec: { namespaces: [] } } },
        mergePatch,
      ),
    );
    expect(dropNamespace.code).toBe(422);
    expect(dropNamespace.message).toContain('a CostReport is immutable');

    // Labels stay writable, e.g. for export bookkeeping.
    const labelled = (await api.patchClusterCustomObject(
      { ...reports, name, body: { metadata: { labels: { 'agentmeter.dev/exported': 'true' } } } },
      mergePatch,
    )) as CostReport;
    expect(labelled.metadata.labels).toEqual({ 'agentmeter.dev/exported': 'true' });
  });

  it.each([
    {
      name: 'a period that ends before it starts',
      breakIt: (r: CostReport) => (r.spec.period.end = '2026-03-01T00:00:00Z'),
      message: 'spec.period: Invalid value: period.end must be after period.start',
    },
    {
      name: 'a shard index outside the shard count',
      breakIt: (r: CostReport) => (r.spec.shard = { index: 2, count: 2 }),
      message: 'spec.shard: Invalid value: shard.index must be less than shard.count',
    },
    {
      name: 'a malformed chain hash',
      breakIt: (r: CostReport) =>
        (r.spec.chainHeads = [{ node: 'node-a', seq: '1', hash: 'not-a-hash' }]),
      message: 'spec.chainHeads[0].hash',
    },
  ])('refuses $name', async ({ breakIt, message }) => {
    const report = validReport(uniqueName('badreport'));
    breakIt(report);
    const { code, message: actual } = await refusal(
      api.createClusterCustomObject({ ...reports, body: report, dryRun: 'All' }),
    );
    expect(code).toBe(422);
    expect(actual).toContain(message);
  });
});
