import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.ts';

describe('operator config: the store and its retention', () => {
  it('defaults to the embedded file and the documented retention', () => {
    const c = parseConfig([], {});
    expect(c.store).toEqual({ engine: 'sqlite', path: '/var/lib/agentmeter/store.db' });
    expect(c.retention).toEqual({ calls: 30, sessions: 90, rollups: 800 });
  });

  it('takes PostgreSQL from the URL (env, as the chart sets it from a Secret; the flag wins)', () => {
    const env = { AGENTMETER_STORE_URL: 'postgres://u:p@db/agentmeter' };
    expect(parseConfig([], env).store).toEqual({
      engine: 'postgres',
      url: env.AGENTMETER_STORE_URL,
    });
    expect(parseConfig(['--store-url=postgresql://h/x'], env).store).toEqual({
      engine: 'postgres',
      url: 'postgresql://h/x',
    });
    expect(parseConfig(['--store-path=/data/s.db'], {}).store).toEqual({
      engine: 'sqlite',
      path: '/data/s.db',
    });
  });

  it('refuses a URL that is not PostgreSQL and a retention that is not whole days', () => {
    expect(() => parseConfig(['--store-url=mysql://h/x'], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--retention-calls=0d'], {})).toThrow(/--retention-calls/);
    expect(() => parseConfig([], { AGENTMETER_RETENTION_ROLLUPS: '2y' })).toThrow(
      /AGENTMETER_RETENTION_ROLLUPS: invalid retention "2y"/,
    );
    expect(parseConfig(['--retention-calls=7d'], {}).retention.calls).toBe(7);
  });
});
