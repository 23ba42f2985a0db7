import { describe, expect, it } from 'vitest';
import { runSteps } from './steps.ts';
import { TurnQueue } from './turns.ts';

function* counted(name: string, steps: number, log: string[]): Generator<void, string, void> {
  for (let i = 0; i < steps; i++) {
    log.push(`${name}${i}`);
    yield;
  }
  return name;
}

describe('TurnQueue', () => {
  it('runs jobs in order, one step at a time, and lets the event loop in between turns', async () => {
    const log: string[] = [];
    // A zero budget ends every turn after one step.
    const turns = new TurnQueue(0);
    const a = turns.run(counted('a', 3, log));
    const b = turns.run(counted('b', 2, log));
    // Other work of the event loop, queued the way the turns are.
    let looping = true;
    const other = (): void => {
      log.push('loop');
      if (looping) setImmediate(other);
    };
    setImmediate(other);
    await expect(Promise.all([a, b])).resolves.toEqual(['a', 'b']);
    looping = false;
    // Steps of a never interleave with b's; the other work ran between every two steps.
    expect(log.filter((l) => l !== 'loop')).toEqual(['a0', 'a1', 'a2', 'b0', 'b1']);
    const between = (from: string, to: string) => log.slice(log.indexOf(from), log.indexOf(to));
    for (const [from, to] of [
      ['a0', 'a1'],
      ['a1', 'a2'],
      ['a2', 'b0'],
      ['b0', 'b1'],
    ] as const)
      expect(between(from, to)).toContain('loop');
  });

  it('rejects a job whose step throws and goes on with the next', async () => {
    const turns = new TurnQueue();
    function* failing(): Generator<void, never, void> {
      yield;
      throw new Error('bad step');
    }
    const failed = turns.run(failing());
    const next = turns.run(counted('n', 1, []));
    await expect(failed).rejects.toThrow('bad step');
    await expect(next).resolves.toBe('n');
  });
});

describe('runSteps', () => {
  it('runs every step and returns the result', () => {
    const log: string[] = [];
    expect(runSteps(counted('x', 3, log))).toBe('x');
    expect(log).toEqual(['x0', 'x1', 'x2']);
  });
});
