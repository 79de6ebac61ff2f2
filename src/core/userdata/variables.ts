// Template variables: what the stack's config provides, what --var adds, and where each came from.
import { UsageError } from '../../lib/errors.js';
import { describeSource, type ResolvedConfig } from '../../config/loader.js';
import type { StackKey } from '../../config/schema.js';

export interface VariableValue {
  value: string;
  /** "--var", "config region (env AWS_REGION)", "template default", "SQS GetQueueUrl fluxer-prod-jobs". */
  source: string;
}

/** Template variable name → stack setting. snake_case in templates, as in the env file they feed. */
export const STACK_VARIABLES: Readonly<Record<string, StackKey>> = {
  region: 'region',
  spot_region: 'spotRegion',
  queue_name: 'queueName',
  bucket: 'bucket',
  prefix: 'prefix',
  model: 'model',
  hf_token_parameter: 'hfTokenParameter',
  visibility_seconds: 'visibilityTimeout',
  heartbeat_seconds: 'heartbeatSeconds',
  instance_profile: 'instanceProfile',
  node_lifetime_minutes: 'nodeLifetimeMinutes',
};

/** Resolved on demand (it needs an AWS call), never read from the config. */
export const QUEUE_URL = 'queue_url';

export function stackVariables(config: ResolvedConfig): Map<string, VariableValue> {
  const values = new Map<string, VariableValue>();
  values.set('stack', { value: config.stack, source: `stack name (${describeSource(config.stackSource)})` });
  for (const [name, key] of Object.entries(STACK_VARIABLES)) {
    const value = config.settings[key];
    if (value === undefined || value === null) continue;
    values.set(name, { value: String(value), source: `config ${key} (${describeSource(config.sources[key])})` });
  }
  return values;
}

/**
 * A value lands inside a YAML block and a systemd EnvironmentFile line: a line break or other
 * control character would end the line and let the rest become new keys or settings.
 */
export function checkVariableValue(name: string, value: string, source: string): void {
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u0008\u000a-\u001f\u007f]/.exec(value);
  if (bad) {
    const what = bad[0] === '\n' || bad[0] === '\r' ? 'a line break' : `control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')}`;
    throw new UsageError(`${source === '--var' ? `--var ${name}` : `${name} (${source})`}: the value contains ${what}; user-data values must be one line`, {
      code: 'BadVariableValue',
    });
  }
}

/** What to tell the user for a variable with no value. */
export function missingVariableHint(name: string, config: { region: string; queueName: string }): string {
  if (name === QUEUE_URL) {
    return `Pass --var queue_url=https://sqs.${config.region}.amazonaws.com/<account>/${config.queueName}, or create the queue with \`fluxer setup\` so render can look it up.`;
  }
  const key = STACK_VARIABLES[name];
  if (key) return `Set "${key}" in the stack's config (fluxer.config.json) or pass --var ${name}=VALUE.`;
  return `Pass --var ${name}=VALUE, or give it a fallback in the template: {{ ${name} | default "..." }}.`;
}
