// writeStack: what `fluxer init` and `fluxer local up` use to record a stack.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/lib/errors.js';
import { loadConfig } from '../../src/config/loader.js';
import { writeStack } from '../../src/config/writer.js';

const dir = () => mkdtempSync(join(tmpdir(), 'fluxer-writer-'));

describe('writeStack', () => {
  it('creates the file (and its folder) and the loader reads the stack back', () => {
    const path = join(dir(), 'nested', 'fluxer.config.json');
    const r = writeStack(path, 'local', { region: 'us-east-1', endpointUrl: 'http://127.0.0.1:4566', bucket: 'fluxer-local' });
    expect(r).toMatchObject({ createdFile: true, replacedStack: false, defaultStack: 'local', otherStacks: [] });
    const config = loadConfig({ cwd: '/', env: {}, configFile: path, stack: 'local', flags: {} });
    expect(config.settings.endpointUrl).toBe('http://127.0.0.1:4566');
    expect(config.settings.bucket).toBe('fluxer-local');
  });

  it('keeps other stacks, $schema and the default unless told to change it; leaves no temp file', () => {
    const d = dir();
    const path = join(d, 'fluxer.config.json');
    writeFileSync(path, JSON.stringify({ $schema: './schema.json', defaultStack: 'prod', stacks: { prod: { bucket: 'acme-prod' } } }));
    writeStack(path, 'local', { bucket: 'fluxer-local' });
    let doc = JSON.parse(readFileSync(path, 'utf8'));
    expect(doc).toEqual({ $schema: './schema.json', defaultStack: 'prod', stacks: { prod: { bucket: 'acme-prod' }, local: { bucket: 'fluxer-local' } } });
    const r = writeStack(path, 'local', { bucket: 'fluxer-local-2' }, { setDefault: true });
    expect(r).toMatchObject({ createdFile: false, replacedStack: true, defaultStack: 'local', otherStacks: ['prod'] });
    doc = JSON.parse(readFileSync(path, 'utf8'));
    expect(doc.defaultStack).toBe('local');
    expect(doc.stacks.local).toEqual({ bucket: 'fluxer-local-2' });
    expect(readdirSync(d)).toEqual(['fluxer.config.json']);
  });

  it('setDefault: false never touches defaultStack, even when the file has none', () => {
    const path = join(dir(), 'fluxer.config.json');
    writeFileSync(path, JSON.stringify({ stacks: { prod: { bucket: 'acme-prod' } } }));
    const r = writeStack(path, 'local', { bucket: 'fluxer-local' }, { setDefault: false });
    expect(r.defaultStack).toBeUndefined();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ stacks: { prod: { bucket: 'acme-prod' }, local: { bucket: 'fluxer-local' } } });
  });

  it('refuses a value the loader would refuse, and writes nothing', () => {
    const path = join(dir(), 'fluxer.config.json');
    expect(() => writeStack(path, 'x', { volumeSize: 5 })).toThrow(UsageError);
    expect(() => writeStack(path, 'bad name', { bucket: 'ok-bucket' })).toThrow(/Invalid stack name/);
    expect(existsSync(path)).toBe(false);
  });
});
