import { describe, expect, it } from 'vitest';
import type { AllocationTag } from '../costpolicy/types.ts';
import { labelTags, mergeTags, spanTags, tagValue } from './allocation-tags.ts';

const TAGS: AllocationTag[] = [
  { name: 'team', namespaceLabel: 'example.com/team' },
  { name: 'cost-center', podLabel: 'cost-center' },
  { name: 'agent', spanAttribute: 'gen_ai.agent.name' },
];

describe('allocation tags', () => {
  it('reads label tags from the pod and its namespace, in name order, leaving out missing ones', () => {
    const tags = labelTags(TAGS, { 'cost-center': 'cc-7' }, { 'example.com/team': 'red' });
    expect(tags).toEqual({ 'cost-center': 'cc-7', team: 'red' });
    expect(Object.keys(tags ?? {})).toEqual(['cost-center', 'team']);
    expect(labelTags(TAGS, {}, { 'example.com/team': '' })).toBeUndefined();
    expect(labelTags(undefined, { a: 'b' }, {})).toBeUndefined();
  });

  it('names the span-attribute tags and merges their values over the label tags', () => {
    expect(spanTags(TAGS)).toEqual([{ name: 'agent', attribute: 'gen_ai.agent.name' }]);
    expect(mergeTags({ team: 'red' }, { agent: 'planner' })).toEqual({
      agent: 'planner',
      team: 'red',
    });
    expect(Object.keys(mergeTags({ team: 'red' }, { agent: 'planner' }) ?? {})).toEqual([
      'agent',
      'team',
    ]);
    expect(mergeTags(undefined, undefined)).toBeUndefined();
  });

  it('drops values the ledger cannot hold instead of cutting them', () => {
    expect(tagValue('x'.repeat(256))).toBe('x'.repeat(256));
    expect(tagValue('x'.repeat(257))).toBeUndefined();
    expect(tagValue('')).toBeUndefined();
    expect(tagValue(7)).toBeUndefined();
  });
});
