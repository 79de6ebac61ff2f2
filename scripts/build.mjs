// Bundles the CLI into dist/ with esbuild: one file for startup (so `fluxer --help` loads one
// module, not hundreds), AWS SDK and prompt libraries left external and imported only when used.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { fluxer: 'src/cli/run.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  external: ['@aws-sdk/*', '@smithy/*', '@inquirer/*', 'ora'],
  // commander is CommonJS; inside an ESM bundle its require() of node builtins needs a real require.
  banner: { js: "import { createRequire as __fluxerCreateRequire } from 'node:module'; const require = __fluxerCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
