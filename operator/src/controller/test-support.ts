// Builders shared by the controller's unit tests: a CostPolicy, a client on the scripted fake
// apiserver, and an event recorder that keeps what it is given.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { CostPolicy } from '@agentmeter/crds';
import type { EventInput, ObjectRef } from '../runtime/index.ts';
import type { FakeApiServer } from '../runtime/fake-apiserver.ts';
import { FakeClock } from '../runtime/fake-clock.ts';
import { OperatorMetrics } from '../metrics.ts';
import { AccountingStore } from '../store/accounting.ts';
import { SqliteEngine } from '../store/sqlite-engine.ts';

export const POLICY_PATH = '/apis/agentmeter.dev/v1alpha1/costpolicies';
export const REPORT_PATH = '/apis/agentmeter.dev/v1alpha1/costreports';

export function costPolicy(name: string, more: Partial<CostPolicy> = {}): CostPolicy {
  return {
    apiVersion: 'agentmeter.dev/v1alpha1',
    kind: 'CostPolicy',
    metadata: { name, uid: `uid-${name}`, generation: 1, resourceVersion: '1' },
    spec: {
      selector: { namespaceSelector: { matchLabels: { team: name } } },
      currency: 'USD',
      rates: { cpuCoreHour: '1' },
    },
    ...more,
  } as CostPolicy;
}

export function recordingEvents() {
  const recorded: { ref: ObjectRef; input: EventInput }[] = [];
  return {
    recorded,
    record: async (ref: ObjectRef, input: EventInput) => {
      recorded.push({ ref, input });
    },
  };
}

/** A real embedded store in memory, migrated. */
export async function memoryStore(): Promise<AccountingStore> {
  const store = new AccountingStore(new SqliteEngine({ path: ':memory:' }));
  await store.migrate();
  return store;
}

/** The collaborators every part takes, on the fake apiserver and `store`. */
export function controllerDeps(server: FakeApiServer, store: AccountingStore) {
  return {
    custom: server.kubeConfig().makeApiClient(CustomObjectsApi),
    store,
    events: recordingEvents(),
    metrics: new OperatorMetrics(new Registry()),
    logger: pino({ level: 'silent' }),
    clock: new FakeClock(new Date('2026-05-10T12:00:00Z')),
  };
}
