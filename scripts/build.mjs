// Bundles the CLI into dist/fluxer.cjs with esbuild. One CommonJS file because startup is the
// budget (`fluxer --help` within 1.5x of a bare `node -e 0`): Node 20 loads one CJS file several
// times faster than an ESM graph. The AWS SDK and the prompt/spinner libraries stay external and
// are imported only by the commands that use them.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';

/** See scripts/shims/lazy-child-process.cjs. */
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer)
        ? { path: new URL('./shims/lazy-child-process.cjs', import.meta.url).pathname }
        : undefined,
    );
  },
};

/**
 * bin/fluxer runs the bundle from V8's code cache through vm.Script, and in Node 20 an `import()`
 * inside such a script fails ("A dynamic import callback was not specified"). So imports of external
 * packages (the AWS SDK, ora, @inquirer/prompts, ajv) go through `globalThis.__fluxerImport`, which
 * bin/fluxer defines in its own module scope, where import() works. Relative imports stay as they
 * are: esbuild bundles those and loads them lazily. Only value positions are rewritten (after
 * `await `, `[` or `, `); type positions such as `typeof import('node:tty')` are left alone.
 */
const externalImportsThroughBin = {
  name: 'external-imports-through-bin',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replace(/(?<=(?:await |\[|, ))import\((['"])(?![./])/g, 'globalThis.__fluxerImport($1'), loader: 'ts' };
    });
  },
};

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// Only the bundle's own files: dist/runtime/ (scripts/pack-runtime.mjs, prepack) is made before npm's
// prepare step runs this build, and must survive it.
for (const f of ['fluxer.cjs', 'fluxer.cjs.map', 'fluxer.cjs.v8cache']) rmSync(new URL(`../dist/${f}`, import.meta.url), { force: true });
await build({
  entryPoints: { fluxer: 'src/cli/run.ts' },
  outfile: 'dist/fluxer.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // Less to read and deserialize at every start; names are kept so --debug stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  // ajv (~300 KB with its deps) is used only to validate jobs: loaded by generate, never parsed by --help.
  external: ['@aws-sdk/*', '@smithy/*', '@inquirer/*', 'ora', 'ajv', 'ajv/*', 'ajv-formats'],
  // Sources are ESM; in the CJS bundle import.meta is rebuilt from __filename.
  define: {
    'import.meta.url': '__fluxerImportMetaUrl',
    'import.meta.dirname': '__dirname',
    'import.meta.filename': '__filename',
    __FLUXER_VERSION__: JSON.stringify(pkg.version),
  },
  banner: {
    js: "const __fluxerImportMetaUrl = require('node:url').pathToFileURL(__filename).href; globalThis.__fluxerImport ??= (s) => import(s);",
  },
  plugins: [lazyChildProcessForCommander, externalImportsThroughBin],
  logLevel: 'warning',
});

// The local region's process (src/region.ts), started detached by `fluxer local up`: the emulator and
// the node agent. Its own bundle, run with plain `node`: the AWS SDK is required (CommonJS), as bin/fluxer does.
rmSync(new URL('../dist/region.cjs', import.meta.url), { force: true });
await build({
  entryPoints: { region: 'src/region.ts' },
  outfile: 'dist/region.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  external: ['@aws-sdk/*', '@smithy/*'],
  define: { 'import.meta.url': '__fluxerImportMetaUrl', 'import.meta.dirname': '__dirname', 'import.meta.filename': '__filename', __FLUXER_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    js: "const __fluxerImportMetaUrl = require('node:url').pathToFileURL(__filename).href; globalThis.__fluxerImport = (s) => s.startsWith('@aws-sdk/') ? Promise.resolve(require(s)) : import(s);",
  },
  plugins: [externalImportsThroughBin],
  logLevel: 'warning',
});

// V8 code cache for bin/fluxer: compile the bundle, run `--help` in-process so the functions every
// start needs are compiled too, then serialize. Made by the Node that builds, which is the Node that
// runs it after `npm install`; any other Node rejects it and compiles normally.
{
  const { spawnSync } = await import('node:child_process');
  const script = `
    globalThis.__fluxerImport = (s) => import(s);
    const fs = require('node:fs'), vm = require('node:vm'), Module = require('node:module'), path = require('node:path');
    const file = path.resolve('dist/fluxer.cjs');
    const s = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file });
    const mod = new Module(file, module); mod.filename = file; mod.paths = Module._nodeModulePaths(path.dirname(file));
    s.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
    const sink = { write: () => true, isTTY: false };
    mod.exports.main(['--help'], { io: { stdout: sink, stderr: sink, stdin: { isTTY: false } }, env: {}, cwd: process.cwd() })
      .then(() => fs.writeFileSync(file + '.v8cache', s.createCachedData()));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { stdio: 'inherit' });
  if (r.status !== 0) console.warn('build: no V8 code cache made (startup will compile the bundle each time)');
}
