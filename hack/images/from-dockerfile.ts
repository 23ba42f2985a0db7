// Builds an image the way its Dockerfile says, without a container engine: build stages run on
// this machine in a staging directory (the same Node version as the image's base), and the final
// stage becomes layers over a base root filesystem (Debian packages and Node from the npm
// registry, assembled by hack/build-images.sh) written by mkimage. Used by hack/build-images.sh:
//
//   node hack/images/from-dockerfile.ts base DOCKERFILE   -> "NODE_VERSION SUITE"
//   node hack/images/from-dockerfile.ts key DOCKERFILE    -> a hash of everything the image is built from
//   node hack/images/from-dockerfile.ts build DOCKERFILE BASE_DIR MKIMAGE REF OUT WORK_DIR
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DockerfileError,
  isIgnored,
  parseDockerignore,
  planDockerfile,
  type Copy,
  type Plan,
} from './dockerfile.ts';

const here = dirname(fileURLToPath(import.meta.url));
/** The image's PATH, as the node base image sets it. */
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Context {
  readonly dir: string;
  readonly ignore: readonly string[];
}

/** The build context: the repository root, as the Dockerfiles' build commands say. */
export const REPO_ROOT = resolve(here, '../..');

export function readPlan(dockerfile: string, dir = REPO_ROOT): { plan: Plan; context: Context } {
  const plan = planDockerfile(readFileSync(dockerfile, 'utf8'), dockerfile);
  const ignoreFile = join(dir, '.dockerignore');
  const ignore = existsSync(ignoreFile) ? parseDockerignore(readFileSync(ignoreFile, 'utf8')) : [];
  return { plan, context: { dir, ignore } };
}

/** The context files one COPY source brings in, after .dockerignore; fails as Docker does when none. */
export function contextFiles(
  context: Context,
  source: string,
  copy: Copy,
  dockerfile: string,
): string[] {
  const rel = posix.normalize(source).replace(/^\/+|\/+$/g, '');
  const found: string[] = [];
  const walk = (p: string): void => {
    if (isIgnored(p, context.ignore)) return;
    const full = join(context.dir, p);
    const st = lstatSync(full);
    if (st.isDirectory()) for (const e of readdirSync(full).sort()) walk(posix.join(p, e));
    else found.push(p);
  };
  if (existsSync(join(context.dir, rel))) walk(rel);
  if (found.length === 0) {
    throw new DockerfileError(
      dockerfile,
      copy.line,
      `COPY ${source}: not found in the build context (or excluded by .dockerignore)`,
    );
  }
  return found;
}

/** The config mkimage writes: the base image's PATH and NODE_VERSION, then the stage's own. */
function imageConfig(plan: Plan): {
  env: string[];
  entrypoint: readonly string[];
  cmd?: readonly string[];
  user: string;
  workdir: string;
  exposed: readonly string[];
} {
  const { final } = plan;
  return {
    env: [
      `PATH=${BASE_PATH}`,
      `NODE_VERSION=${final.base.nodeVersion}`,
      ...final.env.map(([k, v]) => `${k}=${v}`),
    ],
    entrypoint: final.entrypoint,
    ...(final.cmd === undefined ? {} : { cmd: final.cmd }),
    user: final.user,
    workdir: final.workdir,
    exposed: final.exposed,
  };
}

function key(dockerfile: string): string {
  const { plan, context } = readPlan(dockerfile);
  const hash = createHash('sha256');
  const add = (label: string, data: string | Buffer): void => {
    hash.update(`${label}\0${data.length}\0`);
    hash.update(data);
  };
  add('dockerfile', readFileSync(dockerfile));
  add('dockerignore', context.ignore.join('\n'));
  for (const source of ['dockerfile.ts', 'from-dockerfile.ts'])
    add(source, readFileSync(join(here, source)));
  for (const stage of plan.buildStages) {
    for (const step of stage.steps) {
      if (step.kind !== 'copy') continue;
      for (const source of step.copy.sources) {
        for (const f of contextFiles(context, source, step.copy, dockerfile)) {
          add(
            `${f} ${statSync(join(context.dir, f)).mode.toString(8)}`,
            readFileSync(join(context.dir, f)),
          );
        }
      }
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/** Copies one source to a destination as COPY does: a directory's contents, or a file into a directory. */
function copyInto(from: string, dest: string): void {
  if (statSync(from).isDirectory()) {
    cpSync(from, dest, { recursive: true, verbatimSymlinks: true });
  } else {
    const target = dest.endsWith('/') ? join(dest, basename(from)) : dest;
    mkdirSync(dirname(target), { recursive: true });
    cpSync(from, target);
  }
}

export interface BuildOptions {
  readonly dockerfile: string;
  /** The base root filesystem (node:<version>-<suite>-slim as a directory). */
  readonly baseDir: string;
  readonly mkimage: string;
  readonly ref: string;
  readonly out: string;
  /** An empty directory for the stages and layers. */
  readonly work: string;
  readonly contextDir?: string;
}

export function build({
  dockerfile,
  baseDir,
  mkimage,
  ref,
  out,
  work,
  contextDir,
}: BuildOptions): void {
  const { plan, context } = readPlan(dockerfile, contextDir);
  const { nodeVersion } = plan.final.base;
  if (plan.buildStages.length > 0 && process.versions.node !== nodeVersion) {
    throw new DockerfileError(
      dockerfile,
      1,
      `build stages run on this machine's Node ${process.versions.node}, but the base image is Node ${nodeVersion}`,
    );
  }
  const stageRoots = new Map<string, string>();
  for (const stage of plan.buildStages) {
    const root = join(work, `stage-${stage.name}`);
    mkdirSync(join(root, stage.workdir), { recursive: true });
    for (const step of stage.steps) {
      if (step.kind === 'copy') {
        for (const source of step.copy.sources) {
          for (const f of contextFiles(context, source, step.copy, dockerfile)) {
            const under = relative(posix.normalize(source), f);
            copyInto(join(context.dir, f), join(root, step.copy.dest, under));
          }
        }
      } else {
        process.stderr.write(`[images] ${stage.name}: RUN ${step.command}\n`);
        execFileSync('sh', ['-c', step.command], {
          cwd: join(root, stage.workdir),
          stdio: ['ignore', process.stderr, process.stderr],
        });
      }
    }
    stageRoots.set(stage.name, root);
  }
  const layers = [baseDir];
  plan.final.copies.forEach((copy, i) => {
    const layer = join(work, `layer-${i}`);
    for (const source of copy.sources) {
      const from = join(stageRoots.get(copy.fromStage ?? '') ?? '', source);
      if (!existsSync(from))
        throw new DockerfileError(
          dockerfile,
          copy.line,
          `COPY --from=${copy.fromStage} ${source}: the build stage did not make it`,
        );
      copyInto(from, join(layer, copy.dest));
    }
    layers.push(layer);
  });
  const config = imageConfig(plan);
  const args = [
    '--ref',
    ref,
    '--out',
    out,
    ...layers.flatMap((l) => ['--layer', l]),
    '--entrypoint',
    JSON.stringify(config.entrypoint),
  ];
  if (config.cmd) args.push('--cmd', JSON.stringify(config.cmd));
  for (const e of config.env) args.push('--env', e);
  if (config.user !== '') args.push('--user', config.user);
  if (config.workdir !== '/') args.push('--workdir', config.workdir);
  for (const p of config.exposed) args.push('--expose', p);
  execFileSync(mkimage, args, { stdio: ['ignore', process.stderr, process.stderr] });
}

const [command, ...rest] = process.argv.slice(2);
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    if (command === 'base' && rest.length === 1) {
      const { nodeVersion, suite } = readPlan(rest[0] ?? '').plan.final.base;
      console.log(`${nodeVersion} ${suite}`);
    } else if (command === 'key' && rest.length === 1) {
      console.log(key(rest[0] ?? ''));
    } else if (command === 'build' && rest.length === 6) {
      const [dockerfile, baseDir, mkimage, ref, out, work] = rest as [
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      build({ dockerfile, baseDir, mkimage, ref, out, work });
    } else {
      throw new Error(
        'usage: from-dockerfile.ts base|key DOCKERFILE, or build DOCKERFILE BASE_DIR MKIMAGE REF OUT WORK_DIR',
      );
    }
  } catch (err) {
    console.error(`[images] ERROR: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
