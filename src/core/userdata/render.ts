// Renders user data end to end, with no terminal and no SDK: template + values → checked bytes ready
// for RunInstances. Used by `fluxer userdata render`, and by anything that launches or checks nodes.
import { awsErrorName } from '../../aws/errors.js';
import { UsageError } from '../../lib/errors.js';
import { SECRET_HINT, describeFinding, findSecrets } from '../secrets.js';
import {
  USER_DATA_LIMIT,
  base64Length,
  describePart,
  formatBytes,
  formatWarning,
  gzipDeterministic,
  largestParts,
  sha256,
} from './payload.js';
import { renderTemplate, type RenderResult } from './template.js';
import { checkRenderedHeartbeat } from './heartbeat.js';
import { includeReader, resolveTemplate } from './templates.js';
import { QUEUE_URL, checkVariableValue, missingVariableHint, type VariableValue } from './variables.js';

export interface RenderUserDataInput {
  /** A bundled template name or a file path. */
  templateRef: string;
  /** Where templateRef came from, for errors: "--template" or "config template (default)". */
  templateRefLabel: string;
  templatesDir: string;
  cwd: string;
  /** Values from the stack's config. */
  stackValues: ReadonlyMap<string, VariableValue>;
  /** --var KEY=VALUE: win over the config; a key the template does not use is a warning. */
  vars: Readonly<Record<string, string>>;
  forceGzip: boolean;
  /** For the hint on a missing queue_url. */
  stackHints: { region: string; queueName: string };
  /**
   * Looks up the queue URL when the template needs it and no --var gave it (SQS GetQueueUrl).
   * Called only after every other check passed, so bad input never reaches AWS.
   */
  resolveQueueUrl?: () => Promise<VariableValue>;
}

export interface RenderedUserData {
  template: { name: string; path: string };
  /** The rendered script. */
  text: string;
  /** Plain size in bytes (UTF-8). */
  bytes: number;
  limit: number;
  /** Whether `payload` is gzipped (forced, or automatic because `bytes` was over the limit). */
  gzip: boolean;
  /** Gzipped because the plain script was over the limit (the user did not ask). */
  autoGzip: boolean;
  gzippedBytes: number;
  /** The bytes to send (what the size limit applies to). */
  payload: Buffer;
  base64Bytes: number;
  fits: boolean;
  sha256: string;
  variables: Record<string, VariableValue & { lines: number[] }>;
  warnings: string[];
}

export async function renderUserData(input: RenderUserDataInput): Promise<RenderedUserData> {
  const template = resolveTemplate(input.templateRef, { templatesDir: input.templatesDir, cwd: input.cwd, refLabel: input.templateRefLabel });
  const values = new Map<string, VariableValue>(input.stackValues);
  for (const [name, value] of Object.entries(input.vars)) {
    checkVariableValue(name, value, '--var');
    values.set(name, { value, source: '--var' });
  }
  const readInclude = includeReader(template.path, input.templatesDir);
  const render = (): RenderResult =>
    renderTemplate({ template, values: new Map([...values].map(([k, v]) => [k, v.value])), readInclude });

  let result = render();
  const used = new Set(result.variables.map((v) => v.name));
  for (const v of result.variables) {
    const given = values.get(v.name);
    if (given) checkVariableValue(v.name, given.value, given.source);
  }
  refuseSecrets(template.name, template.text, result, values, used, readInclude);
  // What the node will read; refused before the queue lookup, so bad values never reach AWS.
  checkRenderedHeartbeat(result.text, values);

  const waitingForQueue = result.missing.some((m) => m.name === QUEUE_URL) && input.resolveQueueUrl !== undefined;
  const stillMissing = result.missing.filter((m) => !(waitingForQueue && m.name === QUEUE_URL));
  if (stillMissing.length > 0) throw missingError(template.name, stillMissing, input.stackHints);
  if (waitingForQueue) {
    const line = result.missing.find((m) => m.name === QUEUE_URL)!.line;
    let resolved: VariableValue;
    try {
      resolved = await input.resolveQueueUrl!();
    } catch (err) {
      const why = awsErrorName(err) || 'Error';
      throw new UsageError(
        `no value for template variable ${QUEUE_URL} (${template.name} line ${line}): looking up queue ${input.stackHints.queueName} failed (${why}: ${(err as Error).message})`,
        { code: 'MissingVariable', hint: missingVariableHint(QUEUE_URL, input.stackHints) },
      );
    }
    checkVariableValue(QUEUE_URL, resolved.value, resolved.source);
    values.set(QUEUE_URL, resolved);
    result = render();
    refuseSecrets(template.name, template.text, result, values, used, readInclude);
  }

  const warnings: string[] = [];
  for (const name of Object.keys(input.vars)) {
    if (!used.has(name)) warnings.push(`--var ${name} is not used by template ${template.name}`);
  }
  const format = formatWarning(result.text);
  if (format) warnings.push(format);

  const plain = Buffer.from(result.text, 'utf8');
  const gzipped = gzipDeterministic(plain);
  const autoGzip = !input.forceGzip && plain.length > USER_DATA_LIMIT;
  const gzip = input.forceGzip || autoGzip;
  const payload = gzip ? gzipped : plain;
  if (payload.length > USER_DATA_LIMIT) {
    throw new UsageError(
      `user data is ${formatBytes(gzipped.length)} gzipped (${formatBytes(plain.length)} plain), over EC2's ${formatBytes(USER_DATA_LIMIT)} limit. Largest parts:\n` +
        largestParts(result.text).map((p) => `  ${describePart(p)}`).join('\n'),
      { code: 'UserDataTooLarge', hint: 'Move large files into the AMI (fluxer ami bake) or fetch them on the node from S3 at boot.' },
    );
  }

  const variables: RenderedUserData['variables'] = {};
  for (const use of result.variables) {
    const given = values.get(use.name);
    variables[use.name] = given
      ? { ...given, lines: use.lines }
      : { value: use.defaultValue ?? '', source: 'template default', lines: use.lines };
  }
  return {
    template: { name: template.name, path: template.path },
    text: result.text,
    bytes: plain.length,
    limit: USER_DATA_LIMIT,
    gzip,
    autoGzip,
    gzippedBytes: gzipped.length,
    payload,
    base64Bytes: base64Length(payload.length),
    fits: true,
    sha256: sha256(payload),
    variables,
    warnings,
  };
}

function missingError(templateName: string, missing: RenderResult['missing'], hints: { region: string; queueName: string }): UsageError {
  const byName = new Map<string, number[]>();
  for (const m of missing) byName.set(m.name, [...(byName.get(m.name) ?? []), m.line]);
  const list = [...byName].map(([name, lines]) => `${name} (${templateName} line ${lines.join(', ')})`);
  return new UsageError(`no value for template variable${list.length > 1 ? 's' : ''} ${list.join(', ')}`, {
    code: 'MissingVariable',
    hint: [...byName.keys()].map((name) => missingVariableHint(name, hints)).join(' '),
  });
}

/**
 * Refuses a secret wherever it came from, naming the source: a --var or config value, the template,
 * an included file — and, as a last net, the rendered output. The secret itself is never printed.
 */
function refuseSecrets(
  templateName: string,
  templateText: string,
  result: RenderResult,
  values: ReadonlyMap<string, VariableValue>,
  used: ReadonlySet<string>,
  readInclude: (name: string) => { path: string; text: string } | undefined,
): void {
  const refuse = (where: string, text: string) => {
    const found = findSecrets(text);
    if (found.length === 0) return;
    const what = found.map((f) => `${f.label} ${f.masked}`).join(', ');
    throw new UsageError(`${where} carries a secret: ${what}; refusing to put it in user data`, { code: 'SecretInUserData', hint: SECRET_HINT });
  };
  for (const [name, v] of values) {
    if (used.has(name) || v.source === '--var') refuse(v.source === '--var' ? `--var ${name}` : `${name} (${v.source})`, v.value);
  }
  const inTemplate = findSecrets(templateText);
  if (inTemplate.length > 0) {
    throw new UsageError(`template ${templateName} carries a secret at ${inTemplate.map(describeFinding).join(', ')}; refusing to render it`, {
      code: 'SecretInUserData',
      hint: SECRET_HINT,
    });
  }
  for (const inc of result.includes) {
    const file = readInclude(inc.name);
    if (file) refuse(`included file ${inc.name} (${templateName} line ${inc.line})`, file.text);
  }
  const inOutput = findSecrets(result.text);
  if (inOutput.length > 0) {
    throw new UsageError(`the rendered user data carries a secret at ${inOutput.map(describeFinding).join(', ')}`, { code: 'SecretInUserData', hint: SECRET_HINT });
  }
}
