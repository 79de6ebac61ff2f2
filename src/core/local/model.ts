// What the local workers load: the tiny model on the CPU (no download, no GPU), or a real model
// directory (diffusers layout) on whatever device the runtime finds.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { schemaModel, type ModelName } from '../../lib/job-schema.js';

export interface LocalModel {
  model: ModelName;
  modelDir: string | null;
  /** FLUXER_DEVICE for the runtime: the tiny model stays on the CPU, a real model uses a GPU if any. */
  device: 'cpu' | 'auto';
}

export const TINY_MODEL: LocalModel = { model: schemaModel('tiny'), modelDir: null, device: 'cpu' };

/** `--model tiny` or `--model DIR`. The model name of a directory comes from its model_index.json. */
export function resolveLocalModel(value: string | undefined, cwd: string): LocalModel {
  if (value === undefined || value === TINY_MODEL.model) return TINY_MODEL;
  const dir = resolve(cwd, value);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`--model ${JSON.stringify(value)}: must be "${TINY_MODEL.model}" or a model directory (diffusers layout, with model_index.json)`, {
      hint: 'Try the built-in model first: `fluxer local up --model tiny`.',
    });
  }
  return { model: modelNameOf(dir, value), modelDir: dir, device: 'auto' };
}

function modelNameOf(dir: string, flagValue: string): ModelName {
  const indexPath = join(dir, 'model_index.json');
  let index: { _class_name?: unknown; _name_or_path?: unknown };
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8')) as typeof index;
  } catch {
    throw new UsageError(`--model ${JSON.stringify(flagValue)}: ${indexPath} is missing or not JSON; expected a diffusers model directory`);
  }
  const cls = String(index._class_name ?? '');
  if (cls === 'StableDiffusionXLPipeline') return schemaModel('sdxl');
  if (cls === 'FluxPipeline') {
    // schnell and dev share the pipeline class; the repository name tells them apart.
    const name = `${String(index._name_or_path ?? '')} ${dir}`;
    return /schnell/i.test(name) ? schemaModel('flux-schnell') : schemaModel('flux-dev');
  }
  throw new UsageError(`--model ${JSON.stringify(flagValue)}: pipeline "${cls || 'unknown'}" in ${indexPath} is not one fluxer runs (FluxPipeline, StableDiffusionXLPipeline)`);
}
