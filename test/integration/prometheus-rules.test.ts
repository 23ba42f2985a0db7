// The chart's Prometheus rules, as Helm renders them, checked and unit-tested by Debian's
// promtool: syntax and every alert firing and not firing (test/prometheus/rules.test.yaml).
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROMTOOL, renderRules, repoRoot, requirePrometheus, run } from '../prometheus/harness.ts';

const ALERTS = [
  'AgentmeterBudgetWarning',
  'AgentmeterBudgetExceeded',
  'AgentmeterAgentDown',
  'AgentmeterOperatorDown',
  'AgentmeterCollectionLag',
  'AgentmeterChainVerificationFailed',
  'AgentmeterTickErrors',
  'AgentmeterUnattributedShareHigh',
  'AgentmeterUnpricedCalls',
  'AgentmeterSpendAnomaly',
  'AgentmeterGuardTripped',
];

let dir: string;
let rules: string;

beforeAll(async () => {
  requirePrometheus();
  dir = await mkdtemp(join(tmpdir(), 'agentmeter-rules-'));
  rules = await renderRules();
  await writeFile(join(dir, 'rules.yaml'), rules);
  // promtool resolves rule_files next to the test file.
  await copyFile(join(repoRoot, 'test/prometheus/rules.test.yaml'), join(dir, 'rules.test.yaml'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('prometheus rules', () => {
  it('promtool check rules accepts the rendered rules', async () => {
    const res = await run(PROMTOOL, ['check', 'rules', join(dir, 'rules.yaml')]);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
  });

  it('promtool test rules passes: every alert fires and stays quiet where it should', async () => {
    const res = await run(PROMTOOL, ['test', 'rules', join(dir, 'rules.test.yaml')]);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
  });

  it('the unit tests cover every alert the rules define, and the rules define every alert', async () => {
    const groups = (parse(rules) as { groups: { rules: { alert?: string }[] }[] }).groups;
    const defined = groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    expect(defined.sort()).toEqual([...ALERTS].sort());
    const tests = parse(await readFile(join(dir, 'rules.test.yaml'), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of ALERTS) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${alert} fires somewhere`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${alert} is quiet somewhere`,
      ).toBe(true);
    }
  });

  it('thresholds and selectors come from the chart values', async () => {
    const custom = await renderRules([
      'monitoring.prometheusRule.unattributedShareThreshold=0.25',
      'monitoring.prometheusRule.budgetWarningRatio=0.9',
      'monitoring.prometheusRule.collectionLagSeconds=120',
    ]);
    expect(custom).toContain('ratio_rate5m > 0.25');
    expect(custom).toContain('>= 0.9 < 1');
    expect(custom).toContain('agentmeter_operator_collection_lag_seconds > 120');
    expect(custom).toContain('up{job="agentmeter-agent"} == 0');
    expect(custom).not.toContain('%%');
  });

  it("by default AgentmeterAgentDown and AgentmeterOperatorDown select the chart monitors' jobs", async () => {
    // Empty selectors: the PodMonitor's job is <namespace>/<name>, the ServiceMonitor's the Service.
    const defaults = await renderRules([], { testSelectors: false });
    expect(defaults).toContain('up{job="agentmeter/agentmeter-agent"} == 0');
    expect(defaults).toContain('up{job="agentmeter-operator"} == 0');
  });
});
