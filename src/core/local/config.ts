// The `local` stack in the project config file, and where that file is: the local stack's folder
// sits beside it, so `fluxer local status|down` find the stack from any subdirectory.
import { join, resolve } from 'node:path';
import { findProjectConfig, PROJECT_CONFIG_NAME } from '../../config/loader.js';
import { writeStack } from '../../config/writer.js';
import type { StackSettings } from '../../config/schema.js';
import { LOCAL_BUCKET, LOCAL_PREFIX, LOCAL_QUEUE_NAME, LOCAL_REGION, LOCAL_STACK, LOCAL_VISIBILITY_SECONDS } from './state.js';

/** --config FILE, else the nearest fluxer.config.json upward, else ./fluxer.config.json (created by up). */
export function projectConfigPath(cwd: string, configFlag: string | undefined): string {
  if (configFlag) return resolve(cwd, configFlag);
  return findProjectConfig(cwd) ?? join(resolve(cwd), PROJECT_CONFIG_NAME);
}

export type LocalStackSettings = Pick<StackSettings, 'region' | 'endpointUrl' | 'queueName' | 'bucket' | 'prefix' | 'model' | 'visibilityTimeout'>;

export function localStackSettings(endpoint: string, model: StackSettings['model']): LocalStackSettings {
  return {
    region: LOCAL_REGION,
    endpointUrl: endpoint,
    queueName: LOCAL_QUEUE_NAME,
    bucket: LOCAL_BUCKET,
    prefix: LOCAL_PREFIX,
    model,
    visibilityTimeout: LOCAL_VISIBILITY_SECONDS,
  };
}

/** Writes stacks.local, keeping every other stack; never makes it the file's default stack. */
export function recordLocalStack(configPath: string, settings: LocalStackSettings): void {
  writeStack(configPath, LOCAL_STACK, settings, { setDefault: false });
}
