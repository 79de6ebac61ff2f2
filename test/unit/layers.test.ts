// The layering of src/ (docs/architecture.md): arrows point down. Every import of every source file
// — static, type-only and dynamic — is checked against the table below, so a lower layer reaching up
// (core importing the terminal layer, a command importing another command) fails here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/moto.js';

const SRC = join(REPO_ROOT, 'src');

type Layer = 'shell' | 'registry' | 'commands' | 'kit' | 'core' | 'aws' | 'config' | 'lib' | 'emulator';

/** src/cli/ holds two layers: the shell that turns argv into one command, and the kit a command is handed. */
const SHELL = new Set(['cli/run.ts', 'cli/main.ts', 'cli/program.ts', 'region.ts']);

function layerOf(file: string): Layer | undefined {
  if (SHELL.has(file)) return 'shell';
  if (file === 'commands/index.ts') return 'registry';
  const top = file.split('/')[0];
  if (top === 'cli') return 'kit';
  if (top === 'commands' || top === 'core' || top === 'aws' || top === 'config' || top === 'lib' || top === 'emulator') return top;
  return undefined;
}

/**
 * What each layer may import, top to bottom: bin → shell → (registry →) commands → kit → core →
 * aws | config → lib. A layer may always import within itself, except commands, where each file
 * stands alone (shared code belongs in core, or in the kit when it is terminal presentation).
 */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  shell: ['shell', 'registry', 'kit', 'core', 'aws', 'config', 'lib', 'emulator'],
  // The registry loads each command lazily (dynamic import) and names the command type.
  registry: ['commands', 'kit'],
  commands: ['kit', 'core', 'aws', 'config', 'lib'],
  kit: ['kit', 'core', 'aws', 'config', 'lib'],
  core: ['core', 'aws', 'config', 'lib'],
  aws: ['aws', 'lib'],
  config: ['config', 'lib'],
  lib: ['lib'],
  // The local region's AWS emulator (what moto lacks): a server of its own, run by src/region.ts.
  emulator: ['emulator', 'lib'],
};

interface Import {
  from: string;
  to: string;
}

/** Broken rules, one line each (paths relative to src/). */
function violations(imports: readonly Import[]): string[] {
  const found: string[] = [];
  for (const { from, to } of imports) {
    const a = layerOf(from);
    const b = layerOf(to);
    if (!a || !b) {
      found.push(`${!a ? from : to}: not in a layer (add its folder to layerOf in test/unit/layers.test.ts and to docs/architecture.md)`);
    } else if (a === 'commands' && b === 'commands') {
      found.push(`${from} imports another command file, ${to}`);
    } else if (!MAY_IMPORT[a].includes(b)) {
      found.push(`${from} (${a}) imports ${to} (${b})`);
    }
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of every file under src/ that lands in src/ (schema JSON and packages are not layers). */
function srcImports(): Import[] {
  return sourceFiles(SRC).flatMap((path) => {
    const info = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
    return info.importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(dirname(path), spec.replace(/\.js$/, '.ts')))
      .filter((target) => target.startsWith(`${SRC}/`))
      .map((target) => ({ from: relative(SRC, path), to: relative(SRC, target) }));
  });
}

describe('layers: arrows point down', () => {
  const imports = srcImports();

  it('finds the imports it checks (static, type-only and dynamic)', () => {
    expect(imports.length).toBeGreaterThan(100);
    expect(imports).toContainEqual({ from: 'commands/index.ts', to: 'commands/generate.ts' });
    expect(imports).toContainEqual({ from: 'cli/command.ts', to: 'cli/context.ts' });
  });

  it('every import in src/ follows the layer table', () => {
    expect(violations(imports)).toEqual([]);
  });

  it('nothing under core/, config/, aws/ or lib/ imports src/cli/', () => {
    const up = imports.filter((i) => /^(core|config|aws|lib)\//.test(i.from) && i.to.startsWith('cli/'));
    expect(up).toEqual([]);
  });

  it('catches what it is for: a lower layer reaching up, a command importing a command, an unplaced folder', () => {
    expect(
      violations([
        { from: 'core/setup.ts', to: 'cli/output.ts' },
        { from: 'lib/errors.ts', to: 'aws/errors.ts' },
        { from: 'commands/generate.ts', to: 'commands/jobs/tail.ts' },
        { from: 'cli/output.ts', to: 'cli/program.ts' },
        { from: 'aws/factory.ts', to: 'config/loader.ts' },
        { from: 'emulator/server.ts', to: 'core/setup.ts' },
        { from: 'sandbox/x.ts', to: 'lib/errors.ts' },
      ]),
    ).toEqual([
      'core/setup.ts (core) imports cli/output.ts (kit)',
      'lib/errors.ts (lib) imports aws/errors.ts (aws)',
      'commands/generate.ts imports another command file, commands/jobs/tail.ts',
      'cli/output.ts (kit) imports cli/program.ts (shell)',
      'aws/factory.ts (aws) imports config/loader.ts (config)',
      'emulator/server.ts (emulator) imports core/setup.ts (core)',
      'sandbox/x.ts: not in a layer (add its folder to layerOf in test/unit/layers.test.ts and to docs/architecture.md)',
    ]);
  });
});
