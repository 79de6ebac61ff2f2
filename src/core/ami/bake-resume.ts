// `fluxer ami bake --resume NAME`: a bake that was stopped (Ctrl-C, a killed CLI, a lost machine) is
// found by its journal, or by its image's name and tags where this machine has no journal, and
// continued: the wait, the cleanup of a failed one, or the check that no image was ever made.
import { FluxerError, UsageError } from '../../lib/errors.js';
import { isManagedBy, TAG_STACK } from '../tags.js';
import { findImageByName } from './bake-image.js';
import { BakeLog, cleanupBake, followImage, interruptedBake, newBakeRecord, TAG_SOURCE_NODE, type BakeDeps, type BakeResult } from './bake.js';
import { readBake, type BakeRecord } from './journal.js';

export async function resumeBake(deps: BakeDeps, opts: { name: string; stack: string; region: string; timeoutMs: number; terminateSource: boolean }): Promise<BakeResult> {
  let record: BakeRecord | undefined = readBake(deps.journalDir, opts.name);
  if (record && record.stack !== opts.stack) throw new UsageError(`Bake ${opts.name} is of stack "${record.stack}", not "${opts.stack}"`, { code: 'BakeOfOtherStack', hint: `Add --stack ${record.stack}.` });
  if (!record) {
    const image = await findImageByName(deps.ec2, opts.name);
    const tags = Object.fromEntries((image?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    if (!image?.ImageId) throw new UsageError(`No bake named ${opts.name}: no journal on this machine and no image of that name in ${opts.region}`, { code: 'BakeNotFound', hint: '`fluxer ami list` shows the stack\'s images.' });
    if (!isManagedBy(tags, opts.stack)) throw new UsageError(`Image ${image.ImageId} (${opts.name}) is not fluxer's for stack "${opts.stack}"${tags[TAG_STACK] ? ` (stack "${tags[TAG_STACK]}")` : ''}`, { code: 'BakeOfOtherStack' });
    record = { ...newBakeRecord(deps.clock, { name: opts.name, stack: opts.stack, region: opts.region, sourceNode: tags[TAG_SOURCE_NODE] ?? '' }), imageId: image.ImageId, state: 'waiting' };
  }
  const log = new BakeLog(record, deps.journalDir, deps.clock);
  const result: BakeResult = { imageId: record.imageId ?? null, name: record.name, state: record.state, snapshots: record.snapshots ?? [], sourceNode: record.sourceNode, cleaned: null, source: { state: 'unknown', terminated: false }, weights: [], prepared: [] };
  try {
    if (record.state === 'cleaned') {
      Object.assign(result, { state: 'cleaned', cleaned: record.cleanup ?? null });
      result.failure = new FluxerError(`Bake ${record.name} failed earlier and was cleaned up (${[...(record.cleanup?.images ?? []), ...(record.cleanup?.snapshots ?? [])].join(', ') || 'nothing was made'})`, { code: 'BakeCleaned', hint: 'Start a new bake.' });
      return result;
    }
    if (!record.imageId) {
      // Stopped before CreateImage answered: the name says whether it made one.
      const found = await findImageByName(deps.ec2, record.name);
      if (found?.ImageId) {
        deps.progress(`Found ${found.ImageId} by its name ${record.name}`);
        log.set({ imageId: found.ImageId, state: 'waiting' });
        result.imageId = found.ImageId;
      } else {
        log.set({ state: 'cleaned', cleanup: { images: [], snapshots: [] } });
        Object.assign(result, { state: 'cleaned', cleaned: { images: [], snapshots: [] } });
        result.failure = new FluxerError(`Bake ${record.name} stopped before any image was made: nothing to follow or clean`, { code: 'BakeNeverCreated', hint: record.sourceNode ? `The source may be left drained: \`fluxer runtime restart --node ${record.sourceNode}\`.` : 'Start a new bake.' });
        return result;
      }
    }
    if (record.state === 'cleaning' || record.state === 'failed') {
      const cleaned = await cleanupBake(deps, log);
      Object.assign(result, { state: log.record.state, cleaned });
      if (cleaned.problems.length) result.failure = new FluxerError(`Bake ${record.name}: the cleanup is unfinished: ${cleaned.problems.join('; ')}`, { code: 'BakeCleanupUnfinished', hint: '`fluxer ami prune` finishes it.' });
      else result.failure = new FluxerError(`Bake ${record.name} had failed; cleaned up: ${[...cleaned.images, ...cleaned.snapshots].join(', ')}`, { code: 'ImageFailed' });
      return result;
    }
    deps.progress(`Resuming bake ${record.name}: ${record.imageId}`);
    log.set({ state: 'waiting' });
    await followImage(deps, log, result, { timeoutMs: opts.timeoutMs });
    if (result.state === 'available' && opts.terminateSource && record.sourceNode) {
      await deps.ec2.terminateInstances({ InstanceIds: [record.sourceNode] });
      result.source = { state: 'terminated', terminated: true };
      deps.progress(`Terminated the source ${record.sourceNode} (--terminate-source)`);
    }
    return result;
  } catch (err) {
    if (deps.signal.aborted) throw interruptedBake(log);
    throw err;
  }
}
