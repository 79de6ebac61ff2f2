// The job contract, schema/job.v1.schema.json, as the CLI reads it: the model list, each model's
// bounds and defaults, which models take a negative prompt. Nothing here restates the schema; it is
// imported as JSON (the build inlines it into the bundle, so reading it costs no file access at
// startup) and every list and range below is derived from it. The runtime reads the same file.
import schema from '../../schema/job.v1.schema.json' with { type: 'json' };

export interface FieldBounds {
  minimum?: number;
  maximum?: number;
  multipleOf?: number;
  default?: unknown;
}

interface SchemaBranch {
  if?: { properties?: { model?: { const?: string } } };
  then?: { not?: { required?: string[] }; properties?: Record<string, FieldBounds> };
}

export interface JobSchema {
  properties: Record<string, FieldBounds & { enum?: string[] }>;
  allOf?: SchemaBranch[];
}

/** The schema document itself (what ajv compiles). */
export const JOB_SCHEMA: JobSchema = schema as unknown as JobSchema;

/** Every model a job may name, in the schema's order. */
export const MODEL_NAMES: readonly string[] = JOB_SCHEMA.properties.model?.enum ?? [];

/** A model name as the schema spells it; the schema decides which strings are models. */
export type ModelName = string;

const branchOf = (model: string) => (JOB_SCHEMA.allOf ?? []).find((b) => b.if?.properties?.model?.const === model);

export interface ModelSpec {
  name: string;
  width: FieldBounds;
  height: FieldBounds;
  steps: FieldBounds;
  guidance: FieldBounds;
  /** Whether jobs for this model may carry a negative prompt. */
  negativePrompt: boolean;
}

/** A model's bounds: the field's own limits, narrowed by the model's branch. Undefined for an unknown model. */
export function modelSpec(model: string): ModelSpec | undefined {
  if (!MODEL_NAMES.includes(model)) return undefined;
  const branch = branchOf(model)?.then;
  const field = (name: string): FieldBounds => {
    const { enum: _enum, ...base } = JOB_SCHEMA.properties[name] ?? {};
    return { ...base, ...(branch?.properties?.[name] ?? {}) };
  };
  return {
    name: model,
    width: field('width'),
    height: field('height'),
    steps: field('steps'),
    guidance: field('guidance'),
    negativePrompt: !(branch?.not?.required ?? []).includes('negativePrompt'),
  };
}

/** The `default` annotations of the model's branch: width, height, steps, guidance. */
export function modelDefaults(model: string): Record<string, unknown> {
  const props = branchOf(model)?.then?.properties ?? {};
  return Object.fromEntries(Object.entries(props).filter(([, spec]) => spec.default !== undefined).map(([name, spec]) => [name, spec.default]));
}

/** The models that take a negative prompt. */
export const modelsWithNegativePrompt = (): string[] => MODEL_NAMES.filter((m) => modelSpec(m)!.negativePrompt);

/**
 * A name the code itself uses (the built-in tiny model, a pipeline's model): checked against the
 * schema so a renamed or removed model fails here, loudly, instead of producing jobs nobody accepts.
 */
export function schemaModel(name: string): ModelName {
  if (!MODEL_NAMES.includes(name)) throw new Error(`fluxer: model "${name}" is not in schema/job.v1.schema.json (models: ${MODEL_NAMES.join(', ')})`);
  return name;
}

const range = (b: FieldBounds) => `${String(b.minimum ?? '?')}-${String(b.maximum ?? '?')}`;

/** Help rows (header first), aligned: each model's size, steps and guidance ranges as the schema bounds them, defaults in brackets. */
export function describeModels(): string[] {
  const rows = [
    ['MODEL', 'SIZE', 'STEPS', 'GUIDANCE', 'NEGATIVE PROMPT'],
    ...MODEL_NAMES.map((m) => {
      const s = modelSpec(m)!;
      const size = range(s.width) === range(s.height) ? range(s.width) : `${range(s.width)} x ${range(s.height)}`;
      return [
        m,
        `${size} [${String(s.width.default)}x${String(s.height.default)}]`,
        `${range(s.steps)} [${String(s.steps.default)}]`,
        `${range(s.guidance)} [${String(s.guidance.default)}]`,
        s.negativePrompt ? 'yes' : 'no',
      ];
    }),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}
