// Where fluxer's own files live (templates/, schema/, package.json), whether it runs from src/ in
// tests or from the bundled dist/ after a build.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'schema'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('fluxer: cannot find its package root (package.json beside schema/)');
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot();
export const TEMPLATES_DIR = join(PACKAGE_ROOT, 'templates');

// Injected by the build (scripts/build.mjs); read from package.json when running from src/ in tests.
declare const __FLUXER_VERSION__: string | undefined;

let version: string | undefined;
export function fluxerVersion(): string {
  version ??=
    typeof __FLUXER_VERSION__ === 'string'
      ? __FLUXER_VERSION__
      : (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/** The runtime's source in a clone (an installed CLI has none: it ships SHIPPED_RUNTIME_DIR instead). */
export const RUNTIME_SOURCE_DIR = join(PACKAGE_ROOT, 'gpu-runtime');

/**
 * What an installed CLI (npm install -g, npx) carries of the Python side: the runtime's wheel, its
 * pyproject.toml and the local stack's pinned requirements, made by scripts/pack-runtime.mjs when
 * the package is packed. A clone has gpu-runtime/ instead (and this folder only after `npm pack`).
 */
export const SHIPPED_RUNTIME_DIR = join(PACKAGE_ROOT, 'dist', 'runtime');

/** The local region's process (src/region.ts bundled by the build): what `fluxer local up` starts. */
export const REGION_BUNDLE = join(PACKAGE_ROOT, 'dist', 'region.cjs');
