// Doctor's user-data check: the stack's user data rendered as a launch would render it, measured
// against EC2's limit.
import type { SqsPort } from '../aws/sqs.js';
import type { ResolvedConfig } from '../config/loader.js';
import type { CheckOutcome } from './doctor-run.js';
import { queueUrlFor } from './stack-resources.js';
import { formatBytes } from './userdata/payload.js';
import { renderUserData } from './userdata/render.js';
import { stackVariables } from './userdata/variables.js';

export interface UserDataSize {
  template: string;
  bytes: number;
  limit: number;
  gzip: boolean;
  gzippedBytes: number;
  warnings: string[];
  /** The queue does not exist yet, so a stand-in URL of the same shape was measured. */
  assumedQueueUrl: boolean;
}

export function evaluateUserData(size: UserDataSize): CheckOutcome {
  const measured = size.gzip
    ? `${formatBytes(size.bytes)} plain, ${formatBytes(size.gzippedBytes)} gzipped (sent gzipped)`
    : `${formatBytes(size.bytes)}`;
  const detail = `template ${size.template}: ${measured} of EC2's ${formatBytes(size.limit)} limit${size.assumedQueueUrl ? ' (queue URL assumed: the queue does not exist yet)' : ''}`;
  if (size.warnings.length) return { status: 'warn', detail: `${detail}; ${size.warnings.join('; ')}`, hint: 'Run `fluxer userdata render` to see the output.' };
  return { status: 'ok', detail };
}

/** The stack's user data rendered as a launch would render it, measured against EC2's limit. */
export function userDataCheck(opts: { config: ResolvedConfig; templatesDir: string; cwd: string; sqs: () => Promise<SqsPort> }): () => Promise<CheckOutcome> {
  return async () => {
    const { settings } = opts.config;
    let assumedQueueUrl = false;
    const rendered = await renderUserData({
      templateRef: settings.template,
      templateRefLabel: 'template setting',
      templatesDir: opts.templatesDir,
      cwd: opts.cwd,
      stackValues: stackVariables(opts.config),
      vars: {},
      forceGzip: false,
      stackHints: { region: settings.region, queueName: settings.queueName },
      // The size must not depend on the queue check: a missing queue is measured with a URL of the same shape.
      resolveQueueUrl: async () => {
        const url = await queueUrlFor(await opts.sqs(), settings.queueName);
        if (url) return { value: url, source: `SQS GetQueueUrl ${settings.queueName}` };
        assumedQueueUrl = true;
        return { value: `https://sqs.${settings.region}.amazonaws.com/000000000000/${settings.queueName}`, source: 'assumed (queue not found)' };
      },
    });
    return evaluateUserData({
      template: rendered.template.name,
      bytes: rendered.bytes,
      limit: rendered.limit,
      gzip: rendered.gzip,
      gzippedBytes: rendered.gzippedBytes,
      warnings: rendered.warnings,
      assumedQueueUrl,
    });
  };
}
