// Runtime releases: the runtime's wheel (with the job schema inside) and a wheelhouse of its
// dependencies except torch (the Deep Learning AMI brings torch; nodes in private subnets may reach S3
// and nothing else), uploaded under <prefix>releases/<release-id>/ with SHA256SUMS, and promoted in SSM.
// A release id names its content: the version plus a hash of every file's sha256, so two different
// builds never share an id, and publishing identical content again uploads nothing.
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isNotFound } from '../aws/errors.js';
import type { S3Port } from '../aws/s3.js';
import type { SsmPort } from '../aws/ssm.js';
import { FluxerError } from '../lib/errors.js';

/** Runs a program to the end; rejects with its output when it exits non-zero. */
export type RunProgram = (command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }) => Promise<void>;

export interface ReleaseFile {
  /** Path inside the release: the wheel at the top, dependencies under wheelhouse/. */
  name: string;
  localPath: string;
  sha256: string;
  bytes: number;
}

export interface BuiltRelease {
  version: string;
  id: string;
  files: ReleaseFile[];
  /** The SHA256SUMS text (`sha256sum -c` reads it), uploaded last: its presence marks the release complete. */
  sums: string;
}

export const SUMS_NAME = 'SHA256SUMS';
/** Wheels stamped with this time are byte-identical build to build (zip entries carry a time). */
const SOURCE_DATE_EPOCH = '315532800';
/** torch and its GPU stack come from the AMI; a dependency that needs torch is fetched without its dependencies. */
const FROM_AMI = /^(torch|triton|nvidia-)/i;
const WITHOUT_DEPS = ['accelerate>=0.31'];
const EXTRA = ['psutil'];

export function releaseParameterName(stack: string): string {
  return `/fluxer/${stack}/runtime-release`;
}

export function releasePrefix(prefix: string, id: string): string {
  return `${prefix}releases/${id}/`;
}

/** The runtime's dependencies from its pyproject.toml, torch left out. */
export function runtimeRequirements(pyproject: string): string[] {
  const block = /^dependencies\s*=\s*\[([\s\S]*?)\]/m.exec(pyproject)?.[1] ?? '';
  return [...block.matchAll(/"([^"]+)"/g)].map((m) => m[1]!).filter((r) => !FROM_AMI.test(r));
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function releaseId(version: string, files: Array<Pick<ReleaseFile, 'name' | 'sha256'>>): string {
  const listing = [...files].sort((a, b) => a.name.localeCompare(b.name)).map((f) => `${f.sha256}  ${f.name}\n`).join('');
  return `${version}-${createHash('sha256').update(listing).digest('hex').slice(0, 12)}`;
}

/** Where the runtime comes from: its source (a clone's gpu-runtime/), or the wheel an installed CLI ships with its pyproject.toml. */
export type RuntimeInput = { sourceDir: string } | { wheel: string; pyproject: string };

export interface BuildOptions {
  python: string;
  runtime: RuntimeInput;
  /** An empty temporary folder. */
  workDir: string;
  /** A requirements file used instead of the runtime's own dependencies (tests: a small offline set). */
  requirementsFile?: string;
  run: RunProgram;
  env: NodeJS.ProcessEnv;
  progress?: (message: string) => void;
}

export async function buildRelease(opts: BuildOptions): Promise<BuiltRelease> {
  const env = { ...opts.env, SOURCE_DATE_EPOCH, PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  const wheelDir = join(opts.workDir, 'wheel');
  const wheelhouse = join(opts.workDir, 'wheelhouse');
  mkdirSync(wheelhouse, { recursive: true });
  mkdirSync(wheelDir, { recursive: true });
  const pip = (args: string[]) => opts.run(opts.python, ['-m', 'pip', 'wheel', '--no-cache-dir', ...args], { env });
  let pyproject: string;
  if ('sourceDir' in opts.runtime) {
    // Built from a copy: setuptools writes build/ into the source tree, and the schema symlink is followed.
    const source = join(opts.workDir, 'src');
    cpSync(opts.runtime.sourceDir, source, { recursive: true, dereference: true, filter: (p) => !/(\/tests|\/build|\.egg-info|__pycache__)$/.test(p) });
    opts.progress?.('Building the runtime wheel');
    await pip(['--no-deps', '--no-build-isolation', '--no-index', '--wheel-dir', wheelDir, source]);
    pyproject = join(source, 'pyproject.toml');
  } else {
    // The installed CLI's wheel was built at pack time the same way (SOURCE_DATE_EPOCH), so the same
    // source gives the same bytes and the same release id either way.
    cpSync(opts.runtime.wheel, join(wheelDir, basenameOf(opts.runtime.wheel)));
    pyproject = opts.runtime.pyproject;
  }
  opts.progress?.('Building the wheelhouse (dependencies except torch)');
  if (opts.requirementsFile) {
    await pip(['--no-build-isolation', '--wheel-dir', wheelhouse, '-r', opts.requirementsFile]);
  } else {
    await pip(['--wheel-dir', wheelhouse, ...runtimeRequirements(readFileSync(pyproject, 'utf8')), ...EXTRA]);
    await pip(['--no-deps', '--wheel-dir', wheelhouse, ...WITHOUT_DEPS]);
  }
  const wheels = readdirSync(wheelDir).filter((f) => f.endsWith('.whl'));
  if (wheels.length !== 1) throw new FluxerError(`Expected one runtime wheel, found ${wheels.length} in ${wheelDir}`, { code: 'ReleaseBuildFailed' });
  const file = (localPath: string, name: string): ReleaseFile => ({ name, localPath, sha256: sha256File(localPath), bytes: statSync(localPath).size });
  const files = [
    file(join(wheelDir, wheels[0]!), wheels[0]!),
    ...readdirSync(wheelhouse).filter((f) => f.endsWith('.whl') && !FROM_AMI.test(f)).sort().map((f) => file(join(wheelhouse, f), `wheelhouse/${f}`)),
  ];
  const version = /^fluxer_runtime-([^-]+)-/.exec(wheels[0]!)?.[1] ?? '0';
  const sums = [...files].sort((a, b) => a.name.localeCompare(b.name)).map((f) => `${f.sha256}  ${f.name}\n`).join('');
  return { version, id: releaseId(version, files), files, sums };
}

export interface PublishResult {
  id: string;
  bucket: string;
  prefix: string;
  files: Array<{ name: string; sha256: string; bytes: number }>;
  /** false: the release was already there with the same SHA256SUMS (nothing uploaded). */
  uploaded: boolean;
  promoted: boolean;
  /** The release the stack's parameter named before (null: none). */
  previous: string | null;
  parameter: string;
  dryRun: boolean;
}

export async function publishRelease(
  ports: { s3: Pick<S3Port, 'getObject' | 'putObject'>; ssm: Pick<SsmPort, 'getParameter' | 'putParameter'> },
  built: BuiltRelease,
  /** candidate: never promoted, not even as the stack's first release (a rolling deploy promotes it once every node took it). */
  opts: { bucket: string; prefix: string; stack: string; promote: boolean; dryRun: boolean; candidate?: boolean; progress?: (m: string) => void },
): Promise<PublishResult> {
  const keyPrefix = releasePrefix(opts.prefix, built.id);
  const parameter = releaseParameterName(opts.stack);
  const existingSums = await readText(ports.s3, opts.bucket, `${keyPrefix}${SUMS_NAME}`);
  let previous: string | null = null;
  try {
    previous = (await ports.ssm.getParameter({ Name: parameter })).Parameter?.Value ?? null;
  } catch (err) {
    if (!isNotFound(err, 'ssm')) throw err;
  }
  // The stack's first release is promoted without being asked: nodes need one to install.
  const promote = !opts.candidate && (opts.promote || previous === null) && previous !== built.id;
  const upload = existingSums !== built.sums;
  if (!opts.dryRun) {
    if (upload) {
      for (const f of built.files) {
        opts.progress?.(`Uploading ${f.name}`);
        await ports.s3.putObject({ Bucket: opts.bucket, Key: `${keyPrefix}${f.name}`, Body: readFileSync(f.localPath), ChecksumAlgorithm: 'SHA256' });
      }
      await ports.s3.putObject({ Bucket: opts.bucket, Key: `${keyPrefix}${SUMS_NAME}`, Body: built.sums, ContentType: 'text/plain' });
    }
    if (promote) await ports.ssm.putParameter({ Name: parameter, Value: built.id, Type: 'String', Overwrite: true });
  }
  return {
    id: built.id,
    bucket: opts.bucket,
    prefix: keyPrefix,
    files: built.files.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes })),
    uploaded: upload,
    promoted: promote,
    previous,
    parameter,
    dryRun: opts.dryRun,
  };
}

async function readText(s3: Pick<S3Port, 'getObject'>, bucket: string, key: string): Promise<string | undefined> {
  try {
    return await (await s3.getObject({ Bucket: bucket, Key: key })).Body?.transformToString();
  } catch (err) {
    if (isNotFound(err, 's3')) return undefined;
    throw err;
  }
}


/** RunProgram with node's execFile: output kept for the error message, which names the command. */
export async function runProgram(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => {
    execFile(command, args, { cwd: opts.cwd, env: opts.env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve();
      const tail = `${stdout}${stderr}`.trim().split('\n').slice(-15).join('\n');
      reject(new FluxerError(`${basenameOf(command)} ${args.slice(0, 4).join(' ')} … failed:\n${tail}`, { code: 'ReleaseBuildFailed', hint: 'pip needs the package index (or the requirements\' sources) to build the wheelhouse; see docs/releases.md.', cause: err }));
    });
  });
}

function basenameOf(path: string): string {
  return path.split('/').pop() ?? path;
}
