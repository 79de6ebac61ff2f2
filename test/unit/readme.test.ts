// The README documents two tables whose source of truth is code: the exit codes (src/lib/errors.ts)
// and the stack settings (src/config/schema.ts). This keeps the documentation from drifting.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CODE_MEANINGS } from '../../src/lib/errors.js';
import { STACK_FIELDS, STACK_KEYS, type FieldSpec } from '../../src/config/schema.js';
import { REPO_ROOT } from '../support/moto.js';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

function block(name: string): string[] {
  const m = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)<!-- ${name}:end -->`).exec(readme);
  if (!m) throw new Error(`README.md has no ${name} block`);
  return m[1]!.trim().split('\n').slice(2);
}

function formatDefault(spec: FieldSpec): string {
  if (!spec.default) return '—';
  const value = spec.default('<stack>');
  if (Array.isArray(value)) return value.length ? `\`${value.join(',')}\`` : '(none)';
  return `\`${String(value)}\``;
}

describe('README', () => {
  it('lists every exit code with its meaning from src/lib/errors.ts', () => {
    expect(block('exit-codes')).toEqual(EXIT_CODE_MEANINGS.map(([code, meaning]) => `| ${code} | ${meaning} |`));
  });

  it('documents every stack setting with its environment variables and default', () => {
    const expected = STACK_KEYS.map((key) => {
      const spec: FieldSpec = STACK_FIELDS[key];
      const env = (spec.env ?? []).map((e) => `\`${e}\``).join(', ');
      return `| \`${key}\` | ${env} | ${formatDefault(spec)} | ${spec.description} |`;
    });
    expect(block('config-reference')).toEqual(expected);
  });

  it('puts the main job and the test command on its first screen', () => {
    const firstScreen = readme.split('\n').slice(0, 25).join('\n');
    expect(firstScreen).toContain('bash scripts/demo.sh');
    expect(firstScreen).toContain('bash scripts/test.sh');
  });
});
