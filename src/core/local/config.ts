// The `local` stack in the project config file, and where that file is: the local stack's folder
// sits beside it, so `fluxer local status|down` find the stack from any subdirectory.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { findProjectConfig, PROJECT_CONFIG_NAME, readConfigFile, validateConfigDocument } from '../../config/loader.js';
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

/**
 * Writes stacks.local, keeping every other stack and the file's defaultStack exactly as they are. Not
 * src/config/writer.ts's writeStack: that makes the stack the default of a file that has none, and the
 * local stack must never become the default a bare `fluxer generate` (meant for AWS) would use.
 */
export function recordLocalStack(configPath: string, settings: LocalStackSettings): void {
  let doc: Record<string, unknown> = {};
  if (existsSync(configPath)) {
    readConfigFile(configPath, 'project'); // a broken file is reported (naming the problem), not overwritten
    doc = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  }
  doc.stacks = { ...((doc.stacks as Record<string, unknown> | undefined) ?? {}), [LOCAL_STACK]: settings };
  validateConfigDocument(doc, configPath, 'project');
  const tmp = `${configPath}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`);
  renameSync(tmp, configPath);
}
