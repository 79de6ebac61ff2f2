// Where the local stack keeps its state and logs: `.fluxer/local/` beside the project config file.
// state.json records the two processes `fluxer local up` starts (moto, and the region process: emulator
// and node agent), written right after each start, so `fluxer local down` can stop them by pid even when
// `up` failed halfway; the workers are recorded by the agent in their node folders (nodes/<id>/node.json).
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-write.js';
import { deregisterNode, listRegistrations } from '../../lib/local-nodes.js';

export const LOCAL_STACK = 'local';
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_QUEUE_NAME = 'fluxer-local-jobs';
export const LOCAL_BUCKET = 'fluxer-local';
export const LOCAL_PREFIX = 'fluxer/';
/** Short: a job a dead local worker held comes back within a minute, not five. */
export const LOCAL_VISIBILITY_SECONDS = 60;

export interface ServerRecord {
  pid: number;
  port: number;
  log: string;
}

/** In the region process's command line (REGION_BUNDLE's file name): how `isOurs` tells a recorded pid is still it. */
export const REGION_MARKER = 'region.cjs';

/** The local region's process (src/region.ts): the emulator every client talks to, and the node agent. */
export interface RegionRecord {
  pid: number;
  port: number;
  log: string;
}

export interface LocalState {
  /** The emulator's endpoint: the stack's endpointUrl, what every client (CLI, nodes, AWS CLI) talks to. */
  endpoint: string;
  /** moto itself, behind the emulator. */
  motoEndpoint: string;
  region: string;
  queueUrl: string;
  dlqUrl: string;
  bucket: string;
  prefix: string;
  server: ServerRecord;
  regionProcess?: RegionRecord;
}

export interface LocalPaths {
  dir: string;
  stateFile: string;
  serverLog: string;
  regionLog: string;
  /** Written by the region process once it serves: {pid, endpoint}. */
  regionReady: string;
  /** The node agent's settings for the workers it starts (RegionSettings in agent.ts). */
  regionSettings: string;
  /** One folder per node (instance): its registration, root folder and logs (src/lib/local-nodes.ts). */
  nodesDir: string;
}

/** The local stack's folder for a project config file at configPath. */
export function localPaths(configPath: string): LocalPaths {
  const dir = join(dirname(configPath), '.fluxer', 'local');
  return {
    dir,
    stateFile: join(dir, 'state.json'),
    serverLog: join(dir, 'moto-server.log'),
    regionLog: join(dir, 'region.log'),
    regionReady: join(dir, 'region.ready'),
    regionSettings: join(dir, 'region.json'),
    nodesDir: join(dir, 'nodes'),
  };
}

export function readLocalState(paths: LocalPaths): LocalState | undefined {
  if (!existsSync(paths.stateFile)) return undefined;
  try {
    const doc = JSON.parse(readFileSync(paths.stateFile, 'utf8')) as LocalState;
    if (!doc || typeof doc !== 'object' || !doc.server || typeof doc.motoEndpoint !== 'string') return undefined;
    return doc;
  } catch {
    // A torn or hand-edited file: treat as no state (up starts fresh; stray pids are not trusted).
    return undefined;
  }
}

/** Atomic write (temp file + rename): a reader never sees half a file. */
export function writeLocalState(paths: LocalPaths, state: LocalState): void {
  mkdirSync(paths.dir, { recursive: true });
  writeFileAtomicSync(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`);
}

/** Removes state.json, the region's files and every node registration; logs and node folders stay for post-mortems. */
export function clearLocalState(paths: LocalPaths): void {
  for (const reg of listRegistrations(paths.nodesDir)) deregisterNode(paths.nodesDir, reg.instanceId);
  for (const f of [paths.regionReady, paths.regionSettings, paths.stateFile]) rmSync(f, { force: true });
}
