// A stack with no promoted runtime release has nothing for its nodes to install: `spot launch` then
// publishes the local build as the stack's first release (the publish library, as `runtime publish`
// does; the first release is promoted anyway) and says so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Port } from '../../aws/s3.js';
import type { SsmPort } from '../../aws/ssm.js';
import { hasErrorCode, isNotFound } from '../../aws/errors.js';
import type { StackSettings } from '../../config/schema.js';
import { buildPython, localRuntime } from '../release-inputs.js';
import { buildRelease, publishRelease, releaseParameterName, runProgram } from '../releases.js';
import { requireBucket } from '../stack-resources.js';

export async function ensureRuntimeRelease(
  ports: { ssm: Pick<SsmPort, 'getParameter' | 'putParameter'>; s3: Pick<S3Port, 'getObject' | 'putObject'> },
  opts: { settings: StackSettings; stack: string; env: NodeJS.ProcessEnv; progress: (m: string) => void },
): Promise<{ id: string; published: boolean }> {
  try {
    const current = (await ports.ssm.getParameter({ Name: releaseParameterName(opts.stack) })).Parameter?.Value;
    if (current) return { id: current, published: false };
  } catch (err) {
    if (!isNotFound(err, 'ssm') && !hasErrorCode(err, 'ParameterNotFound')) throw err;
  }
  const bucket = requireBucket(opts.settings, opts.stack);
  const python = buildPython(opts.env);
  const workDir = mkdtempSync(join(tmpdir(), 'fluxer-release-'));
  try {
    opts.progress(`Stack "${opts.stack}" has no runtime release yet: publishing the local build`);
    const built = await buildRelease({
      python,
      runtime: localRuntime({
        message: 'No runtime release is promoted for this stack, and this fluxer has neither the runtime\'s source nor its wheel',
        hint: 'Publish a release from a clone (`fluxer runtime publish`), or reinstall the CLI from its package.',
      }),
      workDir,
      ...(opts.env.FLUXER_RELEASE_REQUIREMENTS ? { requirementsFile: opts.env.FLUXER_RELEASE_REQUIREMENTS } : {}),
      run: runProgram,
      env: opts.env,
      progress: opts.progress,
    });
    const published = await publishRelease(ports, built, { bucket, prefix: opts.settings.prefix, stack: opts.stack, promote: true, dryRun: false, progress: opts.progress });
    return { id: published.id, published: true };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}
