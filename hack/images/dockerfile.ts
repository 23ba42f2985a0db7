// Reads a Dockerfile into the plan that the engine-less image build follows, so the Dockerfile
// stays the one source of truth for the agent and operator images. Only what those Dockerfiles
// use is understood; anything else is refused with its line number rather than built differently
// from what `docker build` would make.
import { posix } from 'node:path';

export class DockerfileError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.file = file;
    this.line = line;
    this.name = 'DockerfileError';
  }
}

export interface Instruction {
  readonly keyword: string;
  /** `--name=value` flags written before the arguments. */
  readonly flags: ReadonlyMap<string, string>;
  readonly args: string;
  readonly line: number;
}

/** A COPY: sources are context paths, or paths in an earlier stage when `fromStage` is set. */
export interface Copy {
  readonly fromStage?: string;
  readonly sources: readonly string[];
  /** Absolute, resolved against the WORKDIR; a trailing '/' means "into this directory". */
  readonly dest: string;
  readonly line: number;
}

export interface BuildStage {
  readonly name: string;
  /** Absolute WORKDIR in which the stage's RUN commands run. */
  readonly workdir: string;
  readonly steps: readonly (
    | { readonly kind: 'copy'; readonly copy: Copy }
    | { readonly kind: 'run'; readonly command: string; readonly line: number }
  )[];
}

/** The base every final stage stands on: the official `node:<version>-<suite>-slim` image. */
export interface NodeBase {
  readonly nodeVersion: string;
  readonly suite: string;
}

export interface FinalStage {
  readonly base: NodeBase;
  readonly env: readonly (readonly [string, string])[];
  readonly workdir: string;
  readonly copies: readonly Copy[];
  readonly user: string;
  readonly exposed: readonly string[];
  readonly entrypoint: readonly string[];
  /** undefined when the stage sets none: an ENTRYPOINT then clears the base image's CMD. */
  readonly cmd?: readonly string[];
}

export interface Plan {
  readonly buildStages: readonly BuildStage[];
  readonly final: FinalStage;
}

/** Splits a Dockerfile into instructions: comments and parser directives dropped, `\` joins lines. */
export function parseInstructions(text: string, file: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let logical = lines[i] ?? '';
    if (/^\s*(#|$)/.test(logical)) continue;
    while (logical.endsWith('\\')) {
      logical = logical.slice(0, -1);
      let next: string | undefined;
      do next = lines[++i];
      while (next !== undefined && /^\s*#/.test(next));
      if (next === undefined)
        throw new DockerfileError(file, start, 'line continuation at end of file');
      logical += next;
    }
    const match = /^\s*(\S+)\s*(.*)$/.exec(logical);
    if (!match) continue;
    let rest = (match[2] ?? '').trim();
    const flags = new Map<string, string>();
    for (
      let flag = /^--([\w-]+)(?:=(\S*))?\s*/.exec(rest);
      flag;
      flag = /^--([\w-]+)(?:=(\S*))?\s*/.exec(rest)
    ) {
      flags.set(flag[1] ?? '', flag[2] ?? '');
      rest = rest.slice(flag[0].length);
    }
    out.push({ keyword: (match[1] ?? '').toUpperCase(), flags, args: rest, line: start });
  }
  return out;
}

/** Reads a Dockerfile's text into a plan, or throws a DockerfileError naming the line it cannot follow. */
export function planDockerfile(text: string, file: string): Plan {
  const fail = (ins: { line: number }, message: string): never => {
    throw new DockerfileError(file, ins.line, message);
  };
  const args = new Map<string, string>();
  const expand = (ins: Instruction, s: string): string =>
    s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => {
      const name = a ?? b ?? '';
      return args.get(name) ?? fail(ins, `$${name} is not a declared ARG with a default`);
    });
  const noFlags = (ins: Instruction, allowed: readonly string[] = []): void => {
    for (const flag of ins.flags.keys()) {
      if (!allowed.includes(flag))
        fail(ins, `${ins.keyword} --${flag} is not supported by the engine-less build`);
    }
  };

  const buildStages: BuildStage[] = [];
  type Draft = {
    from: string;
    name: string;
    line: number;
    workdir: string;
    instructions: Instruction[];
  };
  const drafts: Draft[] = [];
  for (const ins of parseInstructions(text, file)) {
    if (ins.keyword === 'ARG' && drafts.length === 0) {
      noFlags(ins);
      const m = /^(\w+)=(\S+)$/.exec(ins.args) ?? fail(ins, 'ARG before FROM needs NAME=DEFAULT');
      args.set(m[1] ?? '', m[2] ?? '');
    } else if (ins.keyword === 'FROM') {
      noFlags(ins);
      const m =
        /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args) ?? fail(ins, 'FROM IMAGE [AS NAME] expected');
      drafts.push({
        from: expand(ins, m[1] ?? ''),
        name: m[2] ?? String(drafts.length),
        line: ins.line,
        workdir: '/',
        instructions: [],
      });
    } else {
      const current = drafts.at(-1) ?? fail(ins, `${ins.keyword} before the first FROM`);
      current.instructions.push(ins);
    }
  }
  const finalDraft = drafts.at(-1) ?? fail({ line: 1 }, 'no FROM');
  const stageNames = new Set<string>();

  const copyOf = (ins: Instruction, workdir: string, fromAllowed: boolean): Copy => {
    noFlags(ins, fromAllowed ? ['from'] : []);
    const fromStage = ins.flags.get('from');
    if (fromStage !== undefined && !stageNames.has(fromStage))
      fail(ins, `COPY --from=${fromStage} names no earlier stage`);
    if (ins.args.startsWith('[')) fail(ins, 'COPY in JSON form is not supported');
    const words = ins.args.split(/\s+/);
    if (words.length < 2) fail(ins, 'COPY needs a source and a destination');
    if (words.some((w) => /[*?[$]/.test(w)))
      fail(ins, 'COPY with wildcards or variables is not supported');
    const rawDest = words.at(-1) ?? '';
    const sources = words.slice(0, -1);
    const dest =
      posix.resolve(workdir, rawDest) + (rawDest.endsWith('/') || rawDest === '.' ? '/' : '');
    if (sources.length > 1 && !dest.endsWith('/'))
      fail(ins, 'COPY of several sources needs a destination ending in /');
    return {
      ...(fromStage === undefined ? {} : { fromStage }),
      sources,
      dest: dest.replace(/\/+$/, '/'),
      line: ins.line,
    };
  };
  const workdirOf = (ins: Instruction, workdir: string): string => {
    noFlags(ins);
    if (/\s|\$/.test(ins.args) || ins.args === '')
      fail(ins, 'WORKDIR needs one path without variables');
    return posix.resolve(workdir, ins.args);
  };

  for (const draft of drafts.slice(0, -1)) {
    if (draft.from !== finalDraft.from) {
      fail(
        draft,
        `build stage FROM ${draft.from} differs from the final stage's base ${finalDraft.from}: its RUN steps would not run with the same tools`,
      );
    }
    let workdir = '/';
    const steps: BuildStage['steps'][number][] = [];
    for (const ins of draft.instructions) {
      if (ins.keyword === 'WORKDIR') workdir = workdirOf(ins, workdir);
      else if (ins.keyword === 'COPY')
        steps.push({ kind: 'copy', copy: copyOf(ins, workdir, false) });
      else if (ins.keyword === 'RUN') {
        noFlags(ins);
        if (ins.args.startsWith('[')) fail(ins, 'RUN in JSON form is not supported');
        steps.push({ kind: 'run', command: ins.args, line: ins.line });
      } else fail(ins, `${ins.keyword} in a build stage is not supported by the engine-less build`);
    }
    buildStages.push({ name: draft.name, workdir, steps });
    stageNames.add(draft.name);
  }

  // A digest (hack/pin-images.sh adds one) cannot be checked here, with no registry: the version
  // and suite say what the base is made of.
  const base =
    /^node:(\d+\.\d+\.\d+)-(\w+)-slim(@sha256:[0-9a-f]{64})?$/.exec(finalDraft.from) ??
    fail(finalDraft, `final stage base ${finalDraft.from} is not node:<version>-<suite>-slim`);
  const env: [string, string][] = [];
  const copies: Copy[] = [];
  const exposed: string[] = [];
  let workdir = '/';
  let user = '';
  let entrypoint: string[] | undefined;
  let cmd: string[] | undefined;
  const execForm = (ins: Instruction): string[] => {
    noFlags(ins);
    let parsed: unknown;
    try {
      parsed = JSON.parse(ins.args);
    } catch {
      return fail(ins, `${ins.keyword} must be in JSON (exec) form`);
    }
    if (
      !Array.isArray(parsed) ||
      parsed.length === 0 ||
      !parsed.every((w) => typeof w === 'string')
    ) {
      return fail(ins, `${ins.keyword} must be a non-empty JSON array of strings`);
    }
    return parsed as string[];
  };
  for (const ins of finalDraft.instructions) {
    switch (ins.keyword) {
      case 'ENV': {
        noFlags(ins);
        const m =
          /^(\w+)=(\S+)$/.exec(ins.args) ??
          fail(ins, 'ENV KEY=VALUE (one pair, no quotes or spaces) expected');
        env.push([m[1] ?? '', m[2] ?? '']);
        break;
      }
      case 'WORKDIR':
        workdir = workdirOf(ins, workdir);
        break;
      case 'COPY': {
        const copy = copyOf(ins, workdir, true);
        if (copy.fromStage === undefined)
          fail(ins, 'a final-stage COPY must take its files from a build stage (--from)');
        copies.push(copy);
        break;
      }
      case 'USER':
        noFlags(ins);
        if (!/^\d+(:\d+)?$/.test(ins.args))
          fail(ins, 'USER must be numeric UID[:GID]: the base has no user names for them');
        user = ins.args;
        break;
      case 'EXPOSE':
        noFlags(ins);
        for (const port of ins.args.split(/\s+/)) {
          if (!/^\d+(\/(tcp|udp))?$/.test(port)) fail(ins, `EXPOSE ${port} is not PORT[/tcp|udp]`);
          exposed.push(port.includes('/') ? port : `${port}/tcp`);
        }
        break;
      case 'ENTRYPOINT':
        entrypoint = execForm(ins);
        break;
      case 'CMD':
        cmd = execForm(ins);
        break;
      default:
        fail(ins, `${ins.keyword} in the final stage is not supported by the engine-less build`);
    }
  }
  if (entrypoint === undefined) fail(finalDraft, 'the final stage sets no ENTRYPOINT');
  return {
    buildStages,
    final: {
      base: { nodeVersion: base[1] ?? '', suite: base[2] ?? '' },
      env,
      workdir,
      copies,
      user,
      exposed,
      entrypoint: entrypoint ?? [],
      ...(cmd === undefined ? {} : { cmd }),
    },
  };
}

/**
 * Whether a context path is left out by .dockerignore patterns, as Docker reads them: each
 * pattern is a glob relative to the context root (`**` spans directories), a pattern that matches
 * a directory also matches everything under it, `!` re-includes, and the last match wins.
 */
export function isIgnored(path: string, patterns: readonly string[]): boolean {
  let ignored = false;
  const parts = path.split('/');
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = posix.normalize((negate ? raw.slice(1) : raw).trim()).replace(/^\/+/, '');
    for (let n = 1; n <= parts.length; n++) {
      if (posix.matchesGlob(parts.slice(0, n).join('/'), pattern)) {
        ignored = !negate;
        break;
      }
    }
  }
  return ignored;
}

export function parseDockerignore(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
