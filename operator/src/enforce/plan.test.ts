import { describe, expect, it } from 'vitest';
import {
  ENFORCEMENT,
  PREVIOUS_REPLICAS,
  PREVIOUS_SUSPEND,
  SUSPENDED_BY,
  planEnforcement,
} from './plan.ts';
import type { Workload } from './plan.ts';

const dep: Workload = {
  kind: 'Deployment',
  namespace: 'a',
  name: 'web',
  annotations: {},
  replicas: 3,
  resourceVersion: '7',
};
const job: Workload = {
  kind: 'Job',
  namespace: 'b',
  name: 'run-1',
  annotations: {},
  suspend: false,
};

describe('planEnforcement', () => {
  it('scales a Deployment to zero and records its replicas', () => {
    const [a] = planEnforcement([dep], { namespaces: new Map([['a', 'p/b']]), jobs: new Map() });
    expect(a?.type).toBe('suspend');
    expect(a?.patch).toEqual({
      metadata: {
        resourceVersion: '7',
        labels: { 'agentmeter.dev/suspended': 'true' },
        annotations: { [SUSPENDED_BY]: 'p/b', [PREVIOUS_REPLICAS]: '3' },
      },
      spec: { replicas: 0 },
    });
  });
  it('suspends a session Job and restores it with its previous suspend', () => {
    const [s] = planEnforcement([job], {
      namespaces: new Map(),
      jobs: new Map([['b/run-1', 'p/s']]),
    });
    expect(s?.patch).toMatchObject({
      spec: { suspend: true },
      metadata: { annotations: { [PREVIOUS_SUSPEND]: 'false' } },
    });
    const suspended = {
      ...job,
      suspend: true,
      annotations: { [SUSPENDED_BY]: 'p/s', [PREVIOUS_SUSPEND]: 'false' },
    };
    const [r] = planEnforcement([suspended], { namespaces: new Map(), jobs: new Map() });
    expect(r?.type).toBe('restore');
    expect(r?.patch).toMatchObject({
      spec: { suspend: false },
      metadata: { annotations: { [SUSPENDED_BY]: null } },
    });
  });
  it('restores the previous replicas and leaves others alone', () => {
    const suspended = {
      ...dep,
      replicas: 0,
      annotations: { [SUSPENDED_BY]: 'p/b', [PREVIOUS_REPLICAS]: '3' },
    };
    const [r] = planEnforcement([suspended], { namespaces: new Map(), jobs: new Map() });
    expect(r?.patch).toMatchObject({ spec: { replicas: 3 } });
    expect(
      planEnforcement([{ ...dep, replicas: 0 }], { namespaces: new Map(), jobs: new Map() }),
    ).toEqual([]);
  });
  it('never suspends an exempt workload, and restores one exempted later', () => {
    const exempt = { ...dep, annotations: { [ENFORCEMENT]: 'exempt' } };
    expect(
      planEnforcement([exempt], { namespaces: new Map([['a', 'p/b']]), jobs: new Map() }),
    ).toEqual([]);
    const was = {
      ...dep,
      annotations: { [ENFORCEMENT]: 'exempt', [SUSPENDED_BY]: 'p/b', [PREVIOUS_REPLICAS]: '2' },
    };
    expect(
      planEnforcement([was], { namespaces: new Map([['a', 'p/b']]), jobs: new Map() })[0]?.type,
    ).toBe('restore');
  });
});
