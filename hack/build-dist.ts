// Builds what the images run: one minified ESM bundle per program under dist/, with the
// .proto files the agent loads at run time beside it. A bundle needs no node_modules, starts
// without Node's TypeScript stripping (~17 MiB of RSS), and leaves out the modules the program
// never reaches. Lazily imported modules (GPU metering, kubeconfig YAML) stay in their own
// chunks and cost nothing until used.
// Run: node hack/build-dist.ts [agent|operator ...]   (default: all)
import { cp, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Program {
  readonly name: string;
  readonly entryPoints: Record<string, string>;
  /** Directories copied into the bundle directory, keeping their base names. */
  readonly assets: readonly { from: string; to: string }[];
  /** Modules the program never uses, left out of its bundle. */
  readonly leftOut?: readonly LeftOut[];
}

/**
 * Modules a program never uses (or uses a small part of), replaced in its bundle by a stand-in:
 * - `throw-on-require` (the default): throws when it is required, for modules their importer
 *   requires only when it is about to use them;
 * - `data-subset`: for a module that exports plain data, that data with only the listed
 *   top-level members, as JSON.
 */
export interface LeftOut {
  /** Specifiers as the importer writes them. */
  readonly specifier: RegExp;
  /** The packages whose modules import them; no other package's imports are touched. */
  readonly importerPackages: readonly string[];
  /** Why the program does without it, quoted by the error. */
  readonly reason: string;
  readonly standIn?: StandIn;
}

export type StandIn =
  | { readonly kind: 'throw-on-require' }
  | { readonly kind: 'data-subset'; readonly keep: readonly string[] };

export const PROGRAMS: readonly Program[] = [
  {
    name: 'agent',
    entryPoints: { main: 'node-agent/src/main.ts' },
    // Each measured with the agent's flags as heap in use after a full GC, beside express and
    // prom-client loaded whole.
    leftOut: [
      {
        // express's JSON parser decodes bodies through iconv-lite, which loads a multi-byte
        // charset's table only when asked for that charset: 0.4 MB of bundle text on the heap.
        specifier: /^\.\/tables\/[\w-]+\.json$/,
        importerPackages: ['iconv-lite'],
        reason: 'the agent accepts JSON bodies in UTF-8, UTF-16 and UTF-32 only',
      },
      {
        // mime-types turns all of mime-db into lookup tables at load (~0.55 MB of heap); the
        // agent sends only these types, and those express picks by extension (html, txt, bin).
        specifier: /^mime-db$/,
        importerPackages: ['mime-types'],
        reason: 'the agent sends JSON, plain text, HTML error pages and bytes only',
        standIn: {
          kind: 'data-subset',
          keep: ['application/json', 'application/octet-stream', 'text/html', 'text/plain'],
        },
      },
    ],
    assets: [
      { from: 'node-agent/src/otlp/proto', to: 'proto' },
      { from: 'node-agent/src/gpu/proto', to: 'proto' },
    ],
  },
  {
    name: 'operator',
    entryPoints: { main: 'operator/src/main.ts', cli: 'operator/src/cli/main.ts' },
    assets: [],
  },
];

export function program(name: string): Program {
  const found = PROGRAMS.find((p) => p.name === name);
  if (found === undefined) {
    throw new Error(`unknown program ${name}; known: ${PROGRAMS.map((p) => p.name).join(', ')}`);
  }
  return found;
}

/**
 * Node 24 reads every property of a builtin module to build its ESM namespace, and node:http's
 * WebSocket, CloseEvent and MessageEvent getters load Node's bundled undici: `import 'node:http'`
 * costs ~13 MiB of RSS more than `require('node:http')` (measured with process.memoryUsage()
 * after each). In a bundle, node:http is therefore taken through require().
 */
const httpThroughRequire: Plugin = {
  name: 'node-http-through-require',
  setup(plugin) {
    plugin.onResolve({ filter: /^(node:)?http$/ }, (args) =>
      args.kind === 'import-statement' || args.kind === 'dynamic-import'
        ? { path: 'node:http', namespace: 'http-through-require' }
        : undefined,
    );
    plugin.onLoad({ filter: /.*/, namespace: 'http-through-require' }, () => {
      const http = createRequire(import.meta.url)('node:http') as object;
      const plain = Object.entries(Object.getOwnPropertyDescriptors(http))
        .filter(([, descriptor]) => 'value' in descriptor)
        .map(([name]) => name);
      return {
        contents:
          "const http = require('node:http');\nexport default http;\n" +
          `export const { ${plain.join(', ')} } = http;\n`,
        loader: 'js',
      };
    });
  },
};

/** Replaces the modules a program never uses with stand-ins that fail with a clear error. */
function leaveOut(modules: readonly LeftOut[]): Plugin {
  return {
    name: 'leave-out-unused-modules',
    setup(plugin) {
      modules.forEach((module, index) => {
        plugin.onResolve({ filter: module.specifier }, (args) =>
          module.importerPackages.some((name) => args.importer.includes(`/node_modules/${name}/`))
            ? {
                path: `${index}:${args.path}`,
                namespace: 'left-out',
                pluginData: { importer: args.importer },
              }
            : undefined,
        );
      });
      plugin.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => {
        const colon = args.path.indexOf(':');
        const module = modules[Number(args.path.slice(0, colon))] as LeftOut;
        const specifier = args.path.slice(colon + 1);
        const message = `${specifier} (imported by ${module.importerPackages.join(', ')}) is not in this bundle: ${module.reason}`;
        const standIn = module.standIn ?? { kind: 'throw-on-require' };
        switch (standIn.kind) {
          case 'throw-on-require':
            return { contents: `throw new Error(${JSON.stringify(message)});\n`, loader: 'js' };
          case 'data-subset': {
            // Resolved from the importer that reached it first: all of them share one copy.
            const { importer } = args.pluginData as { importer: string };
            const all = createRequire(importer)(specifier) as Record<string, unknown>;
            const missing = standIn.keep.filter((key) => !Object.hasOwn(all, key));
            if (missing.length > 0) throw new Error(`${specifier} has no ${missing.join(', ')}`);
            const kept = Object.fromEntries(standIn.keep.map((key) => [key, all[key]]));
            return { contents: JSON.stringify(kept), loader: 'json' };
          }
        }
      });
    },
  };
}

/** Where a program's bundle lands; its entry points are `<dir>/<entry>.js`. */
export function distDir(name: string): string {
  return join(repoRoot, 'dist', name);
}

export async function buildProgram(
  program: Program,
  outdir = distDir(program.name),
): Promise<Metafile> {
  const metafile = await bundle(program.entryPoints, outdir, program.leftOut ?? []);
  for (const asset of program.assets) {
    await mkdir(join(outdir, asset.to), { recursive: true });
    await cp(join(repoRoot, asset.from), join(outdir, asset.to), { recursive: true });
  }
  return metafile;
}

/** Any script bundled as the images' programs are, so a benchmark can run its measured side the
 * way the image runs: `<outdir>/<name>.js`. */
export async function bundle(
  entryPoints: Record<string, string>,
  outdir: string,
  leftOut: readonly LeftOut[] = [],
): Promise<Metafile> {
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    minify: true,
    // Class and function names stay, so logged errors keep their type (KubeConfigError, …).
    keepNames: true,
    sourcemap: 'linked',
    metafile: true,
    plugins: [httpThroughRequire, leaveOut(leftOut)],
    // Only a benchmark that rebuilds bundles reaches esbuild; it runs from the checkout.
    external: ['esbuild'],
    logLevel: 'warning',
    // CommonJS dependencies call require(); an ESM bundle has to provide it.
    banner: {
      js: "import{createRequire as __amCreateRequire}from'node:module';const require=__amCreateRequire(import.meta.url);",
    },
  });
  return result.metafile;
}

function summary(name: string, metafile: Metafile): string {
  const lines = Object.entries(metafile.outputs)
    .filter(([file]) => file.endsWith('.js'))
    .map(([file, out]) => `  ${relative(repoRoot, file)}: ${(out.bytes / 1024).toFixed(0)} KiB`);
  return `${name}\n${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !PROGRAMS.some((p) => p.name === w));
  if (unknown.length > 0) {
    process.stderr.write(`unknown program(s): ${unknown.join(', ')}; known: agent, operator\n`);
    process.exit(2);
  }
  for (const program of PROGRAMS) {
    if (wanted.length > 0 && !wanted.includes(program.name)) continue;
    process.stdout.write(summary(program.name, await buildProgram(program)));
  }
}

// By name, not import.meta.url: bundled into a benchmark, this module shares the bundle's URL.
if (
  process.argv[1] !== undefined &&
  resolve(process.argv[1]).endsWith(join('hack', 'build-dist.ts'))
)
  await main();
