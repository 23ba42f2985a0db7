// Reading CostPolicies from the apiserver, and the small facts about one the other parts share.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { COST_POLICY_GVK, type CostPolicy } from '@agentmeter/crds';
import type { ObjectRef } from '../runtime/index.ts';

/** The custom-object calls the controller makes. */
export type CustomApi = Pick<
  CustomObjectsApi,
  | 'listClusterCustomObject'
  | 'getClusterCustomObject'
  | 'patchClusterCustomObjectStatus'
  | 'createClusterCustomObject'
>;

const { group, version, plural } = COST_POLICY_GVK;
export const POLICY_API = { group, version, plural } as const;
const LIST_PAGE = 25;

/** Drops managedFields, which the operator never reads. */
export function slim(p: CostPolicy): CostPolicy {
  delete (p.metadata as { managedFields?: unknown }).managedFields;
  return p;
}

export function policyRef(p: CostPolicy): ObjectRef {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'CostPolicy',
    name: p.metadata.name ?? '',
    ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
  };
}

/** Every CostPolicy, in pages: with a cursor per node each status is large, and one list of
 * them all would be held as text, buffer and objects at once. */
export async function listPolicies(custom: CustomApi): Promise<CostPolicy[]> {
  const policies: CostPolicy[] = [];
  let next: string | undefined;
  do {
    const list = (await custom.listClusterCustomObject({
      ...POLICY_API,
      limit: LIST_PAGE,
      ...(next ? { _continue: next } : {}),
    })) as { items: CostPolicy[]; metadata?: { continue?: string } };
    for (const p of list.items) policies.push(slim(p));
    next = list.metadata?.continue || undefined;
  } while (next !== undefined);
  return policies;
}

/** Re-reads one policy (after a conflict). */
export async function getPolicy(custom: CustomApi, name: string): Promise<CostPolicy> {
  return slim((await custom.getClusterCustomObject({ ...POLICY_API, name })) as CostPolicy);
}
