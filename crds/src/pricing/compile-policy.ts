import type { CostPolicySpec, GpuBasis, TokenPrices } from '../costpolicy/types.ts';
import { isCurrencyCode } from '../money/currencies.ts';
import { parseMoney } from '../money/parse-decimal.ts';
import { API_HOST_RATE_PATTERN } from '../schema/common.ts';
import type { LabelSelector } from '../schema/common-types.ts';
import { PolicyCompileError } from './errors.ts';

/** A CostPolicy as the agent's watch last saw it: name, metadata.generation and spec. */
export interface PolicySnapshot {
  readonly name: string;
  readonly generation: bigint;
  readonly spec: CostPolicySpec;
}

export interface CompiledGpuRates {
  readonly basis: GpuBasis;
  readonly defaultNano: bigint;
  /** GPU model as the driver names it → hourly rate. */
  readonly models: ReadonlyMap<string, bigint>;
}

/** Per-million token prices; cache rates default to the input rate (never silently free). */
export interface CompiledTokenPrices {
  readonly inputPerMillionNano: bigint;
  readonly outputPerMillionNano: bigint;
  readonly cacheReadPerMillionNano: bigint;
  readonly cacheCreationPerMillionNano: bigint;
}

export interface CompiledLongContext extends CompiledTokenPrices {
  /** A call whose effective input is above this is priced at this tier; > 0. */
  readonly aboveInputTokens: bigint;
}

export interface CompiledTokenRate extends CompiledTokenPrices {
  readonly longContext: CompiledLongContext | null;
}

/**
 * Per-call API prices by host: exact hosts, and `*.domain` patterns keyed by the domain (a
 * pattern matches every host strictly under its domain).
 */
export interface CompiledApiRates {
  readonly exact: ReadonlyMap<string, bigint>;
  readonly subdomains: ReadonlyMap<string, bigint>;
}

/** Every rate in nano-units of the policy's currency; an omitted rate is 0n (it costs nothing). */
export interface CompiledRates {
  readonly cpuCoreHourNano: bigint;
  readonly memoryGiBHourNano: bigint;
  /** null when the policy sets no GPU rate. */
  readonly gpuHour: CompiledGpuRates | null;
  readonly ioGiBNano: bigint;
  readonly networkGiBNano: bigint;
  /** Model → rates; the key "*" prices every model not listed. */
  readonly tokens: ReadonlyMap<string, CompiledTokenRate>;
  /** Tool name → price per call; the key "*" prices every tool not listed. */
  readonly tools: ReadonlyMap<string, bigint>;
  readonly apis: CompiledApiRates;
}

/** A policy parsed once when the watch delivers it, so pricing never re-parses strings. */
export interface CompiledPolicy extends PolicySnapshot {
  /** spec.priority with its default (0) applied. */
  readonly priority: number;
  readonly currency: string;
  readonly rates: CompiledRates;
}

const MAX_PRIORITY = 1000;

/**
 * Parses and checks every rate of a policy. Throws PolicyCompileError (with the field path) for
 * an unparsable rate, a duplicate model, tool or host, a malformed API host, an unknown currency, a priority out of range or a
 * malformed selector requirement — all things the CRD schema already refuses.
 */
export function compilePolicy(
  name: string,
  generation: bigint,
  spec: CostPolicySpec,
): CompiledPolicy {
  const fail = (path: string, reason: PolicyCompileError['reason'], detail: string): never => {
    throw new PolicyCompileError(name, generation, path, reason, detail);
  };
  const money = (value: string | undefined, path: string): bigint => {
    if (value === undefined) return 0n;
    try {
      return parseMoney(value);
    } catch (err) {
      throw new PolicyCompileError(
        name,
        generation,
        path,
        'invalid-rate',
        err instanceof Error ? err.message : 'unparsable',
        { cause: err },
      );
    }
  };

  if (!isCurrencyCode(spec.currency)) fail('spec.currency', 'unknown-currency', spec.currency);
  const priority = spec.priority ?? 0;
  if (!Number.isInteger(priority) || priority < 0 || priority > MAX_PRIORITY) {
    fail('spec.priority', 'invalid-priority', `must be an integer 0 to ${MAX_PRIORITY}`);
  }
  checkSelector(spec.selector?.namespaceSelector, 'spec.selector.namespaceSelector', fail);
  checkSelector(spec.selector?.podSelector, 'spec.selector.podSelector', fail);

  const { rates } = spec;
  let gpuHour: CompiledGpuRates | null = null;
  if (rates.gpuHour !== undefined) {
    const models = new Map<string, bigint>();
    (rates.gpuHour.models ?? []).forEach((entry, i) => {
      const path = `spec.rates.gpuHour.models[${i}]`;
      if (models.has(entry.model)) fail(path, 'duplicate-model', `model ${entry.model} repeated`);
      models.set(entry.model, money(entry.rate, `${path}.rate`));
    });
    gpuHour = {
      basis: rates.gpuHour.basis ?? 'Allocation',
      defaultNano: money(rates.gpuHour.default, 'spec.rates.gpuHour.default'),
      models,
    };
  }

  const tokenPrices = (entry: TokenPrices, path: string): CompiledTokenPrices => {
    const input = money(entry.inputPerMillion, `${path}.inputPerMillion`);
    const optional = (value: string | undefined, field: string): bigint =>
      value === undefined ? input : money(value, `${path}.${field}`);
    return {
      inputPerMillionNano: input,
      outputPerMillionNano: money(entry.outputPerMillion, `${path}.outputPerMillion`),
      cacheReadPerMillionNano: optional(entry.cacheReadPerMillion, 'cacheReadPerMillion'),
      cacheCreationPerMillionNano: optional(
        entry.cacheCreationPerMillion,
        'cacheCreationPerMillion',
      ),
    };
  };

  const tokens = new Map<string, CompiledTokenRate>();
  (rates.tokens ?? []).forEach((entry, i) => {
    const path = `spec.rates.tokens[${i}]`;
    if (tokens.has(entry.model)) fail(path, 'duplicate-model', `model ${entry.model} repeated`);
    let longContext: CompiledLongContext | null = null;
    if (entry.longContext !== undefined) {
      const at = `${path}.longContext`;
      const above = entry.longContext.aboveInputTokens;
      if (!Number.isSafeInteger(above) || above <= 0) {
        fail(`${at}.aboveInputTokens`, 'invalid-rate', 'must be an integer greater than zero');
      }
      longContext = { ...tokenPrices(entry.longContext, at), aboveInputTokens: BigInt(above) };
    }
    tokens.set(entry.model, { ...tokenPrices(entry, path), longContext });
  });

  const tools = new Map<string, bigint>();
  (rates.tools ?? []).forEach((entry, i) => {
    const path = `spec.rates.tools[${i}]`;
    if (tools.has(entry.name)) fail(path, 'duplicate-tool', `tool ${entry.name} repeated`);
    tools.set(entry.name, money(entry.perCall, `${path}.perCall`));
  });

  const exact = new Map<string, bigint>();
  const subdomains = new Map<string, bigint>();
  (rates.apis ?? []).forEach((entry, i) => {
    const path = `spec.rates.apis[${i}]`;
    if (!API_RATE_HOST.test(entry.host)) {
      fail(`${path}.host`, 'invalid-host', `${entry.host} is not a DNS name or "*." and one`);
    }
    const wildcard = entry.host.startsWith(SUBDOMAINS);
    const target = wildcard ? subdomains : exact;
    const key = wildcard ? entry.host.slice(SUBDOMAINS.length) : entry.host;
    if (target.has(key)) fail(path, 'duplicate-host', `host ${entry.host} repeated`);
    target.set(key, money(entry.perCall, `${path}.perCall`));
  });

  return {
    name,
    generation,
    spec,
    priority,
    currency: spec.currency,
    rates: {
      cpuCoreHourNano: money(rates.cpuCoreHour, 'spec.rates.cpuCoreHour'),
      memoryGiBHourNano: money(rates.memoryGiBHour, 'spec.rates.memoryGiBHour'),
      gpuHour,
      ioGiBNano: money(rates.ioGiB, 'spec.rates.ioGiB'),
      networkGiBNano: money(rates.networkGiB, 'spec.rates.networkGiB'),
      tokens,
      tools,
      apis: { exact, subdomains },
    },
  };
}

/** The prefix of a host pattern that matches every host under a domain. */
export const SUBDOMAINS = '*.';
const API_RATE_HOST = new RegExp(API_HOST_RATE_PATTERN);

const OPERATORS: ReadonlySet<string> = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

// The rules Kubernetes applies when it turns a LabelSelector into a selector.
function checkSelector(
  selector: LabelSelector | undefined,
  path: string,
  fail: (path: string, reason: 'invalid-selector', detail: string) => never,
): void {
  (selector?.matchExpressions ?? []).forEach((req, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    if (!OPERATORS.has(req.operator)) fail(at, 'invalid-selector', 'unknown operator');
    const count = req.values?.length ?? 0;
    const needsValues = req.operator === 'In' || req.operator === 'NotIn';
    if (needsValues && count === 0) fail(at, 'invalid-selector', `${req.operator} needs values`);
    if (!needsValues && count > 0) fail(at, 'invalid-selector', `${req.operator} takes no values`);
  });
}
