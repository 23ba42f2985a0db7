import { describe, expect, it } from 'vitest';
import { setCondition, type Condition, type ConditionUpdate } from './conditions.ts';

const t0 = new Date('2026-03-01T10:00:00.123Z');
const t1 = new Date('2026-03-01T11:30:00.999Z');

const ready = (
  status: ConditionUpdate['status'],
  reason: string,
  message: string,
): ConditionUpdate => ({ type: 'Ready', status, reason, message });

describe('setCondition', () => {
  it('adds a new condition with a whole-second transition time and observedGeneration', () => {
    const out = setCondition([], ready('True', 'Reconciled', 'ok'), 3, t0);
    expect(out).toEqual([
      {
        type: 'Ready',
        status: 'True',
        observedGeneration: 3,
        lastTransitionTime: '2026-03-01T10:00:00Z',
        reason: 'Reconciled',
        message: 'ok',
      },
    ]);
  });

  it('keeps lastTransitionTime when the status does not flip', () => {
    const before = setCondition([], ready('True', 'A', 'a'), 1, t0);
    const after = setCondition(before, ready('True', 'B', 'b'), 2, t1);
    expect(after[0]).toMatchObject({
      lastTransitionTime: '2026-03-01T10:00:00Z',
      reason: 'B',
      message: 'b',
      observedGeneration: 2,
    });
  });

  it('moves lastTransitionTime when the status flips', () => {
    const before = setCondition([], ready('True', 'A', ''), 1, t0);
    const after = setCondition(before, ready('False', 'B', ''), 1, t1);
    expect(after[0]?.lastTransitionTime).toBe('2026-03-01T11:30:00Z');
  });

  it('leaves other conditions, their order and the input untouched', () => {
    const input: Condition[] = [
      { type: 'Ready', status: 'True', lastTransitionTime: 'x', reason: 'R', message: '' },
      { type: 'BudgetWarning', status: 'False', lastTransitionTime: 'y', reason: 'W', message: '' },
    ];
    const copy = structuredClone(input);
    const out = setCondition(input, ready('Unknown', 'U', ''), 4, t1);
    expect(input).toEqual(copy);
    expect(out.map((c) => c.type)).toEqual(['Ready', 'BudgetWarning']);
    expect(out[1]).toBe(input[1]);
    expect(out[0]?.status).toBe('Unknown');
  });
});
