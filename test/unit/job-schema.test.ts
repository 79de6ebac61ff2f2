// The model list and each model's bounds have one source: schema/job.v1.schema.json. The CLI's
// reader derives them from it, config validation and `generate --help` use the reader, and no
// source file restates a model name except through schemaModel(), which checks it against the schema.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODELS, checkField } from '../../src/config/schema.js';
import { MODEL_NAMES, describeModels, modelSpec, modelsWithNegativePrompt, schemaModel } from '../../src/lib/job-schema.js';
import { REPO_ROOT } from '../support/moto.js';

const schemaFile = JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'job.v1.schema.json'), 'utf8')) as {
  properties: { model: { enum: string[] } };
  allOf: Array<{ if: { properties: { model: { const: string } } }; then: { properties: Record<string, { minimum?: number; maximum?: number; default?: unknown }> } }>;
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('the job schema as the CLI reads it', () => {
  it('the model list is the schema\'s enum, and config validation uses it', () => {
    expect(MODEL_NAMES).toEqual(schemaFile.properties.model.enum);
    expect(MODELS).toEqual(schemaFile.properties.model.enum);
    expect(checkField('model', 'sdxl')).toBeUndefined();
    expect(checkField('model', 'sd15')).toMatch(/flux-dev/);
  });

  it('each model\'s bounds are its branch narrowing the field\'s own limits', () => {
    for (const branch of schemaFile.allOf) {
      const model = branch.if.properties.model.const;
      const spec = modelSpec(model)!;
      for (const field of ['width', 'height', 'steps', 'guidance'] as const) {
        const own = branch.then.properties[field]!;
        expect(spec[field]).toMatchObject({ ...(own.maximum !== undefined ? { maximum: own.maximum } : {}), default: own.default });
      }
    }
    expect(modelSpec('flux-schnell')).toMatchObject({ steps: { minimum: 1, maximum: 16, default: 4 }, guidance: { minimum: 0, maximum: 20 }, width: { multipleOf: 16, minimum: 256 }, negativePrompt: false });
    expect(modelSpec('nope')).toBeUndefined();
    expect(modelsWithNegativePrompt()).toEqual(['sdxl', 'tiny']);
  });

  it('generate\'s help lists every model with its schema bounds', () => {
    const rows = describeModels();
    expect(rows).toHaveLength(MODEL_NAMES.length + 1);
    expect(rows.find((r) => r.startsWith('tiny '))).toMatch(/^tiny\s+16-512 \[64x64\]\s+1-50 \[4\]\s+0-20 \[3\.5\]\s+yes$/);
    for (const r of rows) expect(r.length).toBeLessThanOrEqual(78);
  });

  it('a name the code uses is checked against the schema', () => {
    expect(schemaModel('tiny')).toBe('tiny');
    expect(() => schemaModel('flux-pro')).toThrow(/not in schema\/job\.v1\.schema\.json/);
  });

  it('no source file restates a model name as a literal, except through schemaModel()', () => {
    const names = MODEL_NAMES.map((m) => m.replace(/[-]/g, '\\-')).join('|');
    const literal = new RegExp(`(?<!schemaModel\\()(['"\`])(${names})\\1`, 'g');
    const found = sourceFiles(join(REPO_ROOT, 'src')).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, i) => [...line.matchAll(literal)].map((m) => `${file.slice(REPO_ROOT.length + 1)}:${i + 1}: ${m[0]}`)),
    );
    expect(found).toEqual([]);
  });
});
