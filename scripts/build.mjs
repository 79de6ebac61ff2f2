// Bundles the CLI into dist/fluxer.cjs with esbuild. One CommonJS file because startup is the
// budget (`fluxer --help` within 1.5x of a bare `node -e 0`): Node 20 loads one CJS file several
// times faster than an ESM graph. The AWS SDK and the prompt/spinner libraries stay external and
// are imported only by the commands that use them.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { fluxer: 'src/cli/run.ts' },
  outfile: 'dist/fluxer.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  external: ['@aws-sdk/*', '@smithy/*', '@inquirer/*', 'ora'],
  // Sources are ESM; in the CJS bundle import.meta is rebuilt from __filename.
  define: {
    'import.meta.url': '__fluxerImportMetaUrl',
    'import.meta.dirname': '__dirname',
    'import.meta.filename': '__filename',
    __FLUXER_VERSION__: JSON.stringify(pkg.version),
  },
  banner: { js: "const __fluxerImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
