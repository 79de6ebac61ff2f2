// One moto server for the whole vitest run; files get its endpoint through `inject('motoEndpoint')`.
import type { TestProject } from 'vitest/node';
import { startMoto, type MotoServer } from './moto.js';

let moto: MotoServer | undefined;

export default async function setup(project: TestProject) {
  moto = await startMoto();
  project.provide('motoEndpoint', moto.endpoint);
  return async () => {
    await moto?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}
