// `fluxer jobs status ID`: the job's status document, as the runtime last wrote it.
import { defineCommand } from '../../cli/command.js';
import { checkJobId } from '../../core/ids.js';
import { requireStatus, type JobStatus } from '../../core/jobs.js';
import { jobLocation } from '../../core/stack-resources.js';
import { describeJobError, formatSeconds } from '../../core/tail.js';

function describeStatus(s: JobStatus): string {
  const p = s.progress;
  const t = s.timings ?? {};
  const took = t.startedAt && t.finishedAt ? formatSeconds(Date.parse(t.finishedAt) - Date.parse(t.startedAt)) : undefined;
  const rows: Array<[string, string | undefined]> = [
    ['id', s.id],
    ['state', s.state],
    ['model', s.model],
    ['progress', p ? `image ${p.image}/${p.count} step ${p.step}/${p.steps}` : undefined],
    ['attempt', String(s.attempt)],
    ['node', [s.node?.instanceId, s.node?.instanceType, s.node?.az].filter(Boolean).join(' ') || undefined],
    ['submitted', t.submittedAt ?? undefined],
    ['started', t.startedAt ?? undefined],
    ['finished', t.finishedAt ? `${t.finishedAt}${took ? ` (${took})` : ''}` : undefined],
    ['outputs', s.outputs?.length ? s.outputs.join('\n          ') : undefined],
    ['error', describeJobError(s) || undefined],
  ];
  return rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k.padEnd(10)}${v}`).join('\n');
}

export default defineCommand({
  name: 'status',
  args: [{ name: 'jobId', description: 'the job id printed by `fluxer generate`', required: true }],
  examples: ['fluxer jobs status 019ad3f2-7c4e-7a21-9b3d-2f6e8a1c0d45', 'fluxer jobs status ID --json | jq .state'],
  async handler(ctx, [id]) {
    checkJobId(id!);
    const loc = jobLocation(ctx.config());
    const status = await requireStatus(await ctx.aws().s3(), loc, id!);
    ctx.out.result(status, () => describeStatus(status));
  },
});
