// Loads the merged stack settings. Precedence: flags > environment > project file > user file > defaults.
// Every value remembers where it came from, for `fluxer config show` and for error messages.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../lib/errors.js';
import { STACK_FIELDS, STACK_KEYS, checkField, parseEnvValue, type StackKey, type StackSettings } from './schema.js';

// node:os is loaded only when HOME is unset: one less module on every start.
const homedir = (): string => (createRequire(import.meta.url)('node:os') as typeof import('node:os')).homedir();

export const PROJECT_CONFIG_NAME = 'fluxer.config.json';

export interface ConfigFile {
  path: string;
  kind: 'project' | 'user';
  defaultStack?: string;
  stacks: Record<string, Partial<Record<StackKey, unknown>>>;
}

export type ValueSource =
  | { kind: 'default' }
  | { kind: 'file'; path: string; fileKind: 'project' | 'user' }
  | { kind: 'env'; name: string }
  | { kind: 'flag'; name: string };

export interface ResolvedConfig {
  stack: string;
  stackSource: ValueSource;
  settings: StackSettings;
  sources: Partial<Record<StackKey, ValueSource>>;
  files: ConfigFile[];
  /** Where `fluxer init` / `fluxer local up` write: the found project file, or ./fluxer.config.json. */
  projectFilePath: string;
}

export interface ConfigInputs {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** --config FILE: used instead of searching for the project file. */
  configFile?: string;
  stack?: string;
  /** Values set by global flags (--region, --endpoint-url). */
  flags: Partial<Record<StackKey, { value: unknown; flag: string }>>;
}

export function userConfigPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), '.config');
  return join(base, 'fluxer', 'config.json');
}

/** The project file: from the working directory upward, like git finds .git. */
export function findProjectConfig(cwd: string): string | undefined {
  let dir = resolve(cwd);
  for (;;) {
    const candidate = join(dir, PROJECT_CONFIG_NAME);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function readConfigFile(path: string, kind: 'project' | 'user'): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`Cannot read config file ${path}: ${(err as Error).message}`, {
      code: 'ConfigUnreadable',
      hint: kind === 'project' ? 'Check the path given to --config.' : 'Check the file\'s permissions.',
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const where = jsonErrorLocation(text, (err as Error).message);
    throw new UsageError(`Malformed JSON in ${path}${where}: ${(err as Error).message.replace(/^JSON\.parse: /, '')}`, {
      code: 'ConfigMalformed',
      hint: 'Fix the JSON syntax at that line (trailing commas and comments are not allowed).',
    });
  }
  return validateConfigDocument(doc, path, kind);
}

export function validateConfigDocument(doc: unknown, path: string, kind: 'project' | 'user'): ConfigFile {
  const bad = (message: string) =>
    new UsageError(`${path}: ${message}`, { code: 'ConfigInvalid', hint: 'See "Config reference" in the README, or run `fluxer config show`.' });
  if (!isPlainObject(doc)) throw bad('the file must hold a JSON object with "defaultStack" and "stacks"');
  const file: ConfigFile = { path, kind, stacks: {} };
  for (const [key, value] of Object.entries(doc)) {
    if (key === '$schema') continue;
    if (key === 'defaultStack') {
      if (typeof value !== 'string' || !STACK_NAME.test(value)) throw bad(`"defaultStack" must be a stack name (letters, digits, - and _), got ${JSON.stringify(value)}`);
      file.defaultStack = value;
    } else if (key === 'stacks') {
      if (!isPlainObject(value)) throw bad('"stacks" must be an object of {NAME: {settings}}');
      for (const [name, settings] of Object.entries(value)) {
        if (!STACK_NAME.test(name)) throw bad(`stack name "${name}" must be letters, digits, - and _ (at most 32)`);
        if (!isPlainObject(settings)) throw bad(`stacks.${name} must be an object`);
        for (const [settingKey, settingValue] of Object.entries(settings)) {
          if (!(settingKey in STACK_FIELDS)) {
            const suggestion = closest(settingKey, STACK_KEYS);
            throw bad(`unknown key "stacks.${name}.${settingKey}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`);
          }
          const problem = checkField(settingKey as StackKey, settingValue);
          if (problem) throw bad(`"stacks.${name}.${settingKey}" ${problem}`);
        }
        file.stacks[name] = settings as Partial<Record<StackKey, unknown>>;
      }
    } else {
      const suggestion = closest(key, ['defaultStack', 'stacks']);
      throw bad(`unknown key "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}; a config file holds "defaultStack" and "stacks"`);
    }
  }
  return file;
}

export const STACK_NAME = /^[A-Za-z0-9_-]{1,32}$/;

export function loadConfig(inputs: ConfigInputs): ResolvedConfig {
  const files: ConfigFile[] = [];
  const userPath = userConfigPath(inputs.env);
  if (existsSync(userPath)) files.push(readConfigFile(userPath, 'user'));
  const projectPath = inputs.configFile ? resolve(inputs.cwd, inputs.configFile) : findProjectConfig(inputs.cwd);
  if (inputs.configFile && !existsSync(projectPath!)) {
    throw new UsageError(`--config ${inputs.configFile}: no such file`, { code: 'ConfigNotFound', hint: 'Create one with `fluxer init`, or drop --config.' });
  }
  if (projectPath) files.push(readConfigFile(projectPath, 'project'));
  const projectFile = files.find((f) => f.kind === 'project');

  // Which stack: --stack > FLUXER_STACK > project defaultStack > user defaultStack > "default".
  let stack = 'default';
  let stackSource: ValueSource = { kind: 'default' };
  const userFile = files.find((f) => f.kind === 'user');
  if (inputs.stack !== undefined) {
    stack = inputs.stack;
    stackSource = { kind: 'flag', name: '--stack' };
  } else if (inputs.env.FLUXER_STACK) {
    stack = inputs.env.FLUXER_STACK;
    stackSource = { kind: 'env', name: 'FLUXER_STACK' };
  } else if (projectFile?.defaultStack) {
    stack = projectFile.defaultStack;
    stackSource = { kind: 'file', path: projectFile.path, fileKind: 'project' };
  } else if (userFile?.defaultStack) {
    stack = userFile.defaultStack;
    stackSource = { kind: 'file', path: userFile.path, fileKind: 'user' };
  }
  if (!STACK_NAME.test(stack)) {
    throw new UsageError(`Invalid stack name "${stack}": use letters, digits, - and _ (at most 32)`, { code: 'StackInvalid' });
  }
  const known = new Set(files.flatMap((f) => Object.keys(f.stacks)));
  if (!known.has(stack) && (stackSource.kind !== 'default' || known.size > 0)) {
    const where = files.length ? files.map((f) => f.path).join(', ') : 'no config file was found';
    const suggestion = closest(stack, [...known]);
    throw new UsageError(`Unknown stack "${stack}" (from ${describeSource(stackSource)}); stacks defined: ${known.size ? [...known].join(', ') : 'none'} (${where})`, {
      code: 'StackNotFound',
      hint: suggestion ? `Did you mean --stack ${suggestion}?` : 'Create it with `fluxer init --stack ' + stack + '`.',
    });
  }

  const values: Partial<Record<StackKey, unknown>> = {};
  const sources: Partial<Record<StackKey, ValueSource>> = {};
  for (const key of STACK_KEYS) {
    const spec = STACK_FIELDS[key] as { default?: (s: string) => unknown };
    if (spec.default) {
      values[key] = spec.default(stack);
      sources[key] = { kind: 'default' };
    }
  }
  for (const file of files) {
    const settings = file.stacks[stack];
    if (!settings) continue;
    for (const [key, value] of Object.entries(settings)) {
      values[key as StackKey] = value;
      sources[key as StackKey] = { kind: 'file', path: file.path, fileKind: file.kind };
    }
  }
  for (const key of STACK_KEYS) {
    const envNames = (STACK_FIELDS[key] as { env?: string[] }).env ?? [];
    const name = envNames.find((n) => inputs.env[n] !== undefined && inputs.env[n] !== '');
    if (!name) continue;
    const value = parseEnvValue(key, inputs.env[name]!);
    const problem = checkField(key, value);
    if (problem) throw new UsageError(`Environment variable ${name}: ${problem}`, { code: 'ConfigInvalid', hint: `Fix or unset ${name}.` });
    values[key] = value;
    sources[key] = { kind: 'env', name };
  }
  for (const [key, flag] of Object.entries(inputs.flags) as Array<[StackKey, { value: unknown; flag: string }]>) {
    const problem = checkField(key, flag.value);
    if (problem) throw new UsageError(`${flag.flag}: ${problem}`, { code: 'UsageError' });
    values[key] = flag.value;
    sources[key] = { kind: 'flag', name: flag.flag };
  }
  return {
    stack,
    stackSource,
    settings: values as unknown as StackSettings,
    sources,
    files,
    projectFilePath: projectFile?.path ?? join(inputs.cwd, PROJECT_CONFIG_NAME),
  };
}

export function describeSource(source: ValueSource | undefined): string {
  if (!source) return 'unset';
  switch (source.kind) {
    case 'default':
      return 'default';
    case 'file':
      return `${source.fileKind} file ${source.path}`;
    case 'env':
      return `env ${source.name}`;
    case 'flag':
      return `flag ${source.name}`;
  }
}

/** "line L, column C" for a JSON.parse error, from the position Node reports. */
export function jsonErrorLocation(text: string, message: string): string {
  const lineCol = /line (\d+) column (\d+)/.exec(message);
  if (lineCol) return ` at line ${lineCol[1]}, column ${lineCol[2]}`;
  const pos = /position (\d+)/.exec(message);
  let offset = pos ? Number(pos[1]) : /Unexpected end of JSON input/.test(message) ? text.length : -1;
  if (offset < 0) return '';
  offset = Math.min(offset, text.length);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return ` at line ${line}, column ${column}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The closest candidate by edit distance, when it is close enough to be a likely typo. */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(input.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(input.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
