// Suspend and restore as a pure plan: from the workloads as they are and what the budgets
// demand, the merge patches to send. The previous state rides along in annotations on the
// workload itself, so a restore needs nothing but the object (and survives operator failover).

export const SUSPENDED_BY = 'agentmeter.dev/suspended-by';
export const PREVIOUS_REPLICAS = 'agentmeter.dev/previous-replicas';
export const PREVIOUS_SUSPEND = 'agentmeter.dev/previous-suspend';
export const ENFORCEMENT = 'agentmeter.dev/enforcement';
/** Label twin of SUSPENDED_BY: lets restores find suspended workloads with one labelled list. */
export const SUSPENDED_LABEL = 'agentmeter.dev/suspended';
export const SESSION_ID = 'agentmeter.dev/session-id';

/** A guard's part of a SUSPENDED_BY value: budget names are DNS labels, so never hold it. */
const GUARD_MARK = 'guard:';

/** The SUSPENDED_BY value of a tripped guard; a budget's is "policy/budget". */
export function guardReason(policy: string, guard: string): string {
  return `${policy}/${GUARD_MARK}${guard}`;
}

/** What a SUSPENDED_BY value names, for Events: a guard or a budget of a policy. */
export function reasonOf(by: string): { kind: 'guard' | 'budget'; policy: string; name: string } {
  const i = by.indexOf('/');
  const policy = by.slice(0, i);
  const rest = by.slice(i + 1);
  return rest.startsWith(GUARD_MARK)
    ? { kind: 'guard', policy, name: rest.slice(GUARD_MARK.length) }
    : { kind: 'budget', policy, name: rest };
}

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'Job', 'CronJob'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export interface Workload {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion?: string;
  readonly annotations: Readonly<Record<string, string>>;
  /** Deployments and StatefulSets. */
  readonly replicas?: number;
  /** Jobs and CronJobs. */
  readonly suspend?: boolean;
}

/** What the budgets demand: namespaces to stop entirely, and single Jobs (Session scope). */
export interface Demand {
  /** namespace → "policy/budget" that demands it. */
  readonly namespaces: ReadonlyMap<string, string>;
  /** "namespace/job" → "policy/budget". */
  readonly jobs: ReadonlyMap<string, string>;
}

export interface Action {
  readonly type: 'suspend' | 'restore';
  readonly workload: Workload;
  readonly reason: string;
  readonly patch: object;
}

export function workloadKey(w: Pick<Workload, 'kind' | 'namespace' | 'name'>): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

function demandOf(w: Workload, demand: Demand): string | undefined {
  return (
    demand.namespaces.get(w.namespace) ??
    (w.kind === 'Job' ? demand.jobs.get(`${w.namespace}/${w.name}`) : undefined)
  );
}

function scalable(kind: WorkloadKind): boolean {
  return kind === 'Deployment' || kind === 'StatefulSet';
}

function suspendPatch(w: Workload, reason: string): object {
  const meta = (annotations: Record<string, string>) => ({
    ...(w.resourceVersion ? { resourceVersion: w.resourceVersion } : {}),
    labels: { [SUSPENDED_LABEL]: 'true' },
    annotations: { [SUSPENDED_BY]: reason, ...annotations },
  });
  if (scalable(w.kind)) {
    return {
      metadata: meta({ [PREVIOUS_REPLICAS]: String(w.replicas ?? 1) }),
      spec: { replicas: 0 },
    };
  }
  return {
    metadata: meta({ [PREVIOUS_SUSPEND]: String(w.suspend ?? false) }),
    spec: { suspend: true },
  };
}

function restorePatch(w: Workload): object {
  const metadata = {
    ...(w.resourceVersion ? { resourceVersion: w.resourceVersion } : {}),
    labels: { [SUSPENDED_LABEL]: null },
    annotations: { [SUSPENDED_BY]: null, [PREVIOUS_REPLICAS]: null, [PREVIOUS_SUSPEND]: null },
  };
  if (scalable(w.kind)) {
    const previous = Number.parseInt(w.annotations[PREVIOUS_REPLICAS] ?? '', 10);
    return {
      metadata,
      spec: { replicas: Number.isSafeInteger(previous) && previous >= 0 ? previous : 1 },
    };
  }
  return { metadata, spec: { suspend: w.annotations[PREVIOUS_SUSPEND] === 'true' } };
}

/**
 * Suspends what is demanded and not yet suspended by us, restores what we suspended and is no
 * longer demanded (period rolled over, budget raised or removed) or was exempted since. A
 * workload suspended by someone else (no SUSPENDED_BY) is never touched by a restore.
 */
export function planEnforcement(workloads: readonly Workload[], demand: Demand): Action[] {
  const actions: Action[] = [];
  const seen = new Set<string>();
  for (const w of workloads) {
    const key = workloadKey(w);
    if (seen.has(key)) continue;
    seen.add(key);
    const exempt = w.annotations[ENFORCEMENT] === 'exempt';
    const by = w.annotations[SUSPENDED_BY];
    const want = exempt ? undefined : demandOf(w, demand);
    if (want !== undefined && by === undefined) {
      actions.push({ type: 'suspend', workload: w, reason: want, patch: suspendPatch(w, want) });
    } else if (by !== undefined && want === undefined) {
      actions.push({ type: 'restore', workload: w, reason: by, patch: restorePatch(w) });
    }
  }
  return actions;
}
