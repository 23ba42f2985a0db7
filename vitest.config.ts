import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{crds,kube-client,node-agent,operator}/src/**/*.test.ts',
            'hack/**/*.test.ts',
            'test/support/**/*.test.ts',
          ],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          // One shared control plane per run: built (or reused from the cache) and started once;
          // the agent and operator bundles the suites run, built once.
          globalSetup: ['test/setup/control-plane.ts', 'test/setup/bundles.ts'],
          // Suites share real cgroups and one apiserver; running files one at a time keeps the
          // CPU measurements of one suite free of another suite's load on these 2-core machines.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
