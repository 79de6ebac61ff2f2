// `fluxer ami bake --base`: an image from scratch. A builder is launched from AWS's Deep Learning AMI
// with the stack's own user data (the bootstrap installs the promoted release, as on every node), its
// node record is waited for until READY, `fluxer-runtime selftest` runs over SSM, then it is baked as
// any node is (bake.ts) — and the builder is terminated whatever happens, by the id the journal holds.
//
// The builder is on-demand, not spot: a spot reclaim in the middle would lose the bake, and the
// minutes it runs cost little more. It carries a node lifetime (the bootstrap's power-off, shutdown
// behaviour terminate), so even a CLI killed with SIGKILL leaves no builder running for long.
import type * as Sdk from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../aws/ec2.js';
import type { S3Port } from '../../aws/s3.js';
import type { SsmPort } from '../../aws/ssm.js';
import { hasErrorCode, isNotFound } from '../../aws/errors.js';
import { formatDuration } from '../../lib/duration.js';
import { FluxerError, UsageError } from '../../lib/errors.js';
import { waitForNodes } from '../launch/wait.js';
import { buildLaunchSpec, DLAMI_PARAMETER, resolveAmi, type ResolvedAmi } from '../launch/spec.js';
import { runtimeCall } from '../remote/runtime.js';
import { bakeFromNode, BakeLog, interruptedBake, newBakeRecord, NODE_WAIT_MS, type BakeDeps, type BakeOptions, type BakeResult } from './bake.js';
import { readBake } from './journal.js';

export const TAG_BAKE = 'fluxer:bake';
export const TAG_BASE_AMI = 'fluxer:base-ami';

/** The Deep Learning AMI of the region, by AWS's public parameter. */
export async function resolveBaseAmi(ports: { ec2: Pick<Ec2Port, 'describeImages'>; ssm: Pick<SsmPort, 'getParameter'> }, stack: string, region: string): Promise<ResolvedAmi> {
  let id: string | undefined;
  try {
    id = (await ports.ssm.getParameter({ Name: DLAMI_PARAMETER })).Parameter?.Value;
  } catch (err) {
    if (!isNotFound(err, 'ssm') && !hasErrorCode(err, 'ParameterNotFound')) throw err;
  }
  const ami = id ? await resolveAmi(ports, stack, id) : undefined;
  if (!ami) throw new UsageError(`No Deep Learning AMI in ${region} (SSM ${DLAMI_PARAMETER})`, { code: 'AmiNotFound', hint: 'The Deep Learning AMI is published in most regions; check the region, or bake from a running node with --from.' });
  return { ...ami, source: `Deep Learning AMI (SSM ${DLAMI_PARAMETER})` };
}

export interface BuilderLaunch {
  ami: ResolvedAmi;
  instanceType: string;
  subnetId: string;
  securityGroupIds: string[];
  instanceProfile: string;
  volumeSize: number;
  userData: Uint8Array;
}

/** RunInstances on-demand for the builder; the ClientToken is the bake's name, so a retried call makes none twice. */
export function builderRunInput(stack: string, name: string, launch: BuilderLaunch): Sdk.RunInstancesCommandInput {
  const spec = buildLaunchSpec({ stack, launchId: `bake-${name}`, ami: launch.ami, volumeSize: launch.volumeSize, instanceProfile: launch.instanceProfile, securityGroupIds: launch.securityGroupIds, userData: launch.userData });
  const tagged = (spec.TagSpecifications ?? []).map((t) => ({ ...t, Tags: [...(t.Tags ?? []).map((x) => (x.Key === 'Name' ? { Key: 'Name', Value: `fluxer-${stack}-bake-builder` } : x)), { Key: TAG_BAKE, Value: name }] }));
  return { ...spec, TagSpecifications: tagged, InstanceType: launch.instanceType as Sdk.RunInstancesCommandInput['InstanceType'], SubnetId: launch.subnetId, MinCount: 1, MaxCount: 1, ClientToken: `fluxer-bake-${name}`.slice(0, 64) };
}

export interface BaseDeps extends BakeDeps {
  ec2: BakeDeps['ec2'] & Pick<Ec2Port, 'runInstances'>;
  s3: Pick<S3Port, 'getObject'>;
  where: { bucket: string; prefix: string };
}

export async function bakeBase(deps: BaseDeps, opts: Omit<BakeOptions, 'node' | 'terminateSource'> & { launch: BuilderLaunch }): Promise<BakeResult> {
  deps.progress(`Launching the builder (${opts.launch.instanceType}, on-demand) from ${opts.launch.ami.imageId} (${opts.launch.ami.source})`);
  const ran = await deps.ec2.runInstances(builderRunInput(opts.stack, opts.name, opts.launch));
  const builder = ran.Instances?.[0]?.InstanceId;
  if (!builder) throw new FluxerError('RunInstances returned no instance for the builder', { code: 'BuilderNotLaunched' });
  const log = new BakeLog(newBakeRecord(deps.clock, { name: opts.name, stack: opts.stack, region: opts.region, sourceNode: builder }), deps.journalDir, deps.clock);
  log.set({ state: 'preparing' });
  try {
    deps.progress(`Builder ${builder}: waiting for its node record to be READY (the bootstrap installs the promoted release)`);
    const waited = await waitForNodes(deps.s3, deps.where, [builder], { clock: deps.clock, timeoutMs: NODE_WAIT_MS, signal: deps.signal, pollMs: deps.pollMs?.node ?? 5000, onChange: (n) => deps.progress(`${n.instanceId}: ${n.state}${n.reason ? ` (${n.reason})` : ''}`) });
    if (!waited.ready) {
      log.set({ state: 'failed' });
      const n = waited.nodes[0];
      throw new FluxerError(`The builder ${builder} did not become READY${waited.timedOut ? ` within ${formatDuration(NODE_WAIT_MS)}` : ''}: ${n?.state ?? 'no record'}${n?.reason ? ` (${n.reason})` : ''}`, { code: 'BuilderNotReady', hint: 'It is terminated; its bootstrap log is in the console output (`aws ec2 get-console-output`) while it exists.' });
    }
    deps.progress(`Builder ${builder}: fluxer-runtime selftest`);
    const [test] = await runtimeCall(deps.remote, deps.clock, [builder], ['selftest', '--model', 'tiny'], { ...deps.remoteSettings, signal: deps.signal, waitMs: 600_000 });
    if (!test?.ok) {
      log.set({ state: 'failed' });
      throw new FluxerError(`fluxer-runtime selftest failed on the builder ${builder}: ${test?.error ?? 'no answer'}${test?.stderr ? `: ${test.stderr.trim().split('\n').pop()}` : ''}`, { code: 'BuilderSelftestFailed', hint: 'The release does not run on the Deep Learning AMI: check it with `fluxer runtime publish` and a node.' });
    }
    return await bakeFromNode(deps, { ...opts, node: builder, terminateSource: true, wait: true, extraTags: { ...(opts.extraTags ?? {}), [TAG_BASE_AMI]: opts.launch.ami.imageId } });
  } catch (err) {
    if (deps.signal.aborted && !(err instanceof FluxerError && err.code === 'Interrupted')) throw interruptedBake(log);
    throw err;
  } finally {
    // By the journaled id: the record bakeFromNode rewrote names the same builder.
    const id = readBake(deps.journalDir, opts.name)?.sourceNode || builder;
    await deps.ec2.terminateInstances({ InstanceIds: [id] }).then(
      () => deps.progress(`Terminated the builder ${id}`),
      (err: Error) => deps.warn(`terminating the builder ${id} failed: ${err.message}; terminate it yourself: \`fluxer spot terminate ${id}\``),
    );
  }
}
