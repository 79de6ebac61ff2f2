// `fluxer doctor`: is this stack ready to run nodes? One ok / warn / fail row per check, each with
// a hint; exit 1 when any check fails (warnings alone exit 0).
import { defineCommand } from '../cli/command.js';
import { ExitCode } from '../lib/errors.js';
import type { Output } from '../cli/output.js';
import { durationFlag } from '../cli/parse.js';
import { TEMPLATES_DIR } from '../lib/paths.js';
import type { CheckRow, CheckStatus, DoctorReport } from '../core/doctor.js';

/** The services doctor calls, by their AWS_ENDPOINT_URL_<NAME> suffix. */
const SERVICES = ['STS', 'SQS', 'S3', 'EC2', 'SERVICE_QUOTAS', 'IAM'];
const DEFAULT_TIMEOUT_MS = 10_000;

export default defineCommand<{ timeout?: number }>({
  name: 'doctor',
  description:
    'Checks what the current stack needs before nodes can run: credentials, region, the spot vCPU quota ' +
    'for its instance types, queue and dead-letter queue, bucket (public access blocked), AMI, instance ' +
    'profile, node role (its policies) and security group (no inbound rule), and user data size. Checks run at once, each with its own time limit; one failing check ' +
    'hides none of the others. Exit 1 when any check fails (warnings alone: 0). See docs/doctor.md.',
  options: [
    {
      flags: '--timeout <duration>',
      description: 'time limit for each check, 1s to 5m (default 10s)',
      parse: durationFlag('--timeout', { minMs: 1_000, maxMs: 300_000 }),
    },
  ],
  examples: ['fluxer doctor', 'fluxer doctor --stack prod --json', 'fluxer doctor --endpoint-url http://127.0.0.1:5000'],
  async handler(ctx, _args, opts) {
    const { runDoctor, summarize, userDataCheck } = await import('../core/doctor.js');
    const config = ctx.config();
    const aws = ctx.aws();
    const report = await runDoctor({
      stack: config.stack,
      settings: config.settings,
      ports: aws,
      userData: userDataCheck({ config, templatesDir: TEMPLATES_DIR, cwd: ctx.cwd, sqs: () => aws.sqs() }),
      endpoint: describeEndpoints(SERVICES.map((s) => [s, aws.endpointFor(s)])),
      timeoutMs: opts.timeout ?? DEFAULT_TIMEOUT_MS,
      clock: ctx.clock,
      signal: ctx.signal,
    }).finally(() => {
      // A check that timed out may still be waiting on the endpoint: end it so fluxer exits now.
      aws.close();
    });
    const counts = summarize(report.checks);
    const summary = `${report.checks.length} checks: ${counts.ok} ok, ${counts.warn} warning${counts.warn === 1 ? '' : 's'}, ${counts.fail} failed`;
    ctx.out.result(report, () => {
      if (!ctx.out.stdoutIsTTY) {
        // Piped: tab-separated rows for scripts; the context lines go to stderr.
        ctx.out.info(heading(report));
        ctx.out.info(summary);
        return ctx.out.table(['STATUS', 'CHECK', 'DETAIL', 'HINT'], report.checks.map((c) => [c.status, c.id, c.detail, c.hint]));
      }
      return `${heading(report)}\n\n${renderRows(ctx.out, report.checks)}\n\n${summary}`;
    });
    return report.ok ? ExitCode.Ok : ExitCode.Failed;
  },
});

function heading(report: DoctorReport): string {
  const regions = report.nodeRegion === report.region ? `region ${report.region}` : `region ${report.region}, nodes in ${report.nodeRegion}`;
  return `fluxer doctor: stack ${report.stack}, ${regions}${report.endpoint ? `, endpoint ${report.endpoint} (not AWS)` : ''}`;
}

const MARKS: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗' };

/** Aligned rows for a terminal: mark, title, detail; the hint under any row that is not ok. */
function renderRows(out: Output, rows: CheckRow[]): string {
  const width = Math.max(...rows.map((r) => r.title.length));
  const color = (s: CheckStatus, text: string) => (s === 'ok' ? out.out.green(text) : s === 'warn' ? out.out.yellow(text) : out.out.red(text));
  return rows
    .map((r) => {
      const line = `${color(r.status, MARKS[r.status])} ${r.title.padEnd(width)}  ${r.detail}`;
      return r.hint && r.status !== 'ok' ? `${line}\n  ${' '.repeat(width)}  ${out.out.dim(`→ ${r.hint}`)}` : line;
    })
    .join('\n');
}

/** One endpoint when every service uses the same one; per service when they differ; null for AWS. */
function describeEndpoints(endpoints: Array<[string, string | undefined]>): string | undefined {
  const distinct = [...new Set(endpoints.map(([, e]) => e))];
  if (distinct.length === 1) return distinct[0];
  return endpoints.map(([s, e]) => `${s}=${e ?? 'AWS'}`).join(', ');
}
