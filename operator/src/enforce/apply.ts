// Carries out an enforcement plan against the API: lists the workloads that matter (those in
// demanded namespaces, the owners of over-budget sessions' pods, and everything we suspended
// before), patches them, and records one Event per action.
import type { AppsV1Api, BatchV1Api, V1ObjectMeta } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound } from '@agentmeter/kube-client';
import type { EventInput, EventRecorder } from '../runtime/index.ts';
import { mergePatchOptions } from '../runtime/index.ts';
import { SESSION_ID, SUSPENDED_LABEL, planEnforcement, reasonOf, workloadKey } from './plan.ts';

/** The OpenTelemetry alias the agent also accepts for a pod's session. */
const SESSION_ID_ALIAS = 'resource.opentelemetry.io/session.id';
import type { Action, Demand, Workload, WorkloadKind } from './plan.ts';

export interface EnforcerApis {
  readonly apps: Pick<
    AppsV1Api,
    | 'listNamespacedDeployment'
    | 'listNamespacedStatefulSet'
    | 'listDeploymentForAllNamespaces'
    | 'listStatefulSetForAllNamespaces'
    | 'patchNamespacedDeployment'
    | 'patchNamespacedStatefulSet'
  >;
  readonly batch: Pick<
    BatchV1Api,
    | 'listNamespacedJob'
    | 'listNamespacedCronJob'
    | 'listJobForAllNamespaces'
    | 'listCronJobForAllNamespaces'
    | 'patchNamespacedJob'
    | 'patchNamespacedCronJob'
  >;
}

/** Session keys ("namespace/id") over a Session-scope Suspend budget → "policy/budget". */
export type SessionDemand = ReadonlyMap<string, string>;

interface Raw {
  metadata?: V1ObjectMeta;
  spec?: { replicas?: number; suspend?: boolean };
}

function toWorkload(kind: WorkloadKind, obj: Raw): Workload {
  const m = obj.metadata ?? {};
  return {
    kind,
    namespace: m.namespace ?? '',
    name: m.name ?? '',
    ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
    annotations: m.annotations ?? {},
    ...(obj.spec?.replicas === undefined ? {} : { replicas: obj.spec.replicas }),
    ...(obj.spec?.suspend === undefined ? {} : { suspend: obj.spec.suspend }),
  };
}

/** The Event on a suspended or restored workload, naming the budget or guard behind it. */
export function enforcementEvent(action: Action): EventInput {
  const { workload: w } = action;
  const suspend = action.type === 'suspend';
  const what = `${w.kind} ${w.namespace}/${w.name}`;
  const by = reasonOf(action.reason);
  if (by.kind === 'guard') {
    return {
      type: suspend ? 'Warning' : 'Normal',
      reason: suspend ? 'GuardSuspended' : 'GuardRestored',
      action: suspend ? 'Suspend' : 'Restore',
      note: suspend
        ? `${what} suspended: guard ${by.name} of policy ${by.policy} tripped on its session`
        : `${what} restored: guard ${by.name} of policy ${by.policy} no longer holds its session`,
    };
  }
  return {
    type: suspend ? 'Warning' : 'Normal',
    reason: suspend ? 'BudgetSuspended' : 'BudgetRestored',
    action: suspend ? 'Suspend' : 'Restore',
    note: suspend
      ? `${what} suspended: budget ${action.reason} is exceeded`
      : `${what} restored: budget ${action.reason} no longer exceeded`,
  };
}

export class Enforcer {
  readonly #apis: EnforcerApis;
  readonly #events: EventRecorder;
  readonly #logger: Logger;
  readonly #onWrite: (resource: string) => void;

  constructor(
    apis: EnforcerApis,
    events: EventRecorder,
    logger: Logger,
    onWrite: (resource: string) => void = () => {},
  ) {
    this.#apis = apis;
    this.#events = events;
    this.#logger = logger;
    this.#onWrite = onWrite;
  }

  async #inNamespace(ns: string): Promise<Workload[]> {
    const { apps, batch } = this.#apis;
    const [d, s, j, c] = await Promise.all([
      apps.listNamespacedDeployment({ namespace: ns }),
      apps.listNamespacedStatefulSet({ namespace: ns }),
      batch.listNamespacedJob({ namespace: ns }),
      batch.listNamespacedCronJob({ namespace: ns }),
    ]);
    return [
      ...d.items.map((o) => toWorkload('Deployment', o)),
      ...s.items.map((o) => toWorkload('StatefulSet', o)),
      ...j.items.map((o) => toWorkload('Job', o)),
      ...c.items.map((o) => toWorkload('CronJob', o)),
    ];
  }

  async #suspendedByUs(): Promise<Workload[]> {
    const { apps, batch } = this.#apis;
    const labelSelector = `${SUSPENDED_LABEL}=true`;
    const [d, s, j, c] = await Promise.all([
      apps.listDeploymentForAllNamespaces({ labelSelector }),
      apps.listStatefulSetForAllNamespaces({ labelSelector }),
      batch.listJobForAllNamespaces({ labelSelector }),
      batch.listCronJobForAllNamespaces({ labelSelector }),
    ]);
    return [
      ...d.items.map((o) => toWorkload('Deployment', o)),
      ...s.items.map((o) => toWorkload('StatefulSet', o)),
      ...j.items.map((o) => toWorkload('Job', o)),
      ...c.items.map((o) => toWorkload('CronJob', o)),
    ];
  }

  /** Jobs owning the exclusive pods (annotation agentmeter.dev/session-id) of the sessions. */
  async #sessionJobs(sessions: SessionDemand): Promise<Map<string, string>> {
    const jobs = new Map<string, string>();
    const byNamespace = new Map<string, Map<string, string>>();
    for (const [key, reason] of sessions) {
      const i = key.indexOf('/');
      const ns = key.slice(0, i);
      const m = byNamespace.get(ns) ?? new Map<string, string>();
      m.set(key.slice(i + 1), reason);
      byNamespace.set(ns, m);
    }
    // A session's exclusive pods come from its Job's pod template, whose annotations name the
    // session: reading Jobs needs no rights on tenants' pods.
    for (const [ns, ids] of byNamespace) {
      const list = await this.#apis.batch.listNamespacedJob({ namespace: ns });
      for (const job of list.items) {
        const annotations = job.spec?.template.metadata?.annotations ?? {};
        const id = annotations[SESSION_ID] ?? annotations[SESSION_ID_ALIAS] ?? '';
        const reason = ids.get(id);
        if (reason !== undefined && job.metadata?.name !== undefined) {
          jobs.set(`${ns}/${job.metadata.name}`, reason);
        }
      }
    }
    return jobs;
  }

  /** Brings the workloads in line with the demand; returns the actions taken. */
  async enforce(
    namespaces: ReadonlyMap<string, string>,
    sessions: SessionDemand,
  ): Promise<Action[]> {
    const jobs = await this.#sessionJobs(sessions);
    const demand: Demand = { namespaces, jobs };
    const scopes = new Set([
      ...namespaces.keys(),
      ...[...jobs.keys()].map((k) => k.slice(0, k.indexOf('/'))),
    ]);
    const workloads: Workload[] = await this.#suspendedByUs();
    for (const ns of [...scopes].sort()) workloads.push(...(await this.#inNamespace(ns)));
    const actions = planEnforcement(workloads, demand);
    const done: Action[] = [];
    for (const action of actions) {
      if (await this.#apply(action)) done.push(action);
    }
    return done;
  }

  async #apply(action: Action): Promise<boolean> {
    const { workload: w, patch } = action;
    const req = { name: w.name, namespace: w.namespace, body: patch };
    const opts = mergePatchOptions();
    try {
      switch (w.kind) {
        case 'Deployment':
          await this.#apis.apps.patchNamespacedDeployment(req, opts);
          break;
        case 'StatefulSet':
          await this.#apis.apps.patchNamespacedStatefulSet(req, opts);
          break;
        case 'Job':
          await this.#apis.batch.patchNamespacedJob(req, opts);
          break;
        case 'CronJob':
          await this.#apis.batch.patchNamespacedCronJob(req, opts);
          break;
      }
      this.#onWrite(w.kind);
    } catch (err) {
      // Changed or gone since listed: the next round plans from the fresh object.
      if (isConflict(err) || isNotFound(err)) return false;
      throw err;
    }
    this.#logger.info(
      { workload: workloadKey(w), action: action.type, by: action.reason },
      'enforcement',
    );
    await this.#events.record(
      {
        apiVersion: w.kind === 'Job' || w.kind === 'CronJob' ? 'batch/v1' : 'apps/v1',
        kind: w.kind,
        name: w.name,
        namespace: w.namespace,
      },
      enforcementEvent(action),
    );
    return true;
  }
}
