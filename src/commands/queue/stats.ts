// `fluxer queue stats`: how many jobs wait, run and are parked in the dead-letter queue.
import { defineCommand } from '../../cli/command.js';
import { queueStats } from '../../core/queue.js';

export default defineCommand({
  name: 'stats',
  description:
    'Reads the job queue\'s and its dead-letter queue\'s approximate counts (SQS updates them within about a\n' +
    'minute). The oldest message\'s age is reported as n/a: SQS publishes it only to CloudWatch, and peeking at\n' +
    'messages would count as a receive and push jobs toward the dead-letter queue. The note gives the\n' +
    'CloudWatch command. See docs/setup.md.',
  examples: ['fluxer queue stats', 'fluxer queue stats --stack prod --json'],
  async handler(ctx) {
    const { settings, stack } = ctx.config();
    const sqs = await ctx.aws().sqs();
    const stats = await queueStats(sqs, settings.queueName, settings.region);
    ctx.out.result({ stack, region: settings.region, ...stats }, () => {
      const dlq = stats.deadLetter;
      const rows: Array<[string, string | number]> = [
        ['queue', stats.queue.name],
        ['visible', stats.queue.visible],
        ['in flight', stats.queue.inFlight],
        ['delayed', stats.queue.delayed],
        ['dead-letter', dlq ? dlq.visible + dlq.inFlight : 'n/a'],
        ['oldest age', 'n/a'],
      ];
      return ctx.out.table(['METRIC', 'VALUE'], rows);
    });
    // Under --json the notes are in the document.
    if (!ctx.out.json) for (const note of stats.notes) ctx.out.info(`Note: ${note}`);
  },
});
