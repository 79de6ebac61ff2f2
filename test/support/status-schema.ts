// Every status document a test reads back is checked against schema/status.v1.schema.json, the
// contract the runtime and the CLI share (the same ajv the CLI validates jobs with).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { expect } from 'vitest';
import { REPO_ROOT } from './moto.js';

const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'status.v1.schema.json'), 'utf8')) as object;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ajv = new ((Ajv2020 as any).default ?? Ajv2020)({ allErrors: true, strict: false });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
((addFormats as any).default ?? addFormats)(ajv);
const validate = ajv.compile(schema);

/** Fails the test, naming each violation, when doc is not a valid status.v1 document; returns doc. */
export function expectStatusDoc<T>(doc: T): T {
  const ok = validate(doc) as boolean;
  expect(ok ? [] : (validate.errors ?? []).map((e: { instancePath: string; message?: string }) => `${e.instancePath || '/'} ${e.message}`), JSON.stringify(doc)).toEqual([]);
  return doc;
}
