// The argument hash of a tool call span, which the repeated-tool guard compares: the app's own
// `agentmeter.tool.arguments_hash` when it is a lower-case hex sha256, else the sha256 of
// `gen_ai.tool.call.arguments`. Only the hash leaves this module; the arguments are never kept.
import { createHash } from 'node:crypto';
import { ARGS_HASH_PATTERN } from '@agentmeter/crds';
import type { Attributes } from '../otlp/types.ts';

export const ARGS_HASH_KEY = 'agentmeter.tool.arguments_hash';
export const ARGUMENTS_KEY = 'gen_ai.tool.call.arguments';

/** Why a span's hash or arguments were ignored (the call is still counted, without a hash). */
export type ArgsHashProblem = 'hash_malformed' | 'arguments_not_a_string';
export const ARGS_HASH_PROBLEMS: readonly ArgsHashProblem[] = [
  'hash_malformed',
  'arguments_not_a_string',
];

export interface ArgsHashReading {
  readonly argsHash: string | null;
  /** Set when an attribute was present but unusable. */
  readonly problem: ArgsHashProblem | null;
}

export function argsHash(attributes: Attributes): ArgsHashReading {
  const sent = attributes.get(ARGS_HASH_KEY);
  let problem: ArgsHashProblem | null = null;
  if (sent !== undefined) {
    if (typeof sent === 'string' && ARGS_HASH_PATTERN.test(sent)) {
      return { argsHash: sent, problem: null };
    }
    problem = 'hash_malformed';
  }
  const args = attributes.get(ARGUMENTS_KEY);
  if (args === undefined) return { argsHash: null, problem };
  if (typeof args !== 'string') return { argsHash: null, problem: 'arguments_not_a_string' };
  return { argsHash: createHash('sha256').update(args, 'utf8').digest('hex'), problem };
}
