import { describe, expect, it } from 'vitest';
import type { LabelSelector } from '../schema/common-types.ts';
import { matchesLabelSelector } from './selector.ts';

const pod = { app: 'agent', tier: 'gold', 'agentmeter.dev/tenant': 'acme' };

describe('matchesLabelSelector', () => {
  it.each<[string, LabelSelector | undefined, Record<string, string>, boolean]>([
    ['absent selector matches everything', undefined, pod, true],
    ['absent selector matches no labels', undefined, {}, true],
    ['empty selector matches everything', {}, pod, true],
    ['empty matchLabels and matchExpressions', { matchLabels: {}, matchExpressions: [] }, {}, true],
    ['matchLabels equal', { matchLabels: { app: 'agent' } }, pod, true],
    ['matchLabels all must hold', { matchLabels: { app: 'agent', tier: 'silver' } }, pod, false],
    ['matchLabels missing key', { matchLabels: { team: 'x' } }, pod, false],
    ['matchLabels empty value is not absence', { matchLabels: { team: '' } }, {}, false],
    ['matchLabels empty value equal', { matchLabels: { team: '' } }, { team: '' }, true],
    [
      'In matches a listed value',
      { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold', 'silver'] }] },
      pod,
      true,
    ],
    [
      'In refuses an unlisted value',
      { matchExpressions: [{ key: 'tier', operator: 'In', values: ['bronze'] }] },
      pod,
      false,
    ],
    [
      'In refuses an absent key',
      { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
      pod,
      false,
    ],
    [
      'NotIn refuses a listed value',
      { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] },
      pod,
      false,
    ],
    [
      'NotIn matches an unlisted value',
      { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['bronze'] }] },
      pod,
      true,
    ],
    [
      'NotIn matches an absent key',
      { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] },
      pod,
      true,
    ],
    [
      'Exists with the key',
      { matchExpressions: [{ key: 'agentmeter.dev/tenant', operator: 'Exists' }] },
      pod,
      true,
    ],
    [
      'Exists with an empty value',
      { matchExpressions: [{ key: 'x', operator: 'Exists' }] },
      { x: '' },
      true,
    ],
    [
      'Exists without the key',
      { matchExpressions: [{ key: 'zone', operator: 'Exists' }] },
      pod,
      false,
    ],
    [
      'DoesNotExist without the key',
      { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] },
      pod,
      true,
    ],
    [
      'DoesNotExist with the key',
      { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] },
      pod,
      false,
    ],
    [
      'matchLabels AND matchExpressions, both hold',
      {
        matchLabels: { app: 'agent' },
        matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }],
      },
      pod,
      true,
    ],
    [
      'matchLabels AND matchExpressions, one fails',
      {
        matchLabels: { app: 'agent' },
        matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }],
      },
      pod,
      false,
    ],
    [
      'every expression must hold',
      {
        matchExpressions: [
          { key: 'app', operator: 'Exists' },
          { key: 'zone', operator: 'DoesNotExist' },
          { key: 'tier', operator: 'In', values: ['bronze'] },
        ],
      },
      pod,
      false,
    ],
    [
      'prototype keys are not labels (Exists)',
      { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] },
      {},
      false,
    ],
    [
      'prototype keys are not labels (DoesNotExist)',
      { matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] },
      {},
      true,
    ],
    ['values are case-sensitive', { matchLabels: { app: 'Agent' } }, pod, false],
  ])('%s', (_name, selector, labels, expected) => {
    expect(matchesLabelSelector(selector, labels)).toBe(expected);
  });

  it('fails closed on an operator it does not know', () => {
    const selector = {
      matchExpressions: [{ key: 'app', operator: 'Gt', values: ['1'] }],
    } as unknown as LabelSelector;
    expect(matchesLabelSelector(selector, pod)).toBe(false);
  });
});
