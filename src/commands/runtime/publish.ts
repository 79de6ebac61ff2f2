// `fluxer runtime publish`: build the runtime's wheel and wheelhouse, upload them as a release named
// by its content, and (with --promote, or for the stack's first release) make it the one nodes install.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCommand } from '../../cli/command.js';
import { buildPython, localRuntime } from '../../core/release-inputs.js';
import { buildRelease, publishRelease, runProgram, type PublishResult } from '../../core/releases.js';
import { requireBucket } from '../../core/stack-resources.js';
import { RUNTIME_SOURCE_DIR, SHIPPED_RUNTIME_DIR } from '../../lib/paths.js';

interface PublishOpts {
  promote?: boolean;
  dryRun?: boolean;
}

export default defineCommand<PublishOpts>({
  name: 'publish',
  description:
    'Builds the runtime\'s wheel (the job schema inside) and a wheelhouse of its dependencies except torch (the\n' +
    'Deep Learning AMI brings torch), and uploads them under <prefix>releases/<release-id>/ with SHA256SUMS. The\n' +
    'release id is the version plus a hash of the content: identical content is the same release (nothing is\n' +
    'uploaded again). --promote records it in SSM /fluxer/<stack>/runtime-release, which nodes install; the\n' +
    'stack\'s first release is promoted anyway. Python: FLUXER_PYTHON, else the project\'s .venv (an installed CLI:\n' +
    'the one `local up` built), else python3. An installed CLI publishes the wheel it ships (built when packed).\n' +
    'See docs/releases.md.',
  options: [
    { flags: '--promote', description: 'make this release the one new nodes install' },
    { flags: '--dry-run', description: 'build and say what would be uploaded and promoted; send no write' },
  ],
  examples: ['fluxer runtime publish', 'fluxer runtime publish --promote --json', 'fluxer runtime publish --dry-run'],
  async handler(ctx, _args, opts) {
    const { settings, stack } = ctx.config();
    const bucket = requireBucket(settings, stack);
    const python = buildPython(ctx.env);
    const runtime = localRuntime({
      message: `This fluxer has neither the runtime's source (${RUNTIME_SOURCE_DIR}) nor its wheel (${SHIPPED_RUNTIME_DIR})`,
      hint: 'Reinstall the CLI from its package (`npm install -g fluxer`), or publish from a clone of the repository.',
    });
    const workDir = mkdtempSync(join(tmpdir(), 'fluxer-release-'));
    let result: PublishResult;
    try {
      const spinner = await ctx.out.spinner('Building the runtime release');
      try {
        const built = await buildRelease({
          python,
          runtime,
          workDir,
          ...(ctx.env.FLUXER_RELEASE_REQUIREMENTS ? { requirementsFile: ctx.env.FLUXER_RELEASE_REQUIREMENTS } : {}),
          run: runProgram,
          env: ctx.env,
          progress: (m) => spinner.update(m),
        });
        const aws = ctx.aws();
        const [s3, ssm] = await Promise.all([aws.s3(), aws.ssm()]);
        result = await publishRelease({ s3, ssm }, built, { bucket, prefix: settings.prefix, stack, promote: opts.promote ?? false, dryRun: opts.dryRun ?? false, progress: (m) => spinner.update(m) });
      } finally {
        spinner.stop();
      }
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
    ctx.out.result(result, () => formatPublish(result));
    const would = result.dryRun ? 'would be ' : '';
    ctx.out.success(
      `Release ${result.id}: ${result.uploaded ? `${would}uploaded to s3://${bucket}/${result.prefix}` : 'already published (nothing uploaded)'}` +
        `${result.promoted ? `; ${would}promoted in ${result.parameter}` : ''}.`,
    );
  },
});

function formatPublish(r: PublishResult): string {
  const lines = [`release   ${r.id}`, `location  s3://${r.bucket}/${r.prefix}`, `promoted  ${r.promoted ? 'yes' : 'no'} (${r.parameter}: ${r.promoted ? `${r.previous ?? 'none'} → ${r.id}` : (r.previous ?? 'none')})`];
  for (const f of r.files) lines.push(`  ${f.sha256.slice(0, 12)}  ${String(f.bytes).padStart(10)}  ${f.name}`);
  return lines.join('\n');
}
