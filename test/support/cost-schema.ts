// `fluxer cost report --json` documents checked against schema/cost-report.v1.schema.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { expect } from 'vitest';
import { REPO_ROOT } from './moto.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ajv = new ((Ajv2020 as any).default ?? Ajv2020)({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'cost-report.v1.schema.json'), 'utf8')));

export function expectCostReport<T>(doc: T): T {
  const ok = validate(doc) as boolean;
  expect(ok ? [] : (validate.errors ?? []).map((e: { instancePath: string; message?: string }) => `${e.instancePath || '/'} ${e.message}`)).toEqual([]);
  return doc;
}

/** RFC 4180 rows (quoted fields with "" escapes, CRLF), enough to prove a spreadsheet can read the output. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(field), (field = '');
    else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field), rows.push(row), (row = []), (field = ''), i++;
    } else field += ch;
  }
  if (field !== '' || row.length) row.push(field), rows.push(row);
  return rows;
}
