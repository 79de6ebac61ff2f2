// One moto server for the whole vitest run; files get its endpoint through `inject('motoEndpoint')`.
import type { TestProject } from 'vitest/node';
import { startMoto, type MotoServer } from './moto.js';
import { startAwsStandin, type AwsStandin } from '../../src/emulator/server.js';

let moto: MotoServer | undefined;
let standin: AwsStandin | undefined;

export default async function setup(project: TestProject) {
  moto = await startMoto();
  project.provide('motoEndpoint', moto.endpoint);
  // moto plus what it lacks (test/README.md, "Stand-ins"): point the CLI here for doctor-like checks.
  standin = await startAwsStandin({ upstream: moto.endpoint });
  project.provide('awsEndpoint', standin.endpoint);
  return async () => {
    await standin?.stop();
    await moto?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
    /** The AWS stand-in in front of moto (test/support/aws-standin.ts). */
    awsEndpoint: string;
  }
}
