import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FluxerError } from '../../src/lib/errors.js';
import {
  USER_DATA_LIMIT,
  base64Length,
  decodeBase64File,
  formatWarning,
  gzipDeterministic,
  isGzip,
  largestParts,
} from '../../src/core/userdata/payload.js';
import { renderTemplate, type IncludedFile } from '../../src/core/userdata/template.js';

const UNIT = '[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/true\n';

function render(text: string, values: Record<string, string> = {}, files: Record<string, string> = {}) {
  return renderTemplate({
    template: { name: 't', text },
    values: new Map(Object.entries(values)),
    readInclude: (name): IncludedFile | undefined => (files[name] === undefined ? undefined : { path: `/tpl/${name}`, text: files[name]! }),
  });
}

function usageError(fn: () => unknown): FluxerError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FluxerError);
    expect((err as FluxerError).exitCode).toBe(2);
    return err as FluxerError;
  }
  throw new Error('expected a usage error');
}

describe('renderTemplate', () => {
  it('fills variables, with or without spaces, and records the lines each is used on', () => {
    const r = render('a={{ region }}\nb={{region}}-{{ bucket }}\n', { region: 'eu-west-1', bucket: 'b1' });
    expect(r.text).toBe('a=eu-west-1\nb=eu-west-1-b1\n');
    expect(r.missing).toEqual([]);
    expect(r.variables).toEqual([
      { name: 'region', lines: [1, 2], usedDefault: false },
      { name: 'bucket', lines: [2], usedDefault: false },
    ]);
  });

  it('uses the template\'s default only when no value is given', () => {
    expect(render('p={{ port | default "8787" }}').text).toBe('p=8787');
    expect(render('p={{ port | default "8787" }}', { port: '9000' }).text).toBe('p=9000');
    expect(render("p={{ port | default '' }}").text).toBe('p=');
  });

  it('reports every variable with no value and the line it is on', () => {
    const r = render('#cloud-config\nq={{ queue_url }}\nb={{ bucket }}\nq2={{ queue_url }}\n');
    expect(r.missing).toEqual([
      { name: 'queue_url', line: 2 },
      { name: 'bucket', line: 3 },
      { name: 'queue_url', line: 4 },
    ]);
  });

  it('an empty value is a value (prefix may be empty)', () => {
    expect(render('FLUXER_PREFIX={{ prefix }}', { prefix: '' })).toMatchObject({ text: 'FLUXER_PREFIX=', missing: [] });
  });

  it('a quoted literal prints as is, so braces can be written', () => {
    expect(render('x={{ "{{" }} y {{ "}}" }} {{ v | default "}}" }}').text).toBe('x={{ y }} }}');
  });

  it('includes a file verbatim, indented by the directive\'s column, blank lines left empty', () => {
    const r = render('content: |\n      {{> unit.service }}\nnext: 1\n', {}, { 'unit.service': UNIT });
    expect(r.text).toBe('content: |\n      [Unit]\n      Description=x\n\n      [Service]\n      ExecStart=/bin/true\nnext: 1\n');
    expect(r.includes).toEqual([{ name: 'unit.service', path: '/tpl/unit.service', line: 2 }]);
  });

  it('includes with an explicit indent, and never expands {{ }} inside the included file', () => {
    expect(render('{{> f | indent 2 }}', {}, { f: 'a={{ x }}\nb' }).text).toBe('  a={{ x }}\n  b');
  });

  it('a missing include names the file and the line', () => {
    const e = usageError(() => render('x\n  {{> nope.service }}\n'));
    expect(e.message).toBe('t line 2: included file "nope.service" not found');
  });

  it('syntax errors name the line: bad names, unknown filters, unmatched braces, inline includes', () => {
    expect(usageError(() => render('ok\n{{ 9lives }}')).message).toMatch(/^t line 2: .*not a variable name/);
    expect(usageError(() => render('{{ a | upper }}')).message).toMatch(/^t line 1: unknown filter/);
    expect(usageError(() => render('a\nb\nx={{ a ')).message).toBe('t line 3: unmatched "{{"');
    expect(usageError(() => render('x= a }}')).message).toBe('t line 1: unmatched "}}"');
    expect(usageError(() => render('a: {{> f }}', {}, { f: 'x' })).message).toMatch(/^t line 1: an include/);
  });
});

describe('user data payload', () => {
  const script = Buffer.from(`#cloud-config\n${'runcmd:\n'}${'  - [echo, hello world]\n'.repeat(2000)}`);

  it('gzip is deterministic and marked as written on Unix, and gunzips to the input', () => {
    const a = gzipDeterministic(script);
    const b = gzipDeterministic(Buffer.from(script));
    expect(a.equals(b)).toBe(true);
    expect(isGzip(a)).toBe(true);
    expect(a.readUInt32LE(4)).toBe(0); // mtime
    expect(a[3]).toBe(0); // flags: no file name, no comment
    expect(a[9]).toBe(3); // OS: Unix, whichever OS ran it
    expect(gunzipSync(a).equals(script)).toBe(true);
  });

  it('base64 length is what EC2 receives', () => {
    expect(base64Length(USER_DATA_LIMIT)).toBe(Buffer.alloc(USER_DATA_LIMIT).toString('base64').length);
    expect(base64Length(1)).toBe(4);
  });

  it('decodes a whole-file base64 payload, and leaves other text alone', () => {
    const gz = gzipDeterministic(script);
    expect(decodeBase64File(Buffer.from(`${gz.toString('base64')}\n`))?.equals(gz)).toBe(true);
    expect(decodeBase64File(Buffer.from('#cloud-config\nruncmd: []\n'))).toBeUndefined();
  });

  it('warns when cloud-init would not recognise the format', () => {
    expect(formatWarning('#cloud-config\n')).toBeUndefined();
    expect(formatWarning('#!/bin/bash\necho hi')).toBeUndefined();
    expect(formatWarning('write_files: []')).toMatch(/cloud-init does not recognise/);
  });

  it('names the largest write_files entries and sections of a cloud-config', () => {
    const text = [
      '#cloud-config',
      'write_files:',
      '  - path: /small',
      '    content: x',
      '  - path: /big',
      '    content: |',
      ...Array.from({ length: 50 }, () => '      0123456789abcdef'),
      'runcmd:',
      '  - [true]',
    ].join('\n');
    const parts = largestParts(text, 2);
    expect(parts.map((p) => [p.label, p.firstLine, p.lastLine])).toEqual([
      ['write_files /big', 5, 56],
      ['write_files /small', 3, 4],
    ]);
    expect(parts[0]!.bytes).toBeGreaterThan(50 * 22);
  });

  it('falls back to the longest lines for other scripts', () => {
    expect(largestParts('#!/bin/sh\necho short\necho a much much longer line\n', 1)[0]).toMatchObject({ label: 'line 3' });
  });
});
