// prepack: puts what an installed CLI (npm install -g, npx: no clone) needs from the Python side into
// dist/runtime/, which the package ships:
//   fluxer_runtime-<v>-py3-none-any.whl   the runtime, built here (offline, SOURCE_DATE_EPOCH fixed, so it
//                                         is byte-identical to the wheel `fluxer runtime publish` builds
//                                         from a clone, and gives the same release id)
//   pyproject.toml                        the runtime's declared dependencies (publish's wheelhouse)
//   local-requirements.txt                the pins `fluxer local up` installs: requirements-dev.txt less
//                                         the test tools and the editable runtime
// Python: FLUXER_PYTHON, else the project's .venv, else python3 (it needs pip and setuptools).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'runtime');
const venvPython = join(root, '.venv', 'bin', 'python');
const python = process.env.FLUXER_PYTHON || (existsSync(venvPython) ? venvPython : 'python3');
/** Only what the local stack runs (moto, the runtime and its stack); not the tests' tools. */
const NOT_FOR_LOCAL = /^(-e\s|pytest|ruff|awscli)/;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'fluxer-pack-'));
try {
  // From a copy: setuptools writes build/ into the source, and the schema symlink must be followed.
  const source = join(work, 'src');
  cpSync(join(root, 'gpu-runtime'), source, { recursive: true, dereference: true, filter: (p) => !/(\/tests|\/build|\.egg-info|__pycache__)$/.test(p) });
  execFileSync(python, ['-m', 'pip', 'wheel', '--no-cache-dir', '--no-deps', '--no-build-isolation', '--no-index', '--wheel-dir', out, source], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, SOURCE_DATE_EPOCH: '315532800', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
const wheels = readdirSync(out).filter((f) => f.endsWith('.whl'));
if (wheels.length !== 1) throw new Error(`pack-runtime: expected one wheel in ${out}, found ${wheels.length}`);
cpSync(join(root, 'gpu-runtime', 'pyproject.toml'), join(out, 'pyproject.toml'));
const pins = readFileSync(join(root, 'requirements-dev.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#') && !NOT_FOR_LOCAL.test(l));
writeFileSync(join(out, 'local-requirements.txt'), `# What \`fluxer local up\` installs beside the runtime's wheel (from requirements-dev.txt).\n${pins.join('\n')}\n`);
console.error(`pack-runtime: dist/runtime/${wheels[0]} and ${pins.length} pinned requirements`);
