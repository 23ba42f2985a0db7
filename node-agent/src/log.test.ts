import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { componentLogger, createLogger } from './log.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('writes JSON lines with level name, ISO time and component', () => {
    const { lines, destination } = capture();
    const log = createLogger({ component: 'node-agent', level: 'debug', destination });
    log.debug({ tick: 3 }, 'hello');
    componentLogger(log, 'pods').warn('watch restarted');
    log.trace('dropped');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'debug',
      component: 'node-agent',
      tick: 3,
      msg: 'hello',
    });
    expect(String(lines[0]?.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(lines[1]).toMatchObject({ level: 'warn', component: 'pods', msg: 'watch restarted' });
  });
});
