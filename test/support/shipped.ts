// The command an image runs, pointed at this run's bundles (built by test/setup/bundles.ts):
// the Dockerfile's node flags and environment, and its script inside the bundle directory.
import { join } from 'node:path';
import { imageEnv, nodeEntrypoint } from './dockerfile.ts';

export const BUNDLES_ENV = 'AGENTMETER_TEST_BUNDLES';

const DOCKERFILES = { agent: 'node-agent/Dockerfile', operator: 'operator/Dockerfile' } as const;

export interface Shipped {
  /** The bundle directory, the image's working directory. */
  readonly dir: string;
  /** Node's flags from the ENTRYPOINT. */
  readonly flags: readonly string[];
  /** The ENTRYPOINT's script, absolute. */
  readonly script: string;
  /** The final stage's ENV. */
  readonly env: Readonly<Record<string, string>>;
}

export function shipped(program: keyof typeof DOCKERFILES): Shipped {
  const root = process.env[BUNDLES_ENV];
  if (root === undefined || root === '') {
    throw new Error(
      `${BUNDLES_ENV} is not set: the bundles are built by the integration project's global setup (test/setup/bundles.ts)`,
    );
  }
  const dockerfile = DOCKERFILES[program];
  const { flags, script } = nodeEntrypoint(dockerfile);
  const dir = join(root, program);
  return { dir, flags, script: join(dir, script), env: imageEnv(dockerfile) };
}
