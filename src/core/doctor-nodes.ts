// Doctor's check of where the stack's live nodes write. A node writes only under its own configured
// bucket and prefix (FLUXER_BUCKET/FLUXER_PREFIX) and rejects a job naming another location, so a
// node configured for another prefix of the stack's bucket takes the stack's jobs and answers them
// where `--wait` never looks. Its record lies under its own prefix: the check lists the bucket for
// recent node records anywhere in it. Liveness is S3's own clock (LastModified against the list
// response's Date header), never this machine's.
import type { StackSettings } from '../config/schema.js';
import type { CheckOutcome, DoctorPorts } from './doctor.js';
import { LIVE_NODE_WINDOW_MS, liveNodes } from './submit.js';

const RECORD = /(?:^|\/)nodes\/[^/]+\.json$/;

export async function checkNodeLocations(ports: DoctorPorts, settings: StackSettings): Promise<CheckOutcome> {
  const bucket = settings.bucket;
  if (!bucket) return { status: 'warn', detail: 'no bucket set: nodes cannot be compared with the stack', hint: 'Set "bucket", then run `fluxer setup`.' };
  const s3 = await ports.s3();
  const here = `s3://${bucket}/${settings.prefix}`;
  const listed = await s3.listObjectsV2Dated({ Bucket: bucket, MaxKeys: 1000 });
  const s3Now = listed.serverDate?.getTime();
  const elsewhere = (listed.Contents ?? []).filter(
    (o) =>
      o.Key && RECORD.test(o.Key) && !o.Key.startsWith(`${settings.prefix}nodes/`) && o.LastModified && s3Now !== undefined &&
      s3Now - o.LastModified.getTime() <= LIVE_NODE_WINDOW_MS,
  );
  const ours = await liveNodes(s3, { bucket, prefix: settings.prefix }, s3Now ?? 0);
  const mismatched = ours.filter((n) => (n.bucket !== undefined && n.bucket !== bucket) || (n.prefix !== undefined && n.prefix !== settings.prefix));
  const strays = [
    ...elsewhere.map((o) => `${o.Key!.replace(/\.json$/, '').split('/').pop()} writes to s3://${bucket}/${o.Key!.replace(/nodes\/[^/]+\.json$/, '')}`),
    ...mismatched.map((n) => `${n.instanceId ?? '?'} writes to s3://${n.bucket ?? bucket}/${n.prefix ?? ''}`),
  ];
  if (strays.length) {
    return {
      status: 'fail',
      detail: `${strays.length} live node(s) write elsewhere than the stack's ${here}: ${strays.slice(0, 5).join('; ')}`,
      hint: 'Such nodes reject the stack\'s jobs (OutputLocationMismatch) under their own prefix. Give them the stack\'s FLUXER_BUCKET and FLUXER_PREFIX (`fluxer userdata render` writes both).',
    };
  }
  if (ours.length === 0) return { status: 'ok', detail: `no live nodes (none wrote a record under ${here}nodes/ in the last ${LIVE_NODE_WINDOW_MS / 60_000} minutes)` };
  return { status: 'ok', detail: `${ours.length} live node(s), all writing to ${here}` };
}
