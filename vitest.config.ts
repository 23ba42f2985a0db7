import { defineConfig } from 'vitest/config';
import { ClusterTeardownLastSequencer } from './test/setup/sequencer.ts';

/** What the control-plane projects (`integration`, `integration-postgres`) share. */
const CONTROL_PLANE_SUITES = {
  environment: 'node',
  // One shared control plane per run: built (or reused from the cache) and started once; the
  // agent and operator bundles the suites run, built once. Killed runs' cgroups are swept first.
  globalSetup: [
    'test/setup/stale-cgroups.ts',
    'test/setup/control-plane.ts',
    'test/setup/bundles.ts',
  ],
  // Suites share real cgroups and one apiserver; running files one at a time keeps the CPU
  // measurements of one suite free of another suite's load on these 2-core machines.
  fileParallelism: false,
  testTimeout: 180_000,
  hookTimeout: 180_000,
};

export default defineConfig({
  test: {
    sequence: { sequencer: ClusterTeardownLastSequencer },
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{crds,kube-client,node-agent,operator}/src/**/*.test.ts',
            'hack/**/*.test.ts',
            'test/apps/*/src/**/*.test.ts',
            'test/support/**/*.test.ts',
          ],
          environment: 'node',
          // Property and crash tests run for seconds; on a busy 2-core CI machine vitest's 5 s
          // default would fail them on load alone (tests never assert on wall-clock time).
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          ...CONTROL_PLANE_SUITES,
        },
      },
      {
        test: {
          name: 'integration-postgres',
          // The operator suites (exactly once across two replicas, kill -9 failover and
          // restarts, outages, guards) again with the operators' store on PostgreSQL;
          // `integration` runs them on the embedded store (test/support/store-engine.ts).
          include: [
            'test/integration/operator.test.ts',
            'test/integration/operator-faults.test.ts',
            'test/integration/operator-guards.test.ts',
          ],
          env: { AGENTMETER_TEST_STORE: 'postgres' },
          ...CONTROL_PLANE_SUITES,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          environment: 'node',
          // One real node (kubelet, containerd, runc, CNI) with the chart installed, started once
          // per run; needs root. Its teardown suite runs last (test/setup/sequencer.ts).
          globalSetup: ['test/setup/real-node.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
