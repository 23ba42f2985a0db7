// What an image runs, read from its Dockerfile, so benchmarks measure the shipped command (node
// flags included) rather than a copy of it that could drift.
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The exec-form ENTRYPOINT of a Dockerfile (path relative to the repository root). */
export function entrypoint(dockerfile: string): string[] {
  const text = readFileSync(join(repoRoot, dockerfile), 'utf8');
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(text)?.[1];
  if (line === undefined) throw new Error(`${dockerfile} has no exec-form ENTRYPOINT`);
  return JSON.parse(line) as string[];
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
  const text = readFileSync(join(repoRoot, dockerfile), 'utf8');
  const final = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const m of final.matchAll(/^ENV (\S+?)=(\S+)$/gm)) env[m[1] as string] = m[2] as string;
  return env;
}
