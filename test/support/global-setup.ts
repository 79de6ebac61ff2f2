// One moto server for the whole vitest run; files get its endpoint through `inject('motoEndpoint')`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startMoto, type MotoServer } from './moto.js';
import { startAwsStandin, type AwsStandin } from '../../src/emulator/server.js';

let moto: MotoServer | undefined;
let standin: AwsStandin | undefined;

export default async function setup(project: TestProject) {
  moto = await startMoto();
  project.provide('motoEndpoint', moto.endpoint);
  // moto plus what it lacks (test/README.md, "Stand-ins"): point the CLI here for doctor-like checks.
  // The nodes the SSM executor runs commands on: tests register theirs here (src/emulator/nodes.ts).
  const nodesDir = mkdtempSync(join(tmpdir(), 'fluxer-test-nodes-'));
  standin = await startAwsStandin({ upstream: moto.endpoint, nodesDir });
  project.provide('awsEndpoint', standin.endpoint);
  project.provide('emulatorNodesDir', nodesDir);
  return async () => {
    await standin?.stop();
    await moto?.stop();
    rmSync(nodesDir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
    /** The AWS stand-in in front of moto (test/support/aws-standin.ts). */
    awsEndpoint: string;
    /** The emulator's nodes dir: `registerNode(inject('emulatorNodesDir'), ...)` makes a node the SSM executor runs on. */
    emulatorNodesDir: string;
  }
}
