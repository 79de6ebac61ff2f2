// `fluxer userdata check FILE`: render's size and secret checks on user data made elsewhere (plain,
// gzip, or base64 of either), e.g. in CI before a launch template is updated.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineCommand } from '../../cli/command.js';
import { ExitCode, UsageError } from '../../lib/errors.js';

export default defineCommand({
  name: 'check',
  description:
    'Reads FILE as EC2 would receive it (plain text, gzip, or base64 of either), and checks that it fits in ' +
    'EC2\'s 16,384-byte limit and carries no AWS key, Hugging Face token or private key. Prints a report; exits 2 ' +
    'when it does not fit or holds a secret (secrets are shown masked), 0 otherwise. See docs/userdata.md.',
  args: [{ name: 'file', description: 'the user data file', required: true }],
  examples: ['fluxer userdata check node.yaml', 'fluxer userdata check node.b64 --json'],
  async handler(ctx, args) {
    const { inspectUserData, UnreadableUserData } = await import('../../core/userdata/inspect.js');
    const { SECRET_HINT, describeFinding } = await import('../../core/secrets.js');
    const { describePart, formatBytes } = await import('../../core/userdata/payload.js');
    const file = args[0]!;
    let bytes: Buffer;
    try {
      bytes = readFileSync(resolve(ctx.cwd, file));
    } catch (err) {
      throw new UsageError(`Cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { code: 'FileUnreadable' });
    }
    let report;
    try {
      report = inspectUserData(bytes);
    } catch (err) {
      if (err instanceof UnreadableUserData) throw new UsageError(`${file}: ${err.message}`, { code: 'UserDataUnreadable' });
      throw err;
    }

    const problems: UsageError[] = [];
    if (!report.fits) {
      const shrink = report.gzip ? 'Move large files into the AMI or fetch them from S3 at boot.' : report.gzippedBytes <= report.limit ? `Gzip it (it would be ${formatBytes(report.gzippedBytes)}): fluxer userdata render gzips automatically.` : 'Even gzipped it does not fit: move large files into the AMI or fetch them from S3 at boot.';
      problems.push(
        new UsageError(`${file} is ${formatBytes(report.bytes)}, over EC2's ${formatBytes(report.limit)} limit. Largest parts:\n${report.largestParts.map((p) => `  ${describePart(p)}`).join('\n')}`, {
          code: 'UserDataTooLarge',
          hint: shrink,
        }),
      );
    }
    if (report.secrets.length > 0) {
      problems.push(new UsageError(`${file} carries a secret at ${report.secrets.map(describeFinding).join(', ')}`, { code: 'SecretInUserData', hint: SECRET_HINT }));
    }

    ctx.out.result(
      { file, ...report, secrets: report.secrets.map(({ kind, label, line, column, masked }) => ({ kind, label, line, column, masked })), ok: problems.length === 0 },
      () =>
        ctx.out.table(
          ['CHECK', 'RESULT'],
          [
            ['encoding', report.encoding],
            ['size', `${formatBytes(report.bytes)} of ${formatBytes(report.limit)}${report.gzip ? ` (${formatBytes(report.plainBytes)} unzipped)` : ''}`],
            ['fits', report.fits ? 'yes' : 'no'],
            ['secrets', report.secrets.length === 0 ? 'none' : String(report.secrets.length)],
          ],
        ),
    );
    for (const w of report.warnings) ctx.out.warn(w);
    // Under --json the report is the one document on stdout; the problems are in it.
    if (!ctx.out.json) for (const p of problems) ctx.out.error(p);
    return problems.length > 0 ? ExitCode.Usage : ExitCode.Ok;
  },
});
