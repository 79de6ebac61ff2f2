// No room for a node: what a launch attempt's failure means (another pool, or a quota no pool fixes).
import { awsErrorName, shape } from './shape.js';

export const CAPACITY_ERRORS = new Set(['InsufficientInstanceCapacity', 'MaxSpotInstanceCountExceeded', 'VcpuLimitExceeded', 'SpotMaxPriceTooLow', 'InstanceLimitExceeded']);

/**
 * A pool (type × AZ) has no room now: another pool may (Karpenter's "unavailable offering" list,
 * less the quota codes, which no other pool of the same family fixes).
 */
const POOL_CAPACITY_ERRORS = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'UnfulfillableCapacity',
  'Unsupported',
  'InsufficientFreeAddressesInSubnet',
  'MaxFleetCountExceeded',
  'ReservationCapacityExceeded',
  'SpotMaxPriceTooLow',
]);
/** The account's spot vCPU quota is spent: trying other zones will not help. */
const SPOT_QUOTA_ERRORS = new Set(['MaxSpotInstanceCountExceeded', 'VcpuLimitExceeded', 'InstanceLimitExceeded']);

/** What a launch attempt's failure means: `error` is an exception or a CreateFleet `Errors` entry ({ErrorCode}). */
export type LaunchFailureKind = 'pool-capacity' | 'quota' | 'idempotency-mismatch' | 'other';

export function launchFailureKind(error: unknown): LaunchFailureKind {
  const code = launchErrorCode(error);
  if (POOL_CAPACITY_ERRORS.has(code)) return 'pool-capacity';
  if (SPOT_QUOTA_ERRORS.has(code)) return 'quota';
  if (code === 'IdempotentParameterMismatch') return 'idempotency-mismatch';
  return 'other';
}

/** The code of a launch failure in either shape: an SDK exception, or a fleet response's `{ErrorCode, ErrorMessage}`. */
export function launchErrorCode(error: unknown): string {
  if (error && typeof error === 'object' && 'ErrorCode' in error) return String((error as { ErrorCode?: unknown }).ErrorCode ?? '');
  return awsErrorName(error);
}

export function launchErrorMessage(error: unknown): string {
  if (error && typeof error === 'object' && 'ErrorMessage' in error) return String((error as { ErrorMessage?: unknown }).ErrorMessage ?? '');
  return shape(error).message ?? String(error);
}
