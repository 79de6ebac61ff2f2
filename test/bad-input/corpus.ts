// The bad-input corpus (issue 9): inputs a user or a script can get wrong, one row each. Every row
// must exit 2 with a message naming the flag, key or line (`names`), and send nothing to AWS: the
// test (corpus.test.ts) points every service at a counting listener and expects 0 requests.

export interface BadInput {
  /** Distinct, says what is wrong. */
  name: string;
  argv: string[];
  /** The project config file: an object (written as JSON) or raw text. Default: GOOD_CONFIG. */
  config?: unknown;
  /** Extra files in the case's working directory (a batch file, ...). */
  files?: Record<string, string | Buffer>;
  env?: Record<string, string>;
  stdin?: string | Buffer;
  /** Text the error message must contain: the flag, key or line it is about. */
  names: string;
}

export const GOOD_CONFIG = {
  defaultStack: 'dev',
  stacks: { dev: { region: 'us-east-1', bucket: 'fluxer-corpus-bucket', queueName: 'fluxer-corpus-jobs', model: 'tiny' } },
};

const JOB_ID = '019ad3f2-7c4e-7a21-9b3d-2f6e8a1c0d45';
const withDev = (settings: Record<string, unknown>) => ({ defaultStack: 'dev', stacks: { dev: { ...GOOD_CONFIG.stacks.dev, ...settings } } });
const batch = (text: string | Buffer): Record<string, string | Buffer> => ({ 'prompts.jsonl': text });
const gen = (...flags: string[]) => ['generate', 'a red fox', ...flags];

export const CORPUS: BadInput[] = [
  // spot launch: flag values refused before any read (a type's checks read DescribeInstanceTypes: test/integration/spot-launch.test.ts)
  { name: 'spot launch --count 0', argv: ['spot', 'launch', '--yes', '--count', '0'], names: '--count' },
  { name: 'spot launch --count above 100', argv: ['spot', 'launch', '--yes', '--count', '101'], names: '--count' },
  { name: 'spot launch --max-price negative', argv: ['spot', 'launch', '--yes', '--max-price', '-1'], names: '--max-price' },
  { name: 'spot launch --type not a type name', argv: ['spot', 'launch', '--yes', '--type', 'G5 XL'], names: '--type' },
  { name: 'spot launch --launch-id malformed', argv: ['spot', 'launch', '--yes', '--launch-id', 'yesterday'], names: '--launch-id' },
  { name: 'spot launch --ami malformed', argv: ['spot', 'launch', '--yes', '--ami', 'ubuntu'], names: '--ami' },
  { name: 'spot launch without --yes, not on a terminal', argv: ['spot', 'launch'], names: '--yes' },
  // ami bake: modes and flag values, refused before the node is looked up
  { name: 'ami bake with nothing to bake', argv: ['ami', 'bake', '--yes'], names: '--from' },
  { name: 'ami bake --from and --base together', argv: ['ami', 'bake', '--yes', '--from', 'i-0123456789abcdef0', '--base'], names: '--base' },
  { name: 'ami bake --from not an instance id', argv: ['ami', 'bake', '--yes', '--from', 'node-1'], names: '--from' },
  { name: 'ami bake --name with a space', argv: ['ami', 'bake', '--yes', '--base', '--name', 'my image'], names: '--name' },
  { name: 'ami bake --timeout not a duration', argv: ['ami', 'bake', '--yes', '--base', '--timeout', 'soon'], names: '--timeout' },
  { name: 'ami bake --terminate-source without --wait', argv: ['ami', 'bake', '--yes', '--from', 'i-0123456789abcdef0', '--terminate-source'], names: '--wait' },
  { name: 'ami bake --base --terminate-source', argv: ['ami', 'bake', '--yes', '--base', '--terminate-source'], names: '--terminate-source' },
  { name: 'ami bake --resume with --name', argv: ['ami', 'bake', '--resume', 'fluxer-dev-1', '--name', 'other-1'], names: '--resume' },
  { name: 'ami bake --resume malformed', argv: ['ami', 'bake', '--resume', '../x'], names: '--resume' },
  { name: 'ami bake without --yes, not on a terminal', argv: ['ami', 'bake', '--from', 'i-0123456789abcdef0'], names: '--yes' },
  // fleet: bounds and targets refused before any call
  { name: 'fleet up --max 0', argv: ['fleet', 'up', '--yes', '--max', '0'], names: '--max' },
  { name: 'fleet up --min above --max', argv: ['fleet', 'up', '--yes', '--min', '5', '--max', '2'], names: '--min' },
  { name: 'fleet up --jobs-per-node 0', argv: ['fleet', 'up', '--yes', '--jobs-per-node', '0'], names: '--jobs-per-node' },
  { name: 'fleet up --min negative', argv: ['fleet', 'up', '--yes', '--min', '-1'], names: '--min' },
  { name: 'fleet up without --yes, not on a terminal', argv: ['fleet', 'up'], names: '--yes' },
  { name: 'fleet up --idle not a duration', argv: ['fleet', 'up', '--yes', '--idle', 'soon'], names: '--idle' },
  { name: 'fleet up --idle 0s', argv: ['fleet', 'up', '--yes', '--idle', '0s'], names: '--idle' },
  { name: 'fleet up --idle over a day', argv: ['fleet', 'up', '--yes', '--idle', '25h'], names: '--idle' },
  { name: 'fleet up --surplus-idle above --idle', argv: ['fleet', 'up', '--yes', '--idle', '2m', '--surplus-idle', '5m'], names: '--surplus-idle' },
  { name: 'fleet scale not a number', argv: ['fleet', 'scale', 'two'], names: 'N' },
  { name: 'fleet scale N above --max', argv: ['fleet', 'scale', '5', '--max', '2'], names: '--max' },
  { name: 'fleet scale --min above --max', argv: ['fleet', 'scale', '1', '--min', '3', '--max', '2'], names: '--min' },
  { name: 'fleet roll --ami malformed', argv: ['fleet', 'roll', '--yes', '--ami', 'ubuntu'], names: '--ami' },
  { name: 'fleet roll --release malformed', argv: ['fleet', 'roll', '--yes', '--release', 'v 1'], names: '--release' },
  { name: 'fleet roll without --yes, not on a terminal', argv: ['fleet', 'roll'], names: '--yes' },
  { name: 'fleet down without --yes, not on a terminal', argv: ['fleet', 'down'], names: '--yes' },
  // generate: flag values
  { name: 'generate --steps not a number', argv: gen('--steps', 'abc'), names: '--steps' },
  { name: 'generate --steps 0', argv: gen('--steps', '0'), names: '--steps' },
  { name: 'generate --steps above the model maximum', argv: gen('--steps', '100000'), names: '--steps' },
  { name: 'generate --steps fractional', argv: gen('--steps', '2.5'), names: '--steps' },
  { name: 'generate --seed negative', argv: gen('--seed', '-1'), names: '--seed' },
  { name: 'generate --seed not a number', argv: gen('--seed', '0x1z'), names: '--seed' },
  { name: 'generate --seed beyond 2^53', argv: gen('--seed', '99999999999999999999'), names: '--seed' },
  { name: 'generate --size width not a multiple of 16', argv: gen('--size', '1000x1024'), names: '--size' },
  { name: 'generate --size not WxH', argv: gen('--size', 'big'), names: '--size' },
  { name: 'generate --size 0x0', argv: gen('--size', '0x0'), names: '--size' },
  { name: 'generate --size far too large', argv: gen('--size', '99984x99984'), names: '--size' },
  { name: 'generate --count 0', argv: gen('--count', '0'), names: '--count' },
  { name: 'generate --count 9', argv: gen('--count', '9'), names: '--count' },
  { name: 'generate --guidance negative', argv: gen('--guidance', '-1'), names: '--guidance' },
  { name: 'generate --guidance NaN', argv: gen('--guidance', 'NaN'), names: '--guidance' },
  { name: 'generate --model unknown', argv: gen('--model', 'flux-pro'), names: '--model' },
  { name: 'generate --negative with control characters', argv: gen('--model', 'tiny', '--negative', 'blur\u007f'), names: '--negative' },
  { name: 'generate --negative with a model that has none', argv: gen('--model', 'flux-schnell', '--negative', 'blur'), names: '--negative' },
  { name: 'generate unknown flag', argv: gen('--sampler', 'euler'), names: '--sampler' },
  { name: 'generate --timeout without --wait', argv: gen('--timeout', '5m'), names: '--timeout' },
  { name: 'generate --out without --wait', argv: gen('--out', 'img'), names: '--out' },
  { name: 'generate --wait --timeout 0s', argv: gen('--wait', '--timeout', '0s'), names: '--timeout' },
  { name: 'generate --wait --timeout not a duration', argv: gen('--wait', '--timeout', '5 minutes'), names: '--timeout' },
  { name: 'generate --wait --timeout beyond a week', argv: gen('--wait', '--timeout', '400h'), names: '--timeout' },
  { name: 'generate --json with a bad flag (JSON error document)', argv: [...gen('--steps', '-3'), '--json'], names: '--steps' },
  // generate: the prompt
  { name: 'generate without a prompt', argv: ['generate'], names: 'PROMPT' },
  { name: 'generate an empty prompt', argv: ['generate', ''], names: 'PROMPT' },
  { name: 'generate a 100 KB prompt', argv: ['generate', 'a'.repeat(100 * 1024)], names: 'PROMPT' },
  { name: 'generate a prompt with control characters', argv: ['generate', 'a fox\u0007\u001b[31m in snow'], names: 'PROMPT' },
  { name: 'generate both a prompt and --batch', argv: ['generate', 'a fox', '--batch', 'prompts.jsonl'], files: batch('a fox\n'), names: '--batch' },
  // generate --batch: JSON lines
  { name: 'batch file missing', argv: ['generate', '--batch', 'missing.jsonl'], names: 'missing.jsonl' },
  { name: 'batch file empty', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('\n# only a comment\n'), names: 'prompts.jsonl' },
  { name: 'batch malformed JSON line', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('a fox\n{"prompt": "a cat",}\n'), names: 'line 2' },
  { name: 'batch line an object without a prompt', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('a fox\n{"prompt": "ok"}\n{}\n'), names: 'line 3' },
  { name: 'batch line with an unknown field', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('{"prompt": "a fox", "sampler": "euler"}\n'), names: 'line 1' },
  { name: 'batch line with a wrong type (steps string)', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('a fox\n{"prompt": "a cat", "steps": "eight"}\n'), names: 'line 2' },
  { name: 'batch line with a prompt that is a number', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('{"prompt": 42}\n'), names: 'line 1' },
  { name: 'batch line with a bad size', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('{"prompt": "a fox", "size": "huge"}\n'), names: 'line 1' },
  { name: 'batch line with steps out of range', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('a\nb\n{"prompt": "c", "steps": 0}\n'), names: 'line 3' },
  { name: 'batch line with an unknown model', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('{"prompt": "a fox", "model": "dalle"}\n'), names: 'line 1' },
  { name: 'batch line with a 100 KB prompt', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch(`a fox\n${'b'.repeat(100 * 1024)}\n`), names: 'line 2' },
  { name: 'batch line with control characters', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch('a fox\n{"prompt": "a\\u0000cat"}\n'), names: 'line 2' },
  { name: 'batch file with invalid UTF-8', argv: ['generate', '--batch', 'prompts.jsonl'], files: batch(Buffer.concat([Buffer.from('a fox\na '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(' cat\n')])), names: 'line 2' },
  { name: 'batch on stdin with a malformed line', argv: ['generate', '--batch', '-'], stdin: 'a fox\n{"prompt"\n', names: 'line 2' },
  // jobs
  { name: 'jobs status bad job id', argv: ['jobs', 'status', 'not-a-job'], names: 'JOB_ID' },
  { name: 'jobs status without a job id', argv: ['jobs', 'status'], names: 'jobId' },
  { name: 'jobs get UUIDv4 instead of v7', argv: ['jobs', 'get', '3b241101-e2bb-4255-8caf-4136c566a962'], names: 'JOB_ID' },
  { name: 'jobs cancel bad job id', argv: ['jobs', 'cancel', '../../etc/passwd'], names: 'JOB_ID' },
  { name: 'jobs tail bad job id', argv: ['jobs', 'tail', 'x'], names: 'JOB_ID' },
  { name: 'jobs tail --timeout bad duration', argv: ['jobs', 'tail', JOB_ID, '--timeout', '5x'], names: '--timeout' },
  { name: 'jobs list --since bad duration', argv: ['jobs', 'list', '--since', 'yesterday'], names: '--since' },
  { name: 'jobs list --state unknown', argv: ['jobs', 'list', '--state', 'done'], names: '--state' },
  { name: 'jobs list --limit 0', argv: ['jobs', 'list', '--limit', '0'], names: '--limit' },
  { name: 'jobs list --limit not a number', argv: ['jobs', 'list', '--limit', 'all'], names: '--limit' },
  // doctor, setup, queue, runtime
  { name: 'doctor --timeout 0s', argv: ['doctor', '--timeout', '0s'], names: '--timeout' },
  { name: 'doctor --timeout above 5m', argv: ['doctor', '--timeout', '10m'], names: '--timeout' },
  { name: 'setup with an unexpected argument', argv: ['setup', 'now'], names: '"now"' },
  { name: 'spot prices --history below 1h', argv: ['spot', 'prices', '--history', '30m'], names: '--history' },
  { name: 'spot prices --history above 90d', argv: ['spot', 'prices', '--history', '91d'], names: '--history' },
  { name: 'spot prices --history not a duration', argv: ['spot', 'prices', '--history', 'soon'], names: '--history' },
  // cost report: the window and grouping are checked before any read
  { name: 'cost report --since not a duration or date', argv: ['cost', 'report', '--since', 'last week'], names: '--since' },
  { name: 'cost report --since a date that does not exist', argv: ['cost', 'report', '--since', '2026-02-30'], names: '--since' },
  { name: 'cost report --since beyond a year', argv: ['cost', 'report', '--since', '400d'], names: '--since' },
  { name: 'cost report --since under a minute', argv: ['cost', 'report', '--since', '10s'], names: '--since' },
  { name: 'cost report --until not a date', argv: ['cost', 'report', '--until', 'tomorrow'], names: '--until' },
  { name: 'cost report --until in the future', argv: ['cost', 'report', '--until', '2999-01-01'], names: '--until' },
  { name: 'cost report --since after --until', argv: ['cost', 'report', '--since', '2026-11-02', '--until', '2026-11-01'], names: '--since' },
  { name: 'cost report --by unknown', argv: ['cost', 'report', '--by', 'week'], names: '--by' },
  { name: 'cost report --csv with --json', argv: ['cost', 'report', '--csv', '--json'], names: '--csv' },
  { name: 'queue redrive --max 0', argv: ['queue', 'redrive', '--max', '0', '--yes'], names: '--max' },
  { name: 'queue redrive not interactive without --yes', argv: ['queue', 'redrive'], names: '--yes' },
  { name: 'queue stats unknown flag', argv: ['queue', 'stats', '--watch'], names: '--watch' },
  { name: 'runtime publish unknown flag', argv: ['runtime', 'publish', '--force'], names: '--force' },
  { name: 'runtime deploy --max-concurrency 0', argv: ['runtime', 'deploy', '--yes', '--max-concurrency', '0'], names: '--max-concurrency' },
  { name: 'runtime deploy --max-concurrency above 50', argv: ['runtime', 'deploy', '--yes', '--max-concurrency', '51'], names: '--max-concurrency' },
  { name: 'runtime deploy --timeout not a duration', argv: ['runtime', 'deploy', '--yes', '--timeout', 'soon'], names: '--timeout' },
  { name: 'runtime deploy --timeout below 10s', argv: ['runtime', 'deploy', '--yes', '--timeout', '1s'], names: '--timeout' },
  { name: 'runtime deploy --from a missing folder', argv: ['runtime', 'deploy', '--yes', '--from', 'no-such-runtime'], names: '--from' },
  { name: 'runtime deploy --from a folder that is not the runtime', argv: ['runtime', 'deploy', '--yes', '--from', '.'], names: '--from' },
  { name: 'runtime deploy --from a file that is not a wheel', argv: ['runtime', 'deploy', '--yes', '--from', 'prompts.jsonl'], files: batch('{}\n'), names: '--from' },
  { name: 'runtime deploy --node malformed', argv: ['runtime', 'deploy', '--yes', '--node', 'i-bad'], names: '--node' },
  { name: 'runtime deploy --node with --all', argv: ['runtime', 'deploy', '--yes', '--all', '--node', 'i-0123456789abcdef0'], names: '--node and --all' },
  { name: 'runtime deploy not interactive without --yes', argv: ['runtime', 'deploy'], names: '--yes' },
  // spot
  { name: 'spot terminate a malformed instance id', argv: ['spot', 'terminate', 'i-bad', '--yes'], names: '"i-bad"' },
  { name: 'spot terminate without IDs, --all or --launch-id', argv: ['spot', 'terminate', '--yes'], names: '--launch-id' },
  { name: 'spot terminate with two selectors', argv: ['spot', 'terminate', '--all', '--launch-id', 'l1', '--yes'], names: '--all and --launch-id' },
  { name: 'spot terminate not interactive without --yes', argv: ['spot', 'terminate', '--all'], names: '--yes' },
  { name: 'spot list with an unexpected argument', argv: ['spot', 'list', 'i-0123456789abcdef0'], names: '"i-0123456789abcdef0"' },
  // ami (the AWS-side refusals, an AMI not found or not available, are in test/integration/ami-manage.test.ts)
  { name: 'ami prune --keep negative', argv: ['ami', 'prune', '--keep', '-1', '--yes'], names: '--keep' },
  { name: 'ami prune --keep above 100', argv: ['ami', 'prune', '--keep', '101', '--yes'], names: '--keep' },
  { name: 'ami prune --keep not a number', argv: ['ami', 'prune', '--keep', 'all', '--yes'], names: '--keep' },
  { name: 'ami prune --older-than not a duration', argv: ['ami', 'prune', '--older-than', 'last week', '--yes'], names: '--older-than' },
  { name: 'ami prune --older-than below a minute', argv: ['ami', 'prune', '--older-than', '5s', '--yes'], names: '--older-than' },
  { name: 'ami prune not interactive without --yes', argv: ['ami', 'prune'], names: '--yes' },
  { name: 'ami default not an AMI id', argv: ['ami', 'default', 'ubuntu-22.04'], names: '"ubuntu-22.04"' },
  { name: 'ami default an AMI id of the wrong length', argv: ['ami', 'default', 'ami-123'], names: '"ami-123"' },
  { name: 'ami default AMI and --clear', argv: ['ami', 'default', 'ami-0123456789abcdef0', '--clear'], names: '--clear' },
  { name: 'ami list with an unexpected argument', argv: ['ami', 'list', 'ami-0123456789abcdef0'], names: '"ami-0123456789abcdef0"' },
  // models: the folder and --model are checked before any read (a push that would replace a model asks after reading its manifest: test/integration/models-push.test.ts)
  { name: 'models push without DIR', argv: ['models', 'push', '--model', 'sdxl'], names: 'DIR' },
  { name: 'models push without --model', argv: ['models', 'push', 'home'], names: '--model is required: one of flux-dev, flux-schnell, sdxl, tiny' },
  { name: 'models push --model unknown', argv: ['models', 'push', 'home', '--model', 'flux-pro'], names: '--model' },
  { name: 'models push DIR missing', argv: ['models', 'push', 'no-such-model', '--model', 'sdxl'], names: 'DIR "' },
  { name: 'models push DIR a file', argv: ['models', 'push', 'weights.safetensors', '--model', 'sdxl'], files: { 'weights.safetensors': 'not a folder' }, names: 'not a folder' },
  { name: 'models push DIR an empty folder', argv: ['models', 'push', 'home', '--model', 'tiny'], names: 'no files to push' },
  { name: 'models push --concurrency 0', argv: ['models', 'push', '.', '--model', 'tiny', '--concurrency', '0'], names: '--concurrency' },
  { name: 'models push --concurrency above 64', argv: ['models', 'push', '.', '--model', 'tiny', '--concurrency', '65'], names: '--concurrency' },
  { name: 'models push --json without --model (JSON error document)', argv: ['models', 'push', 'home', '--json'], names: '--model' },
  { name: 'models list with an unexpected argument', argv: ['models', 'list', 'sdxl'], names: '"sdxl"' },
  // init
  { name: 'init --bucket not a bucket name', argv: ['init', '--stack', 'new', '--bucket', 'Bad_Bucket', '--yes'], names: 'bucket' },
  { name: 'init --max-price negative', argv: ['init', '--stack', 'new', '--bucket', 'ok-bucket', '--max-price', '-1', '--yes'], names: '--max-price' },
  { name: 'init --model unknown', argv: ['init', '--stack', 'new', '--bucket', 'ok-bucket', '--model', 'flux-pro', '--yes'], names: '--model' },
  { name: 'init --instance-types not instance types', argv: ['init', '--stack', 'new', '--bucket', 'ok-bucket', '--instance-types', 'big,gpu', '--yes'], names: 'instance' },
  // local
  { name: 'local up --workers 1.5', argv: ['local', 'up', '--workers', '1.5'], names: '--workers' },
  { name: 'local interrupt with no node', argv: ['local', 'interrupt'], names: 'NODE' },
  { name: 'local interrupt --in 2h', argv: ['local', 'interrupt', 'i-0123456789abcdef0', '--in', '2h'], names: '--in' },
  { name: 'local interrupt --action reboot', argv: ['local', 'interrupt', 'i-0123456789abcdef0', '--action', 'reboot'], names: '--action' },
  { name: 'local up --workers 17', argv: ['local', 'up', '--workers', '17'], names: '--workers' },
  { name: 'local up --port 70000', argv: ['local', 'up', '--port', '70000'], names: '--port' },
  { name: 'local up --timeout bad duration', argv: ['local', 'up', '--timeout', 'forever'], names: '--timeout' },
  { name: 'local down --timeout bad duration', argv: ['local', 'down', '--timeout', '-5s'], names: '--timeout' },
  // userdata
  { name: 'userdata render --var without =', argv: ['userdata', 'render', '--var', 'region'], names: '--var' },
  { name: 'userdata render --var bad name', argv: ['userdata', 'render', '--var', '1x=2'], names: '--var' },
  { name: 'userdata render --template missing', argv: ['userdata', 'render', '--template', 'no-such-template'], names: 'no-such-template' },
  { name: 'userdata check without a file', argv: ['userdata', 'check'], names: "'file'" },
  { name: 'userdata check a missing file', argv: ['userdata', 'check', 'missing-user-data.sh'], names: 'missing-user-data.sh' },
  { name: 'userdata check over 16 KB', argv: ['userdata', 'check', 'user-data.sh'], files: { 'user-data.sh': `#!/bin/sh\n${'echo hello\n'.repeat(2000)}` }, names: 'line 2' },
  { name: 'userdata check holding an AWS secret key', argv: ['userdata', 'check', 'user-data.sh'], files: { 'user-data.sh': '#!/bin/sh\nexport AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n' }, names: 'line 2' },
  // config, local status
  { name: 'config show with an unexpected argument', argv: ['config', 'show', 'region'], names: '"region"' },
  { name: 'local status unknown flag', argv: ['local', 'status', '--watch'], names: '--watch' },
  { name: 'jobs cancel without a job id', argv: ['jobs', 'cancel'], names: 'jobId' },
  { name: 'init adding a stack not interactive without --yes', argv: ['init', '--stack', 'new', '--bucket', 'ok-bucket'], names: '--yes' },
  // global flags and environment
  { name: 'unknown command', argv: ['frobnicate'], names: 'frobnicate' },
  { name: '--stack unknown', argv: ['--stack', 'prod', 'queue', 'stats'], names: 'prod' },
  { name: '--stack invalid name', argv: ['--stack', 'my stack!', 'queue', 'stats'], names: 'my stack!' },
  { name: '--region not a region', argv: ['--region', 'mars-1', 'queue', 'stats'], names: '--region' },
  { name: '--endpoint-url not a URL', argv: ['--endpoint-url', 'localhost', 'queue', 'stats'], names: '--endpoint-url' },
  { name: '--config file missing', argv: ['--config', 'nope.json', 'queue', 'stats'], names: '--config' },
  { name: 'FLUXER_STACK unknown', argv: ['queue', 'stats'], env: { FLUXER_STACK: 'staging' }, names: 'staging' },
  { name: 'FLUXER_VOLUME_SIZE not a number', argv: ['queue', 'stats'], env: { FLUXER_VOLUME_SIZE: 'big' }, names: 'FLUXER_VOLUME_SIZE' },
  { name: 'FLUXER_MAX_PRICE negative', argv: ['queue', 'stats'], env: { FLUXER_MAX_PRICE: '-3' }, names: 'FLUXER_MAX_PRICE' },
  // the config file
  { name: 'config malformed JSON (trailing comma)', argv: ['queue', 'stats'], config: '{\n  "defaultStack": "dev",\n  "stacks": {},\n}\n', names: 'line' },
  { name: 'config not an object', argv: ['queue', 'stats'], config: '["dev"]', names: 'JSON object' },
  { name: 'config unknown top-level key', argv: ['queue', 'stats'], config: { ...GOOD_CONFIG, stack: 'dev' }, names: '"stack"' },
  { name: 'config unknown stack key', argv: ['queue', 'stats'], config: withDev({ buckett: 'x' }), names: 'stacks.dev.buckett' },
  { name: 'config volumeSize a string', argv: ['queue', 'stats'], config: withDev({ volumeSize: '100' }), names: 'stacks.dev.volumeSize' },
  { name: 'config instanceTypes a string', argv: ['queue', 'stats'], config: withDev({ instanceTypes: 'g5.xlarge' }), names: 'stacks.dev.instanceTypes' },
  { name: 'config maxPrice 0', argv: ['queue', 'stats'], config: withDev({ maxPrice: 0 }), names: 'stacks.dev.maxPrice' },
  { name: 'config model unknown', argv: ['queue', 'stats'], config: withDev({ model: 'flux-pro' }), names: 'stacks.dev.model' },
  { name: 'config region invalid', argv: ['queue', 'stats'], config: withDev({ region: 'Mars' }), names: 'stacks.dev.region' },
  { name: 'config prefix without trailing slash', argv: ['queue', 'stats'], config: withDev({ prefix: 'jobs' }), names: 'stacks.dev.prefix' },
  { name: 'config visibilityTimeout too short', argv: ['queue', 'stats'], config: withDev({ visibilityTimeout: 10 }), names: 'stacks.dev.visibilityTimeout' },
  { name: 'config jobRetentionDays null', argv: ['queue', 'stats'], config: withDev({ jobRetentionDays: null }), names: 'stacks.dev.jobRetentionDays' },
  { name: 'config defaultStack a number', argv: ['queue', 'stats'], config: { ...GOOD_CONFIG, defaultStack: 5 }, names: 'defaultStack' },
  { name: 'config stacks an array', argv: ['queue', 'stats'], config: { defaultStack: 'dev', stacks: [] }, names: 'stacks' },
  { name: 'config unknown key with --json (JSON error document)', argv: ['jobs', 'list', '--json'], config: withDev({ retentionDays: 3 }), names: 'stacks.dev.retentionDays' },
  { name: 'config defaultStack not defined', argv: ['jobs', 'list'], config: { ...GOOD_CONFIG, defaultStack: 'prod' }, names: 'prod' },
];

