// Every registered command: its place in the tree, its one-line summary, and how to load it.
// A command is listed here only once it works end to end.
//
// Commands are loaded lazily: a run loads only the module of the command it names, and `--help`
// loads none (startup is a budget: bench/cli-startup.mjs). So the summary that lists a command in
// help lives here, and the command's file holds everything else (flags, handler, examples).
import type { CommandSpec } from '../cli/command.js';

type Loader = () => Promise<{ default: CommandSpec<never> }>;

export interface CommandEntry {
  name: string;
  summary: string;
  load: Loader;
}

export interface NounEntry {
  name: string;
  summary: string;
  commands: CommandEntry[];
}

const spec = (load: () => Promise<{ default: unknown }>): Loader => load as Loader;

export const TOP_LEVEL: CommandEntry[] = [
  {
    name: 'init',
    summary: 'Write a stack (region, queue, bucket, instance types, max price, model) into fluxer.config.json',
    load: spec(() => import('./init.js')),
  },
  { name: 'setup', summary: 'Create the job queue, its dead-letter queue and the results bucket (idempotent)', load: spec(() => import('./setup.js')) },
  { name: 'doctor', summary: 'Check credentials, quotas, queue, bucket, AMI and instance profile of the current stack', load: spec(() => import('./doctor.js')) },
  { name: 'generate', summary: 'Submit an image-generation job; with --wait, follow it and download the images', load: spec(() => import('./generate.js')) },
];

export const NOUNS: NounEntry[] = [
  {
    name: 'ami',
    summary: "The stack's AMIs: bake one from a node or from scratch (nothing left behind on failure), list them with what uses them, prune, show or set the default",
    commands: [
      { name: 'bake', summary: 'Bake an AMI from a running node (--from) or from the Deep Learning AMI (--base); --resume follows a stopped bake', load: spec(() => import('./ami/bake.js')) },
      { name: 'list', summary: "List the stack's AMIs, newest first: size, snapshots, release, model, default, nodes and launch templates using each", load: spec(() => import('./ami/list.js')) },
      { name: 'prune', summary: 'Deregister old AMIs with their snapshots (never the default or one in use), delete orphan snapshots of interrupted bakes', load: spec(() => import('./ami/prune.js')) },
      { name: 'default', summary: "Show or set the stack's default AMI (SSM /fluxer/<stack>/ami), the one \"ami\": \"latest\" launches from", load: spec(() => import('./ami/default.js')) },
    ],
  },
  {
    name: 'config',
    summary: 'Inspect the merged configuration',
    commands: [{ name: 'show', summary: 'Print the merged config of the current stack, with where each value came from', load: spec(() => import('./config/show.js')) }],
  },
  {
    name: 'jobs',
    summary: 'Follow, inspect, download, read the logs of, cancel and list jobs (from any machine)',
    commands: [
      { name: 'status', summary: "Print a job's status document (state, progress, node, timings, outputs, error)", load: spec(() => import('./jobs/status.js')) },
      { name: 'tail', summary: "Follow a job's progress to the end and download its images (the --wait view)", load: spec(() => import('./jobs/tail.js')) },
      { name: 'get', summary: "Download a job's images; prints their paths", load: spec(() => import('./jobs/get.js')) },
      { name: 'logs', summary: "Print a job's runtime log lines from S3, every attempt's (JSON lines when piped or --json)", load: spec(() => import('./jobs/logs.js')) },
      { name: 'cancel', summary: 'Cancel a job: a running job stops at its next step, a queued one when a node picks it up', load: spec(() => import('./jobs/cancel.js')) },
      { name: 'list', summary: 'List recent jobs, newest first (table, or --json)', load: spec(() => import('./jobs/list.js')) },
    ],
  },
  {
    name: 'runtime',
    summary: 'The GPU runtime: publish releases, and drive the nodes\' runtimes over SSM (status, logs, exec, drain, resume, restart, a rolling deploy)',
    commands: [
      { name: 'publish', summary: "Build the runtime's wheel and wheelhouse, upload them as a content-named release; --promote makes it current", load: spec(() => import('./runtime/publish.js')) },
      { name: 'status', summary: "Each node's runtime over SSM: state, release, model, job and progress, counters, uptime, GPU memory, agent", load: spec(() => import('./runtime/status.js')) },
      { name: 'logs', summary: "The runtime's log lines from nodes over SSM (--since, --lines, --follow); pretty on a terminal, JSON lines piped", load: spec(() => import('./runtime/logs.js')) },
      { name: 'exec', summary: "Run a command on nodes over SSM as the runtime's user; prints its output and exit code (exit 1 when it failed)", load: spec(() => import('./runtime/exec.js')) },
      { name: 'drain', summary: 'Stop the runtimes taking jobs (the running job finishes); --wait until no job runs', load: spec(() => import('./runtime/drain.js')) },
      { name: 'resume', summary: 'Drained runtimes take jobs again', load: spec(() => import('./runtime/resume.js')) },
      { name: 'restart', summary: 'Drain, let the running job finish, restart the runtime and wait until the new one is READY (no job lost)', load: spec(() => import('./runtime/restart.js')) },
      { name: 'deploy', summary: 'Roll a candidate release over the nodes N at a time (drain, install, restart, READY); a failing node is switched back and stops it; promoted only when all took it', load: spec(() => import('./runtime/deploy.js')) },
    ],
  },
  {
    name: 'models',
    summary: 'Model weights in S3, pulled by nodes at boot: push a folder (resumable, manifest last), list what is there',
    commands: [
      { name: 'push', summary: 'Upload a model folder to <prefix>models/<NAME>/ (sha256 per file, multipart, skips what is there), manifest last', load: spec(() => import('./models/push.js')) },
      { name: 'list', summary: 'The models in S3: files, size, when pushed; incomplete pushes (files but no manifest) marked', load: spec(() => import('./models/list.js')) },
    ],
  },
  {
    name: 'cost',
    summary: 'What the fleet cost: billed uptime × the spot price history, against on-demand, per image, with the key metrics',
    commands: [
      { name: 'report', summary: 'Cost over a window (by day, type, AZ or node) from node and launch records and the price history; --json, --csv, --reconcile', load: spec(() => import('./cost/report.js')) },
    ],
  },
  {
    name: 'fleet',
    summary: "An autoscaled spot fleet on AWS's own Auto Scaling: mixed types and zones, Capacity Rebalancing, target tracking on the queue",
    commands: [
      { name: 'up', summary: 'Create or correct the fleet: launch template, spot Auto Scaling group, backlog target tracking, node policy (idempotent)', load: spec(() => import('./fleet/up.js')) },
      { name: 'status', summary: "The fleet's size, nodes (type, AZ, price, runtime, job), queue depth and the last hour's scaling activities", load: spec(() => import('./fleet/status.js')) },
      { name: 'scale', summary: "Set the fleet's desired capacity (--min/--max move its bounds)", load: spec(() => import('./fleet/scale.js')) },
      { name: 'roll', summary: 'Replace the nodes with a new template version (--ami, --release): an instance refresh keeping capacity, busy nodes drained first', load: spec(() => import('./fleet/roll.js')) },
      { name: 'down', summary: 'Delete the fleet and what fluxer made for it (--drain: running jobs finish first)', load: spec(() => import('./fleet/down.js')) },
    ],
  },
  {
    name: 'local',
    summary: 'Run the whole service on this machine: a region with an AWS-compatible server, SSM and nodes',
    commands: [
      { name: 'up', summary: 'Start the local region (moto behind the emulator, the node agent) and N nodes, as stack "local"', load: spec(() => import('./local/up.js')) },
      { name: 'status', summary: "Show the local stack: endpoint, queue, bucket, and every node's worker and state (exit 1 when it is not up)", load: spec(() => import('./local/status.js')) },
      { name: 'interrupt', summary: 'Send a local node a spot interruption notice: its job is handed on, then the instance goes', load: spec(() => import('./local/interrupt.js')) },
      { name: 'down', summary: 'Stop the local stack: the region, workers (drain on SIGTERM, stragglers SIGKILL), then the server', load: spec(() => import('./local/down.js')) },
    ],
  },
  {
    name: 'queue',
    summary: 'The job queue: depth, and moving dead-lettered jobs back',
    commands: [
      { name: 'stats', summary: 'Queue depth: visible, in flight, delayed, dead-letter (oldest age: see the note)', load: spec(() => import('./queue/stats.js')) },
      { name: 'redrive', summary: "Move the dead-letter queue's messages back to the job queue", load: spec(() => import('./queue/redrive.js')) },
    ],
  },
  {
    name: 'spot',
    summary: "Spot GPU nodes: prices per type and AZ, launch in the cheapest pool with capacity, list with cost so far, terminate",
    commands: [
      { name: 'prices', summary: 'Spot price now, on-demand, savings, GPU, offering and placement score per type and AZ, cheapest first', load: spec(() => import('./spot/prices.js')) },
      { name: 'launch', summary: 'Launch spot GPU nodes: cheapest pool first, quota checked first, failover, never twice (--launch-id resumes)', load: spec(() => import('./spot/launch.js')) },
      { name: 'list', summary: "List the stack's GPU nodes: state, uptime, spot price, cost so far (estimate), runtime state from the node record", load: spec(() => import('./spot/list.js')) },
      { name: 'terminate', summary: "Terminate the stack's nodes (IDs, --launch-id or --all) and wait until EC2 confirms; others refused unless --force", load: spec(() => import('./spot/terminate.js')) },
    ],
  },
  {
    name: 'userdata',
    summary: 'Render and check cloud-init user data for GPU nodes (size limit, gzip, secret scan)',
    commands: [
      { name: 'render', summary: "Render a node's cloud-init user data from a template and the stack's values", load: spec(() => import('./userdata/render.js')) },
      { name: 'check', summary: "Check rendered user data: EC2's 16,384-byte limit and secrets (plain, gzip or base64)", load: spec(() => import('./userdata/check.js')) },
    ],
  },
];
