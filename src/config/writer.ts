// Writes one stack into a config file, keeping every other stack (and $schema) as it was. The result
// is validated exactly as the loader validates before anything touches the disk, and written through a
// temporary file and a rename, so a crash never leaves a half-written config behind.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { STACK_NAME, readConfigFile, validateConfigDocument } from './loader.js';
import { writeFileAtomicSync } from '../lib/atomic-write.js';
import { UsageError } from '../lib/errors.js';
import type { StackKey } from './schema.js';

export type StackValues = Partial<Record<StackKey, unknown>>;

export interface WriteStackOptions {
  /**
   * true: make this the file's defaultStack. false: leave defaultStack as it is (even absent) — e.g. the
   * local stack must never become what a bare command uses. Unset: only when the file has no default yet.
   */
  setDefault?: boolean;
  /** Ignore (and replace) an existing file that cannot be read or is not a valid config. */
  replaceInvalid?: boolean;
}

export interface WriteStackResult {
  path: string;
  /** The file did not exist before. */
  createdFile: boolean;
  /** The stack existed in the file and was replaced. */
  replacedStack: boolean;
  defaultStack: string | undefined;
  /** The other stacks kept in the file. */
  otherStacks: string[];
}

/** What is in the file now, for callers that must ask before changing it. */
export function inspectConfigFile(path: string): { exists: boolean; stacks: string[]; defaultStack?: string } {
  if (!existsSync(path)) return { exists: false, stacks: [] };
  const file = readConfigFile(path, 'project');
  return { exists: true, stacks: Object.keys(file.stacks), defaultStack: file.defaultStack };
}

export function writeStack(path: string, name: string, settings: StackValues, opts: WriteStackOptions = {}): WriteStackResult {
  if (!STACK_NAME.test(name)) {
    throw new UsageError(`Invalid stack name "${name}": use letters, digits, - and _ (at most 32)`, { code: 'StackInvalid' });
  }
  const createdFile = !existsSync(path);
  let doc: Record<string, unknown> = {};
  if (!createdFile) {
    try {
      readConfigFile(path, 'project'); // throws a UsageError naming the problem
      doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      if (!opts.replaceInvalid) throw err;
      doc = {};
    }
  }
  const stacks = { ...((doc.stacks as Record<string, unknown> | undefined) ?? {}) };
  const replacedStack = name in stacks;
  // Keys in the table's order, undefined values dropped: a stable, readable file.
  stacks[name] = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  const next: Record<string, unknown> = {};
  if (doc.$schema !== undefined) next.$schema = doc.$schema;
  const current = doc.defaultStack as string | undefined;
  const defaultStack = opts.setDefault === true || (opts.setDefault === undefined && current === undefined) ? name : current;
  if (defaultStack !== undefined) next.defaultStack = defaultStack;
  next.stacks = stacks;
  validateConfigDocument(next, path, 'project');

  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomicSync(path, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o644 });
  return { path, createdFile, replacedStack, defaultStack, otherStacks: Object.keys(stacks).filter((s) => s !== name) };
}
