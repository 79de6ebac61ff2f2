import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FluxerError } from '../../src/lib/errors.js';
import { renderUserData, type RenderUserDataInput } from '../../src/core/userdata/render.js';
import type { VariableValue } from '../../src/core/userdata/variables.js';

const PRIVATE_KEY_LINE = '-----BEGIN RSA ' + 'PRIVATE KEY-----';
const ACCESS_KEY_ID = 'ASIA' + 'B5N8Q2XW4RT9KD3M';

let templatesDir: string;
beforeAll(() => {
  templatesDir = mkdtempSync(join(tmpdir(), 'fluxer-ud-unit-'));
  writeFileSync(join(templatesDir, 'plain.yaml'), '#cloud-config\nruncmd:\n  - [echo, "{{ region }}", "{{ queue_url }}"]\n');
  writeFileSync(join(templatesDir, 'with-key.yaml'), '#cloud-config\nwrite_files:\n  - path: /root/.ssh/id_rsa\n    content: |\n      {{> id_rsa }}\n');
  writeFileSync(join(templatesDir, 'id_rsa'), `${PRIVATE_KEY_LINE}\nMIIEow\n-----END RSA PRIVATE KEY-----\n`);
});

function input(over: Partial<RenderUserDataInput> = {}): RenderUserDataInput {
  return {
    templateRef: 'plain',
    templateRefLabel: '--template',
    templatesDir,
    cwd: templatesDir,
    stackValues: new Map<string, VariableValue>([['region', { value: 'us-east-1', source: 'config region (default)' }]]),
    vars: { queue_url: 'https://sqs.us-east-1.amazonaws.com/1/q' },
    forceGzip: false,
    stackHints: { region: 'us-east-1', queueName: 'q' },
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<FluxerError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FluxerError);
  expect((err as FluxerError).exitCode).toBe(2);
  return err as FluxerError;
}

describe('renderUserData', () => {
  it('plain text under the limit stays plain; --gzip gives the same script gzipped, same hash each time', async () => {
    const plain = await renderUserData(input());
    expect(plain.gzip).toBe(false);
    expect(plain.payload.toString()).toBe('#cloud-config\nruncmd:\n  - [echo, "us-east-1", "https://sqs.us-east-1.amazonaws.com/1/q"]\n');
    const [a, b] = await Promise.all([renderUserData(input({ forceGzip: true })), renderUserData(input({ forceGzip: true }))]);
    expect(a!.gzip).toBe(true);
    expect(a!.autoGzip).toBe(false);
    expect(a!.sha256).toBe(b!.sha256);
    expect(a!.payload.length).toBe(a!.gzippedBytes);
  });

  it('refuses a secret that comes from the stack\'s config, naming the setting', async () => {
    const stackValues = new Map<string, VariableValue>([['region', { value: ACCESS_KEY_ID, source: 'config region (env AWS_REGION)' }]]);
    const e = await rejection(renderUserData(input({ stackValues })));
    expect(e.message).toBe('region (config region (env AWS_REGION)) carries a secret: AWS access key id ASIA…(20 chars); refusing to put it in user data');
    expect(e.message).not.toContain(ACCESS_KEY_ID.slice(4));
  });

  it('refuses a private key pulled in by an include, naming the include and its line', async () => {
    const e = await rejection(renderUserData(input({ templateRef: 'with-key', vars: {} })));
    expect(e.message).toBe('included file id_rsa (with-key line 5) carries a secret: private key -----BEGIN RSA PRIVATE KEY-----; refusing to put it in user data');
    expect(e.hint).toMatch(/SSM Parameter Store/);
  });

  it('looks up queue_url only when nothing else is wrong, and only when the template needs it', async () => {
    let lookups = 0;
    const resolveQueueUrl = async (): Promise<VariableValue> => {
      lookups++;
      return { value: 'https://sqs.us-east-1.amazonaws.com/1/looked-up', source: 'SQS GetQueueUrl q' };
    };
    const missingRegion = renderUserData(input({ vars: {}, stackValues: new Map(), resolveQueueUrl }));
    expect((await rejection(missingRegion)).message).toBe('no value for template variable region (plain line 3)');
    expect(lookups).toBe(0);
    const r = await renderUserData(input({ vars: {}, resolveQueueUrl }));
    expect(lookups).toBe(1);
    expect(r.variables.queue_url).toEqual({ value: 'https://sqs.us-east-1.amazonaws.com/1/looked-up', source: 'SQS GetQueueUrl q', lines: [3] });
  });

  it('a failed queue lookup is exit 2 naming queue_url, its line and how to pass it', async () => {
    const resolveQueueUrl = async (): Promise<VariableValue> => {
      throw Object.assign(new Error('The specified queue does not exist.'), { name: 'QueueDoesNotExist' });
    };
    const e = await rejection(renderUserData(input({ vars: {}, resolveQueueUrl })));
    expect(e.message).toBe('no value for template variable queue_url (plain line 3): looking up queue q failed (QueueDoesNotExist: The specified queue does not exist.)');
    expect(e.hint).toContain('--var queue_url=https://sqs.us-east-1.amazonaws.com/<account>/q');
  });
});
