// The user-data template language: deliberately tiny, so a template reads as the cloud-config it
// becomes and every failure can point at a line.
//
//   {{ name }}                      a variable; no value → an error naming it and its line
//   {{ name | default "text" }}     a variable with the template's own fallback
//   {{ "text" }}                    literal text: {{ "{{" }} and {{ "}}" }} print braces
//   {{> file }}                     on a line of its own: another file's content, verbatim, every line
//   {{> file | indent 6 }}          indented by the directive's column or by N spaces
//
// Includes keep one source for files the node needs as they are (the runtime's systemd unit):
// they are inserted verbatim, not expanded, so a unit's own syntax never collides with ours.
import { UsageError } from '../../lib/errors.js';

export interface TemplateSource {
  /** How messages name it: "node-bootstrap" or a path. */
  name: string;
  text: string;
}

export interface IncludedFile {
  path: string;
  text: string;
}

export interface RenderInput {
  template: TemplateSource;
  values: ReadonlyMap<string, string>;
  /** Finds an included file by the name written in the directive; undefined when there is none. */
  readInclude: (name: string) => IncludedFile | undefined;
}

export interface VariableUse {
  name: string;
  /** Lines (1-based, in the template) where it appears. */
  lines: number[];
  /** The template's `default` applied because no value was given. */
  usedDefault: boolean;
  defaultValue?: string;
}

export interface MissingVariable {
  name: string;
  line: number;
}

export interface RenderResult {
  text: string;
  variables: VariableUse[];
  missing: MissingVariable[];
  includes: Array<{ name: string; path: string; line: number }>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INCLUDE_LINE = /^(\s*)\{\{>\s*([^\s|}]+)\s*(?:\|\s*indent\s+(\d+)\s*)?\}\}\s*$/;
// A body is quoted strings or other text up to the first }} outside quotes, so "}}" can be quoted too.
const EXPRESSION = /\{\{((?:"[^"]*"|'[^']*'|[^"'}]|\}(?!\}))*)\}\}/g;

export function renderTemplate(input: RenderInput): RenderResult {
  const { template, values } = input;
  const uses = new Map<string, VariableUse>();
  const missing: MissingVariable[] = [];
  const includes: RenderResult['includes'] = [];
  const out: string[] = [];
  const lines = template.text.split('\n');

  lines.forEach((line, index) => {
    const lineNo = index + 1;
    const where = `${template.name} line ${lineNo}`;
    const include = INCLUDE_LINE.exec(line);
    if (include) {
      const [, lead = '', file = '', indentText] = include;
      const found = input.readInclude(file);
      if (!found) {
        throw new UsageError(`${where}: included file "${file}" not found`, {
          code: 'TemplateIncludeMissing',
          hint: 'Includes are looked up beside the template, then in fluxer\'s templates/ folder.',
        });
      }
      includes.push({ name: file, path: found.path, line: lineNo });
      const pad = ' '.repeat(indentText === undefined ? lead.length : Number(indentText));
      const body = found.text.replace(/\r?\n$/, '').split('\n');
      for (const l of body) out.push(l.trim() === '' ? '' : pad + l);
      return;
    }
    if (line.includes('{{>')) {
      throw new UsageError(`${where}: an include ({{> file }}) must stand alone on its line`, { code: 'TemplateSyntax' });
    }
    const rendered = line.replace(EXPRESSION, (_whole, body: string) => {
      const expr = parseExpression(body, where);
      if (expr.kind === 'literal') return expr.text;
      const use = uses.get(expr.name) ?? { name: expr.name, lines: [], usedDefault: false };
      if (!use.lines.includes(lineNo)) use.lines.push(lineNo);
      uses.set(expr.name, use);
      const value = values.get(expr.name);
      if (value !== undefined) return value;
      if (expr.defaultValue !== undefined) {
        use.usedDefault = true;
        use.defaultValue = expr.defaultValue;
        return expr.defaultValue;
      }
      missing.push({ name: expr.name, line: lineNo });
      return '';
    });
    // Left over after every complete {{ }} was replaced: an opening or closing brace pair on its own.
    const rest = line.replace(EXPRESSION, '');
    if (rest.includes('{{') || rest.includes('}}')) {
      throw new UsageError(`${where}: unmatched "${rest.includes('{{') ? '{{' : '}}'}"`, {
        code: 'TemplateSyntax',
        hint: 'Close every {{ with }} on the same line; write {{ "{{" }} and {{ "}}" }} for literal braces.',
      });
    }
    out.push(rendered);
  });

  return { text: out.join('\n'), variables: [...uses.values()], missing, includes };
}

type Expression = { kind: 'variable'; name: string; defaultValue?: string } | { kind: 'literal'; text: string };

function parseExpression(body: string, where: string): Expression {
  const text = body.trim();
  const literal = quoted(text);
  if (literal !== undefined) return { kind: 'literal', text: literal };
  const [head = '', ...filters] = text.split('|').map((s) => s.trim());
  if (!NAME.test(head)) {
    throw new UsageError(`${where}: "{{${body}}}" is not a variable name (letters, digits and _)`, {
      code: 'TemplateSyntax',
      hint: 'Use {{ name }}, {{ name | default "text" }}, {{ "literal" }} or {{> file }}.',
    });
  }
  if (filters.length === 0) return { kind: 'variable', name: head };
  const filter = /^default\s+(.*)$/.exec(filters.join('|'));
  const defaultValue = filter ? quoted(filter[1]!.trim()) : undefined;
  if (defaultValue === undefined) {
    throw new UsageError(`${where}: unknown filter in "{{${body}}}"`, {
      code: 'TemplateSyntax',
      hint: 'The only filter for variables is | default "text".',
    });
  }
  return { kind: 'variable', name: head, defaultValue };
}

function quoted(text: string): string | undefined {
  const m = /^"([^"]*)"$/.exec(text) ?? /^'([^']*)'$/.exec(text);
  return m ? m[1] : undefined;
}
