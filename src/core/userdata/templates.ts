// Where templates come from: a name (templates/<name>.yaml, shipped with fluxer) or a file path.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import type { IncludedFile, TemplateSource } from './template.js';

export interface ResolvedTemplate extends TemplateSource {
  /** Absolute path of the file read. */
  path: string;
}

const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const TEMPLATE_EXT = /\.(ya?ml|sh|txt|cfg|tmpl)$/;

export function listTemplateNames(templatesDir: string): string[] {
  if (!existsSync(templatesDir)) return [];
  return readdirSync(templatesDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/**
 * `ref` is a file when it looks like a path (has a slash or a file extension) or names an existing
 * file; otherwise it is the name of a bundled template. `refLabel` says where it came from
 * ("--template", "config template (file ...)") so the error points at what to change.
 */
export function resolveTemplate(ref: string, opts: { templatesDir: string; cwd: string; refLabel: string }): ResolvedTemplate {
  const asPath = isAbsolute(ref) ? ref : resolve(opts.cwd, ref);
  const looksLikePath = ref.includes('/') || ref.includes('\\') || TEMPLATE_EXT.test(ref);
  if (looksLikePath || (existsSync(asPath) && statSync(asPath).isFile())) {
    if (!existsSync(asPath) || !statSync(asPath).isFile()) {
      throw new UsageError(`${opts.refLabel} ${JSON.stringify(ref)}: no such file (${asPath})`, {
        code: 'TemplateNotFound',
        hint: `Give an existing file, or a bundled template name: ${namesOrNone(opts.templatesDir)}.`,
      });
    }
    return { name: ref, path: asPath, text: readFileSync(asPath, 'utf8') };
  }
  const path = join(opts.templatesDir, `${ref}.yaml`);
  if (!TEMPLATE_NAME.test(ref) || !existsSync(path)) {
    throw new UsageError(`${opts.refLabel} ${JSON.stringify(ref)}: no such template; available: ${namesOrNone(opts.templatesDir)}`, {
      code: 'TemplateNotFound',
      hint: 'Pass a bundled name (e.g. --template node-bootstrap) or a file path (e.g. --template ./my-node.yaml).',
    });
  }
  return { name: ref, path, text: readFileSync(path, 'utf8') };
}

/** Includes are looked up beside the template first, then among fluxer's bundled templates, so a
 * copied and edited template still gets the shipped systemd unit. */
export function includeReader(templatePath: string, templatesDir: string): (name: string) => IncludedFile | undefined {
  return (name) => {
    if (name.includes('..') || isAbsolute(name)) return undefined;
    for (const dir of [dirname(templatePath), templatesDir]) {
      const path = join(dir, name);
      if (existsSync(path) && statSync(path).isFile()) return { path, text: readFileSync(path, 'utf8') };
    }
    return undefined;
  };
}

function namesOrNone(dir: string): string {
  const names = listTemplateNames(dir);
  return names.length ? names.join(', ') : `none (no *.yaml in ${basename(dir)}/)`;
}
