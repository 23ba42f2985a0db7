// Vitest global setup for the integration project: builds the agent and operator bundles once
// per run, as the images build them, so the suites run what ships rather than the TypeScript
// sources. Each run builds into its own directory: two runs (or worktrees) never share one.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROGRAMS, buildProgram } from '../../hack/build-dist.ts';
import { BUNDLES_ENV } from '../support/shipped.ts';

let dir: string | undefined;

export async function setup(): Promise<void> {
  dir = await mkdtemp(join(tmpdir(), 'agentmeter-bundles-'));
  for (const program of PROGRAMS) {
    try {
      await buildProgram(program, join(dir, program.name));
    } catch (error) {
      throw new Error(`building the ${program.name} bundle failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  // Test workers are forked after global setup and inherit this.
  process.env[BUNDLES_ENV] = dir;
}

export async function teardown(): Promise<void> {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}
