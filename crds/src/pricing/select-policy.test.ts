import { describe, expect, it } from 'vitest';
import type { CostPolicySpec } from '../costpolicy/types.ts';
import type { PolicySnapshot } from './compile-policy.ts';
import { selectPolicy } from './select-policy.ts';
import { loadSamples } from './test-support.ts';

const samples = [...loadSamples().values()];
const runtime = { 'app.kubernetes.io/component': 'agent-runtime' };

function snap(name: string, spec: Partial<CostPolicySpec>, generation = 1n): PolicySnapshot {
  return { name, generation, spec: { currency: 'USD', rates: { cpuCoreHour: '1' }, ...spec } };
}

describe('selectPolicy with the samples', () => {
  it.each<[string, Record<string, string>, Record<string, string>, string]>([
    ['a plain namespace falls back to platform-default', {}, {}, 'platform-default'],
    ['the GPU team namespace', { team: 'ml-research' }, {}, 'ml-research-gpu'],
    [
      'an agent runtime in a tenant namespace',
      { 'agentmeter.dev/tenant': 'acme' },
      runtime,
      'agent-platform-sessions',
    ],
    [
      'another pod in a tenant namespace',
      { 'agentmeter.dev/tenant': 'acme' },
      { app: 'db' },
      'platform-default',
    ],
    [
      'priority 200 beats 100',
      { team: 'ml-research', 'agentmeter.dev/tenant': 'acme' },
      runtime,
      'agent-platform-sessions',
    ],
  ])('%s', (_name, nsLabels, podLabels, expected) => {
    const chosen = selectPolicy(samples, { namespace: 'ns', labels: podLabels }, nsLabels);
    expect(chosen?.name).toBe(expected);
  });

  it('returns the snapshot itself, generation included (invariant 5)', () => {
    const chosen = selectPolicy(samples, { namespace: 'ns', labels: {} }, { team: 'ml-research' });
    expect(chosen?.generation).toBe(1n);
    expect(chosen?.rates.gpuHour?.basis).toBe('Allocation');
  });
});

describe('selectPolicy', () => {
  const pod = { namespace: 'team-a', labels: { app: 'agent' } };

  it('returns null when no policy selects the pod (unpriced)', () => {
    const only = snap('gpu', { selector: { namespaceSelector: { matchLabels: { team: 'ml' } } } });
    expect(selectPolicy([only], pod, {})).toBeNull();
    expect(selectPolicy([], pod, {})).toBeNull();
  });

  it('picks the highest priority whatever the order', () => {
    const policies = [
      snap('low', { priority: 1 }),
      snap('high', { priority: 999 }),
      snap('none', {}),
    ];
    expect(selectPolicy(policies, pod, {})?.name).toBe('high');
    expect(selectPolicy([...policies].reverse(), pod, {})?.name).toBe('high');
  });

  it('treats an omitted priority as 0', () => {
    expect(selectPolicy([snap('b', {}), snap('a', { priority: 0 })], pod, {})?.name).toBe('a');
    expect(selectPolicy([snap('a', {}), snap('b', { priority: 1 })], pod, {})?.name).toBe('b');
  });

  it('settles ties by the name that sorts first, in code-unit order', () => {
    const tie = [
      snap('zeta', { priority: 5 }),
      snap('alpha', { priority: 5 }),
      snap('beta', { priority: 5 }),
    ];
    expect(selectPolicy(tie, pod, {})?.name).toBe('alpha');
    expect(selectPolicy([...tie].reverse(), pod, {})?.name).toBe('alpha');
    expect(selectPolicy([snap('a-b', {}), snap('a0', {})], pod, {})?.name).toBe('a-b');
  });

  it('ignores higher-priority policies that do not select the pod', () => {
    const policies = [
      snap('other-pods', {
        priority: 900,
        selector: { podSelector: { matchLabels: { app: 'db' } } },
      }),
      snap('fallback', {}),
    ];
    expect(selectPolicy(policies, pod, {})?.name).toBe('fallback');
  });

  it('needs both the namespace and the pod selector to match', () => {
    const both = snap('both', {
      selector: {
        namespaceSelector: { matchLabels: { env: 'prod' } },
        podSelector: { matchLabels: { app: 'agent' } },
      },
    });
    expect(selectPolicy([both], pod, { env: 'prod' })?.name).toBe('both');
    expect(selectPolicy([both], pod, { env: 'dev' })).toBeNull();
    expect(selectPolicy([both], { ...pod, labels: {} }, { env: 'prod' })).toBeNull();
  });

  it('selects namespaces by kubernetes.io/metadata.name even if the caller omits it', () => {
    const byName = snap('by-name', {
      selector: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team-a' } } },
    });
    expect(selectPolicy([byName], pod, {})?.name).toBe('by-name');
    expect(selectPolicy([byName], { ...pod, namespace: 'team-b' }, {})).toBeNull();
  });
});
