// `fluxer ami list`: the stack's AMIs, newest first, with their size, snapshots, release and model,
// whether it is the stack's default, and the nodes and launch templates that use it.
import { defineCommand } from '../../cli/command.js';
import { listStackImages, type StackImage } from '../../core/ami/images.js';
import { defaultAmiParameter, readDefaultAmi } from '../../core/launch/spec.js';

export default defineCommand<Record<string, never>>({
  name: 'list',
  description:
    "Lists the stack's AMIs (owned by this account, tagged fluxer:managed=true, fluxer:stack=<stack>, fluxer:role=ami)\n" +
    "in the nodes' region (spotRegion, else region), newest first: id, name, created, state, size (GiB, the sum of its\n" +
    "snapshots' volumes), snapshots, release and model (tags fluxer:release, fluxer:model), whether it is the stack's\n" +
    'default (SSM /fluxer/<stack>/ami, `fluxer ami default`), and what uses it: instances launched from it (pending,\n' +
    "running, stopping, stopped; any stack) and the stack's launch templates whose $Latest or $Default version names it.\n" +
    '`fluxer ami prune` never removes the default nor an image in use. See docs/ami.md.',
  examples: ['fluxer ami list', 'fluxer ami list --json | jq -r \'.images[] | select(.isDefault) | .imageId\''],
  async handler(ctx) {
    const { settings, stack } = ctx.config();
    const region = settings.spotRegion ?? settings.region;
    const aws = ctx.aws();
    const [ec2, ssm] = await Promise.all([aws.ec2(region), aws.ssm(region)]);
    const defaultAmi = await readDefaultAmi(ssm, stack);
    const images = await listStackImages(ec2, { stack, defaultAmi });
    ctx.out.result({ region, defaultAmi: defaultAmi ?? null, images }, () => (images.length ? ctx.out.table(HEADERS, images.map(toCells)) : ''));
    if (!images.length) {
      ctx.out.info(`No AMIs of stack "${stack}" in ${region}. Bake one from a node with \`fluxer ami bake --from NODE\`.`);
    }
    if (defaultAmi && !images.some((i) => i.imageId === defaultAmi)) {
      ctx.out.info(`The stack's default (${defaultAmiParameter(stack)}) is ${defaultAmi}, not one of these: \`fluxer ami default\` shows it.`);
    }
  },
});

const HEADERS = ['ID', 'NAME', 'CREATED', 'STATE', 'SIZE', 'SNAPSHOTS', 'RELEASE', 'MODEL', 'DEFAULT', 'NODES', 'TEMPLATES'];

function toCells(i: StackImage): Array<string | number | null> {
  return [
    i.imageId,
    i.name,
    i.createdAt ? i.createdAt.replace(/\.\d{3}Z$/, 'Z') : null,
    i.stateReason ? `${i.state} (${i.stateReason})` : i.state,
    `${i.sizeGiB} GiB`,
    i.snapshots.join(',') || null,
    i.release,
    i.model,
    i.isDefault ? 'default' : null,
    i.nodes.map((n) => n.instanceId).join(',') || null,
    i.launchTemplates.map((t) => `${t.name || t.launchTemplateId}:${t.versions.map((v) => v.split(' ')[0]).join('/')}`).join(',') || null,
  ];
}
