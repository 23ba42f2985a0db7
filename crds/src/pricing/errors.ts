import { preview } from '../money/errors.ts';
import { ReasonError } from '../reason-error.ts';

export type PolicyCompileReason =
  | 'invalid-rate'
  | 'duplicate-model'
  | 'duplicate-tool'
  | 'duplicate-host'
  | 'invalid-host'
  | 'unknown-currency'
  | 'invalid-priority'
  | 'invalid-selector';

/**
 * A CostPolicy the agent cannot price with. The apiserver's schema refuses all of these, so one
 * reaching the agent means a CRD older than the agent; the agent logs it and skips the policy.
 */
export class PolicyCompileError extends Error {
  override readonly name = 'PolicyCompileError';
  readonly policy: string;
  readonly generation: bigint;
  /** Field path inside the object, e.g. `spec.rates.gpuHour.models[1].rate`. */
  readonly path: string;
  readonly reason: PolicyCompileReason;

  constructor(
    policy: string,
    generation: bigint,
    path: string,
    reason: PolicyCompileReason,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `CostPolicy ${preview(policy)} generation ${generation.toString()}: ${path}: ${detail}`,
      options,
    );
    this.policy = policy;
    this.generation = generation;
    this.path = path;
    this.reason = reason;
  }
}

export type PricingReason = 'shares-mismatch' | 'duplicate-session';

/** Shares that break invariant 1 (they must partition the pod's usage, one per session). */
export class PricingError extends ReasonError<PricingReason> {
  override readonly name = 'PricingError';

  constructor(reason: PricingReason, detail: string) {
    super('pricing', reason, detail);
  }
}

export type ApportionReason =
  'negative-total' | 'negative-weight' | 'duplicate-key' | 'weights-not-whole' | 'zero-weights';

export class ApportionError extends ReasonError<ApportionReason> {
  override readonly name = 'ApportionError';

  constructor(reason: ApportionReason, detail: string) {
    super('apportion', reason, detail);
  }
}
