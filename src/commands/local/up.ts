// `fluxer local up`: the whole service on this machine, as a region — moto behind the local emulator,
// `fluxer setup`'s resources on it, and N nodes the node agent runs — recorded as the `local` stack.
import { UsageError } from '../../lib/errors.js';
import { createAwsClients } from '../../aws/factory.js';
import { defineCommand } from '../../cli/command.js';
import type { Context } from '../../cli/context.js';
import { durationFlag, integerFlag, keyValueFlag } from '../../cli/parse.js';
import { PACKAGE_ROOT, SHIPPED_RUNTIME_DIR } from '../../lib/paths.js';
import { STACK_FIELDS } from '../../config/schema.js';
import { localStackSettings, projectConfigPath, recordLocalStack } from '../../core/local/config.js';
import { formatLocalStatus } from '../../core/local/format.js';
import { TINY_MODEL, resolveLocalModel } from '../../core/local/model.js';
import { bringUp, type LocalClients, type SetupOutcome } from '../../core/local/stack.js';
import { localStatus } from '../../core/local/stack-status.js';
import { ensureNodeIdentity } from '../../core/node-identity.js';
import { LOCAL_STACK, localPaths } from '../../core/local/state.js';
import { runStreaming } from '../../core/local/python-env.js';
import { findLocalTools, localToolsBin } from '../../core/local/tools.js';
import { ensureStackResources } from '../../core/setup.js';

interface UpOptions {
  model?: string;
  workers: number;
  port?: number;
  timeout: number;
  nodeEnv?: Record<string, string>;
}

export default defineCommand<UpOptions>({
  name: 'up',
  description:
    'Starts a region on this machine: moto on 127.0.0.1 behind the local emulator (what moto lacks: SSM commands that really run, each node\'s IMDS, ' +
    'sample quotas and prices), the stack as `fluxer setup` makes it (queue, dead-letter queue, bucket, node role), and N nodes: EC2 instances that ' +
    'the node agent runs as runtime workers (the tiny model on the CPU by default, or a diffusers model directory on a local GPU). ' +
    'Records the `local` stack in fluxer.config.json. Running it again starts only what is missing and makes the node count N. ' +
    '`fluxer spot launch --stack local` adds nodes; `fluxer runtime ...` reaches them over SSM. State and logs: .fluxer/local/ beside the config file. ' +
    'Python: FLUXER_VENV, else a clone\'s .venv, else (an installed CLI) a venv under $XDG_DATA_HOME/fluxer built on first use from the wheel the package ships.',
  options: [
    { flags: `--model <${TINY_MODEL.model}|DIR>`, description: `"${TINY_MODEL.model}" (CPU, no download) or a diffusers model directory (uses a local GPU when there is one)` },
    { flags: '--workers <n>', description: 'number of nodes (instances, each a runtime worker) to have running (0-16; 0: a region with no nodes yet)', parse: integerFlag('--workers', 0, 16), default: 1 },
    { flags: '--port <port>', description: "port for the local region's endpoint (default: a free one)", parse: integerFlag('--port', 1024, 65535) },
    { flags: '--node-env <FLUXER_KEY=VALUE>', description: 'a runtime setting for every local node, as a real node\'s env file would carry it (repeatable; FLUXER_* only; e.g. FLUXER_IDLE_SECONDS=30); replaces the previous set, restarting the nodes it changes', parse: keyValueFlag('--node-env'), repeatable: true },
    { flags: '--timeout <duration>', description: 'how long each worker may take to become READY', parse: durationFlag('--timeout', { minMs: 1_000, maxMs: 3_600_000 }), default: 180_000, defaultLabel: '3m' },
  ],
  examples: ['fluxer local up', 'fluxer local up --workers 2 --json', 'fluxer local up --workers 0', 'fluxer local up --model ./models/FLUX.1-schnell', 'fluxer generate "a lighthouse at dawn" --stack local --wait'],
  async handler(ctx, _args, opts) {
    // Everything that can be wrong with the input is checked before a process starts.
    const model = resolveLocalModel(opts.model, ctx.cwd);
    const configPath = projectConfigPath(ctx.cwd, ctx.globals.config);
    const paths = localPaths(configPath);
    const venvBin = await localToolsBin({ packageRoot: PACKAGE_ROOT, shippedDir: SHIPPED_RUNTIME_DIR, env: ctx.env, run: runStreaming, progress: (m) => ctx.out.info(m) });
    const tools = findLocalTools(venvBin, ctx.env, PACKAGE_ROOT);

    const result = await bringUp(
      { paths, tools, baseEnv: ctx.env, setup: (endpoint) => setupOn(ctx, endpoint), clients: (endpoint) => clientsOn(ctx, endpoint), progress: (m) => ctx.out.info(m), signal: ctx.signal },
      { workers: opts.workers, model, port: opts.port, readyTimeoutMs: opts.timeout, nodeEnv: nodeEnvFlag(opts.nodeEnv) },
    );
    recordLocalStack(configPath, localStackSettings(result.state.endpoint, model.model));

    const status = (await localStatus(paths))!;
    const running = status.workers.filter((w) => w.state !== 'dead').length;
    const kept = running - result.launched.length;
    ctx.out.success(
      `Local stack up at ${status.endpoint}: ${result.serverStarted ? 'server started' : 'server already running'}, ` +
        `${result.launched.length} node(s) launched${kept > 0 ? `, ${kept} already running` : ''}${result.terminated.length ? `, ${result.terminated.length} terminated` : ''}`,
    );
    ctx.out.info(`Stack "${LOCAL_STACK}" recorded in ${configPath}. Try: fluxer generate "a lighthouse on a cliff at dawn" --stack ${LOCAL_STACK} --wait`);
    ctx.out.result(
      { ...status, configFile: configPath, stack: LOCAL_STACK, serverStarted: result.serverStarted, launched: result.launched, terminated: result.terminated },
      () => formatLocalStatus(ctx.out, status),
    );
  },
});

function localClientEnv(ctx: Context): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(ctx.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return env;
}

async function clientsOn(ctx: Context, endpoint: string): Promise<LocalClients> {
  const aws = createAwsClients({ region: 'us-east-1', endpointFlag: endpoint, env: localClientEnv(ctx), userAgent: `fluxer/${ctx.version}`, maxAttempts: 2, debug: (m) => ctx.out.debug(m) });
  const [ec2, ssm] = await Promise.all([aws.ec2(), aws.ssm()]);
  return { ec2, ssm, close: () => aws.close() };
}

/** `fluxer setup`'s logic against the emulator; the clients get dummy keys (loopback, see the factory). */
async function setupOn(ctx: Context, endpoint: string): Promise<SetupOutcome> {
  const env: NodeJS.ProcessEnv = {};
  // The same settings `fluxer setup --stack local` derives, so running that afterwards changes nothing.
  // The host's AWS settings (profile, keys, endpoint variables) must not steer calls to the emulator.
  for (const [k, v] of Object.entries(ctx.env)) if (!k.startsWith('AWS_')) env[k] = v;
  const aws = createAwsClients({ region: 'us-east-1', endpointFlag: endpoint, env, userAgent: `fluxer/${ctx.version}`, maxAttempts: 2, debug: (m) => ctx.out.debug(m) });
  const settings = localStackSettings(endpoint, TINY_MODEL.model);
  let resources;
  try {
    const [sqs, s3, iam, ec2, sts] = await Promise.all([aws.sqs(), aws.s3(), aws.iam(), aws.ec2(), aws.sts()]);
    resources = await ensureStackResources({ sqs, s3 }, { ...settings, bucket: settings.bucket!, jobRetentionDays: STACK_FIELDS.jobRetentionDays.default(), nodeRetentionDays: STACK_FIELDS.nodeRetentionDays.default() }, LOCAL_STACK);
    // The nodes' role, instance profile and security group, so `spot launch --stack local` finds them as on AWS.
    resources.push(...(await ensureNodeIdentity({ iam, ec2, sts }, { ...settings, bucket: settings.bucket!, instanceProfile: STACK_FIELDS.instanceProfile.default(LOCAL_STACK), subnets: [], hfTokenParameter: STACK_FIELDS.hfTokenParameter.default(LOCAL_STACK) }, LOCAL_STACK)));
  } finally {
    aws.close();
  }
  const queueUrl = resources.find((r) => r.type === 'queue')?.url;
  const dlqUrl = resources.find((r) => r.type === 'dead-letter-queue')?.url;
  if (!queueUrl || !dlqUrl) throw new Error('setup returned no queue URL');
  const changed = resources.filter((r) => r.action !== 'unchanged');
  if (changed.length) ctx.out.info(`Set up ${changed.map((r) => `${r.type} ${r.name} (${r.action})`).join(', ')}`);
  return { queueUrl, dlqUrl };
}

/** Only the runtime's own settings: a node's AWS_* and paths are the agent's to set. */
function nodeEnvFlag(env: Record<string, string> | undefined): Record<string, string> {
  for (const key of Object.keys(env ?? {})) if (!key.startsWith('FLUXER_')) throw new UsageError(`--node-env ${key}: only FLUXER_* runtime settings`, { hint: 'e.g. --node-env FLUXER_IDLE_SECONDS=30' });
  return env ?? {};
}
