// Every registered command. A command is listed here only once it works end to end.
import type { CommandSpec, NounSpec } from '../cli/command.js';
import configShow from './config/show.js';
import doctor from './doctor.js';
import generate from './generate.js';
import jobsCancel from './jobs/cancel.js';
import jobsGet from './jobs/get.js';
import jobsList from './jobs/list.js';
import jobsStatus from './jobs/status.js';
import jobsTail from './jobs/tail.js';
import localDown from './local/down.js';
import localStatus from './local/status.js';
import localUp from './local/up.js';
import init from './init.js';
import queueRedrive from './queue/redrive.js';
import queueStats from './queue/stats.js';
import setup from './setup.js';
import userdataCheck from './userdata/check.js';
import userdataRender from './userdata/render.js';

export const TOP_LEVEL: CommandSpec<never>[] = [init as CommandSpec<never>, setup as CommandSpec<never>, doctor as CommandSpec<never>, generate as CommandSpec<never>];

export const NOUNS: NounSpec[] = [
  { name: 'config', summary: 'Inspect the merged configuration', commands: [configShow as CommandSpec<never>] },
  {
    name: 'jobs',
    summary: 'Follow, inspect, download, cancel and list jobs (from any machine)',
    commands: [jobsStatus, jobsTail, jobsGet, jobsCancel, jobsList] as CommandSpec<never>[],
  },
  {
    name: 'local',
    summary: 'Run the whole service on this machine: an AWS-compatible server and runtime workers',
    commands: [localUp as CommandSpec<never>, localStatus as CommandSpec<never>, localDown as CommandSpec<never>],
  },
  {
    name: 'queue',
    summary: 'The job queue: depth, and moving dead-lettered jobs back',
    commands: [queueStats as CommandSpec<never>, queueRedrive as CommandSpec<never>],
  },
  {
    name: 'userdata',
    summary: 'Render and check cloud-init user data for GPU nodes (size limit, gzip, secret scan)',
    commands: [userdataRender as CommandSpec<never>, userdataCheck as CommandSpec<never>],
  },
];
