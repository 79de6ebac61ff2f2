// `fluxer ami default [AMI]`: shows or sets the AMI the stack's new nodes launch from (SSM
// /fluxer/<stack>/ami in the nodes' region, which `ami: latest` resolves to first); --clear removes it.
import { defineCommand } from '../../cli/command.js';
import { AMI_ID, clearDefaultAmi, setDefaultAmi, showDefaultAmi } from '../../core/ami/default.js';
import { defaultAmiParameter } from '../../core/launch/spec.js';
import { UsageError } from '../../lib/errors.js';

interface DefaultOpts {
  clear?: boolean;
}

export default defineCommand<DefaultOpts>({
  name: 'default',
  description:
    "Without AMI: shows the stack's default AMI, the SSM parameter /fluxer/<stack>/ami in the nodes' region (spotRegion,\n" +
    'else region), and what `ami: latest` resolves to now (the default, else the newest available AMI baked for the\n' +
    "stack, else AWS's Deep Learning AMI). With AMI: checks it exists in that region and is available (else exit 2,\n" +
    'nothing changed), then sets the parameter, for every operator of the stack. --clear removes it, so `latest`\n' +
    "falls back to the newest baked AMI. A stack whose \"ami\" is an id, not \"latest\", launches from that id. See docs/ami.md.",
  args: [{ name: 'AMI', description: 'the AMI id (ami-…) to make the default' }],
  options: [{ flags: '--clear', description: 'remove the default: `latest` resolves to the newest baked AMI again' }],
  examples: ['fluxer ami default', 'fluxer ami default ami-0123456789abcdef0', 'fluxer ami default --clear --json'],
  async handler(ctx, args, opts) {
    const [ami] = args;
    if (ami !== undefined && !AMI_ID.test(ami)) throw new UsageError(`AMI ${JSON.stringify(ami)}: not an AMI id (ami- and 8 or 17 hex digits)`, { code: 'BadAmiId' });
    if (ami !== undefined && opts.clear) throw new UsageError('AMI and --clear: give one of them', { hint: '`fluxer ami default AMI` sets the default; `fluxer ami default --clear` removes it.' });
    const { settings, stack } = ctx.config();
    const region = settings.spotRegion ?? settings.region;
    const aws = ctx.aws();
    const [ec2, ssm] = await Promise.all([aws.ec2(region), aws.ssm(region)]);
    const parameter = defaultAmiParameter(stack);
    if (settings.ami !== 'latest') ctx.out.warn(`stack "${stack}" sets "ami" to ${settings.ami}: its nodes launch from that, not from the default (only "latest" reads ${parameter})`);

    if (ami !== undefined) {
      const image = await setDefaultAmi({ ec2, ssm }, stack, ami, region);
      ctx.out.result({ region, parameter, set: true, image }, () => `Default AMI of stack "${stack}": ${image.imageId}${image.name ? ` (${image.name})` : ''}`);
      ctx.out.info(`Set ${parameter} in ${region}; new nodes of stack "${stack}" with "ami": "latest" launch from it.`);
      return;
    }
    if (opts.clear) {
      const removed = await clearDefaultAmi({ ec2, ssm }, stack);
      const now = await showDefaultAmi({ ec2, ssm }, stack);
      ctx.out.result({ region, parameter, cleared: removed, latest: now.latest }, () => '');
      ctx.out.info(`${removed ? `Removed ${parameter}` : `${parameter} was not set`} in ${region}. "latest" now resolves to ${now.latest ? `${now.latest.imageId} (${now.latest.source})` : 'nothing'}.`);
      return;
    }
    const shown = await showDefaultAmi({ ec2, ssm }, stack);
    ctx.out.result({ region, ...shown }, () => {
      if (shown.value && shown.image) return `${shown.image.imageId}\t${shown.image.name ?? ''}\t${shown.image.state}\t(${parameter})`;
      return shown.latest ? `${shown.latest.imageId}\t${shown.latest.name ?? ''}\t${shown.latest.state}\t(not set: "latest" resolves to ${shown.latest.source})` : '';
    });
    if (shown.value && !shown.image) ctx.out.warn(`${parameter} names ${shown.value}, which is not found in ${region}: "latest" skips it`);
    if (!shown.value) ctx.out.info(`No default set (${parameter} in ${region}): "latest" resolves to ${shown.latest ? `${shown.latest.imageId}, the ${shown.latest.source}` : 'nothing'}. Set one with \`fluxer ami default AMI\`.`);
    if (shown.value && shown.image && shown.image.state !== 'available') ctx.out.warn(`the default ${shown.value} is ${shown.image.state}`);
  },
});
