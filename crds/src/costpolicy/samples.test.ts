// The samples are documentation users copy, so they must stay valid as the schema evolves.
// This is the offline check; test/integration/costpolicy-crd.test.ts has the apiserver accept them.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { checkAgainstSchema } from '../schema/check.ts';
import { MONEY_RULE } from '../schema/common.ts';
import { costPolicySchema } from './schema.ts';
import { TIME_ZONES } from './time-zones.ts';
import type { CostPolicy } from './types.ts';

const samplesDir = fileURLToPath(new URL('../../samples/', import.meta.url));
const files = readdirSync(samplesDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

function load(file: string): CostPolicy[] {
  return parseAllDocuments(readFileSync(samplesDir + file, 'utf8')).map((doc) => {
    expect(doc.errors).toEqual([]);
    return doc.toJS() as CostPolicy;
  });
}

describe('crds/samples', () => {
  it('holds the platform default, GPU team and agent platform samples', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'platform-default.yaml',
        'gpu-team.yaml',
        'agent-platform-sessions.yaml',
      ]),
    );
  });

  it.each(files)('%s is a well-formed CostPolicy', (file) => {
    for (const policy of load(file)) {
      expect(policy.apiVersion).toBe('agentmeter.dev/v1alpha1');
      expect(policy.kind).toBe('CostPolicy');
      expect(policy.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(policy.status).toBeUndefined();
      expect(checkAgainstSchema(costPolicySchema, policy)).toEqual([]);
      for (const budget of policy.spec.budgets ?? [])
        expect(TIME_ZONES).toContain(budget.timeZone ?? 'UTC');
    }
  });

  it('covers a monthly Suspend budget and per-session budgets', () => {
    const budgets = files.flatMap(load).flatMap((p) => p.spec.budgets ?? []);
    expect(budgets).toContainEqual(
      expect.objectContaining({ period: 'Monthly', action: 'Suspend' }),
    );
    expect(budgets).toContainEqual(expect.objectContaining({ scope: 'Session' }));
  });

  it('the check catches what the apiserver would refuse', () => {
    const [broken] = load('gpu-team.yaml');
    if (!broken?.spec.budgets) throw new Error('gpu-team.yaml has no budgets');
    broken.spec.currency = 'XYZ';
    broken.spec.rates.cpuCoreHour = '-1';
    Reflect.set(broken.spec, 'budget', []);
    broken.spec.budgets.push(...broken.spec.budgets);
    expect(checkAgainstSchema(costPolicySchema, broken)).toEqual([
      'spec.currency: "XYZ" is not an allowed value',
      `spec.rates.cpuCoreHour: "-1": ${MONEY_RULE.message}`,
      'spec.budgets: duplicate entry ["team-monthly"]',
      'spec.budget: unknown field',
    ]);
  });
});
