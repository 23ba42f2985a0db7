// What an image runs, read from its Dockerfile through the reader the engine-less image build
// follows, so benchmarks and integration suites run the shipped command (node flags included)
// rather than a copy of it that could drift.
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planDockerfile, type FinalStage } from '../../hack/images/dockerfile.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function finalStage(dockerfile: string): FinalStage {
  return planDockerfile(readFileSync(join(repoRoot, dockerfile), 'utf8'), dockerfile).final;
}

/** The exec-form ENTRYPOINT of a Dockerfile (path relative to the repository root). */
export function entrypoint(dockerfile: string): string[] {
  return [...finalStage(dockerfile).entrypoint];
}

/** The node flags and the script of a `node [flags] script` ENTRYPOINT. */
export function nodeEntrypoint(dockerfile: string): { flags: string[]; script: string } {
  const [node, ...rest] = entrypoint(dockerfile);
  const script = rest.at(-1);
  if (node !== 'node' || script === undefined) {
    throw new Error(`${dockerfile}: ENTRYPOINT is not "node [flags] script"`);
  }
  return { flags: rest.slice(0, -1), script };
}

/** The final stage's `ENV KEY=VALUE` settings, which the image's process runs with. */
export function imageEnv(dockerfile: string): Record<string, string> {
  return Object.fromEntries(finalStage(dockerfile).env);
}
