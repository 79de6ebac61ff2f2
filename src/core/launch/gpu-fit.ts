// Which models fit which GPU memory under which memory policy: schema/gpu-fit.json, the one table the
// runtime's policy choice (gpu-runtime/fluxer_runtime/pipelines.py choose_policy) reads too.
import table from '../../../schema/gpu-fit.json' with { type: 'json' };
import type { GpuInfo } from './instance-types.js';

const GIB_MIB = 1024;
const POLICIES: readonly string[] = table.policies;
const MODELS = table.models as Record<string, Record<string, number>>;

export interface GpuFit {
  /** The policy the runtime would pick (the first of full, fp8, offload that fits), or undefined. */
  policy: string | undefined;
  /** Why it does not fit, when it does not. */
  reason?: string;
}

/** Whether one GPU of `gpu` holds `model` under some policy (memory of one GPU: a model is not split across GPUs). */
export function gpuFit(model: string, gpu: GpuInfo): GpuFit {
  const needs = MODELS[model];
  if (!needs) return { policy: 'full' };
  const perGpuGiB = gpu.memoryMiB / Math.max(1, gpu.count) / GIB_MIB;
  const policy = POLICIES.find((p) => needs[p] !== undefined && perGpuGiB >= needs[p]!);
  if (policy) return { policy };
  const least = Math.min(...Object.values(needs));
  return { policy: undefined, reason: `${gpu.name} has ${perGpuGiB.toFixed(1)} GiB per GPU; ${model} needs at least ${least} GiB (schema/gpu-fit.json)` };
}
