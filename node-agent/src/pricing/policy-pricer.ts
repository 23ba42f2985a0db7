// The agent's read-only view of CostPolicies and namespace labels, and the Pricer the tick batcher
// uses. Policies are compiled once per generation; a superseded generation stays available for
// a while, so a tick measured under it is still priced with it (rates are never retroactive).
import {
  COST_POLICY_GVK,
  compilePolicy,
  labelTags,
  matchApiHost,
  priceCall,
  priceShares,
  selectPolicy,
  spanTags,
  type CallPrice,
  type CallUsage,
  type CompiledPolicy,
  type CostPolicy,
  type PodCost,
  type SessionRef,
  type SpanTag,
  type Usage,
} from '@agentmeter/crds';
import { Informer, type RestClient } from '@agentmeter/kube-client';
import type { KubernetesObject, V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { PodMeta } from '../pods/pod-meta.ts';
import type { Pricer, PricingRef } from '../batches/tick-batcher.ts';

const RETAIN_SUPERSEDED_MS = 30 * 60_000;

type PolicyObject = CostPolicy & KubernetesObject;

interface Retained {
  readonly policy: CompiledPolicy;
  /** The object compiled: a policy deleted and created again has the same name and generation. */
  readonly uid: string;
  supersededAt: number | undefined;
}

/** A pod's usage and its shares priced under `policy`, as the pod-usage entry records it. */
export function podCost(
  policy: CompiledPolicy,
  ref: PricingRef,
  usage: Usage,
  shares: readonly { session: SessionRef | null; usage: Usage }[],
  gpuModel?: string,
): PodCost {
  const price = priceShares(policy.rates, usage, shares, gpuModel);
  return {
    currency: policy.currency,
    policy: ref.policy,
    totalNano: price.totalNano.toString(),
    bySession: price.bySession.map((s) => ({
      session: s.session,
      totalNano: s.totalNano.toString(),
    })),
  };
}

export class PolicyPricer implements Pricer {
  readonly #policies: Informer<PolicyObject>;
  readonly #namespaces: Informer<V1Namespace>;
  readonly #compiled = new Map<string, Retained>();
  readonly #log: Logger;
  readonly #now: () => number;
  #current: CompiledPolicy[] = [];

  constructor(options: { client: RestClient; log: Logger; now?: () => number }) {
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    const { group, version, plural } = COST_POLICY_GVK;
    this.#policies = new Informer<PolicyObject>({
      client: options.client,
      path: `/apis/${group}/${version}/${plural}`,
      logger: options.log,
      // The status (cursors of every node, top namespaces) is the operator's; rates are in spec.
      transform: ({ apiVersion, kind, metadata, spec }) => ({
        apiVersion,
        kind,
        metadata: {
          name: metadata?.name,
          uid: metadata?.uid,
          generation: metadata?.generation,
          resourceVersion: metadata?.resourceVersion,
        },
        spec,
      }),
    });
    this.#namespaces = new Informer<V1Namespace>({
      client: options.client,
      path: '/api/v1/namespaces',
      logger: options.log,
      transform: ({ metadata }) => ({
        metadata: {
          name: metadata?.name,
          labels: metadata?.labels,
          resourceVersion: metadata?.resourceVersion,
        },
      }),
    });
    const refresh = (): void => this.#refresh();
    for (const event of ['add', 'update', 'delete', 'synced'] as const)
      this.#policies.on(event, refresh);
  }

  start(): void {
    this.#policies.start();
    this.#namespaces.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.#policies.stop(), this.#namespaces.stop()]);
  }

  get synced(): boolean {
    return this.#policies.synced && this.#namespaces.synced;
  }

  whenSynced(): Promise<void> {
    return Promise.all([this.#policies.whenSynced(), this.#namespaces.whenSynced()]).then(
      () => undefined,
    );
  }

  #refresh(): void {
    const now = this.#now();
    const live = new Set<string>();
    const current: CompiledPolicy[] = [];
    for (const obj of this.#policies.list()) {
      const name = obj.metadata?.name ?? '';
      const uid = obj.metadata?.uid ?? '';
      const generation = BigInt(obj.metadata?.generation ?? 0);
      const key = `${name}@${generation}`;
      live.add(key);
      let retained = this.#compiled.get(key);
      // A policy created again under an earlier one's name starts at that one's generation:
      // its spec replaces the earlier one's (whose entries end before it was created).
      if (retained === undefined || retained.uid !== uid) {
        try {
          retained = {
            policy: compilePolicy(name, generation, obj.spec),
            uid,
            supersededAt: undefined,
          };
          this.#compiled.set(key, retained);
          this.#log.info(
            { policy: name, generation: generation.toString() },
            'cost policy in force',
          );
        } catch (err) {
          this.#log.error(
            { err, policy: name },
            'cost policy cannot be compiled; pods it selects stay unpriced',
          );
          continue;
        }
      }
      retained.supersededAt = undefined;
      current.push(retained.policy);
    }
    for (const [key, retained] of this.#compiled) {
      if (live.has(key)) continue;
      retained.supersededAt ??= now;
      if (now - retained.supersededAt > RETAIN_SUPERSEDED_MS) this.#compiled.delete(key);
    }
    this.#current = current;
  }

  policyFor(meta: PodMeta): PricingRef | null {
    const nsLabels = this.#namespaces.get(meta.namespace)?.metadata?.labels ?? {};
    const policy = selectPolicy(
      this.#current,
      { namespace: meta.namespace, labels: meta.labels },
      nsLabels,
    );
    if (policy === null) return null;
    // Read now, with the usage: a report shows the labels as they were when it was measured.
    const tags = labelTags(policy.spec.allocation?.tags, meta.labels, nsLabels);
    return {
      policy: { name: policy.name, generation: policy.generation.toString() },
      currency: policy.currency,
      ...(tags === undefined ? {} : { tags }),
    };
  }

  #compiledFor(ref: PricingRef): CompiledPolicy | undefined {
    return this.#compiled.get(`${ref.policy.name}@${ref.policy.generation}`)?.policy;
  }

  priceUsage(
    ref: PricingRef,
    usage: Usage,
    shares: readonly { session: SessionRef | null; usage: Usage }[],
    gpuModel?: string,
  ): PodCost {
    const policy = this.#compiledFor(ref);
    if (policy === undefined) {
      // Retention ran out before the tick settled: refuse to price with newer rates.
      throw new Error(
        `policy ${ref.policy.name} generation ${ref.policy.generation} no longer retained`,
      );
    }
    return podCost(policy, ref, usage, shares, gpuModel);
  }

  priceCall(ref: PricingRef, call: CallUsage): CallPrice {
    const policy = this.#compiledFor(ref);
    if (policy === undefined) {
      throw new Error(
        `policy ${ref.policy.name} generation ${ref.policy.generation} no longer retained`,
      );
    }
    return priceCall(policy.rates, call);
  }

  /** The host pattern the pod's policy prices `host` by: its HTTP client spans there are calls. */
  apiHostFor(meta: PodMeta, host: string): string | null {
    const ref = this.policyFor(meta);
    const policy = ref === null ? undefined : this.#compiledFor(ref);
    return policy === undefined ? null : matchApiHost(policy.rates, host);
  }

  /** The span-attribute allocation tags of the pod's policy: read from each call's span. */
  spanTagsFor(meta: PodMeta): SpanTag[] {
    const ref = this.policyFor(meta);
    const policy = ref === null ? undefined : this.#compiledFor(ref);
    return spanTags(policy?.spec.allocation?.tags);
  }

  /** Token models some policy prices by name: the allowlist for the `model` metric label. */
  pricedModels(): Set<string> {
    const out = new Set<string>();
    for (const policy of this.#current)
      for (const model of policy.rates.tokens.keys()) if (model !== '*') out.add(model);
    return out;
  }
}
