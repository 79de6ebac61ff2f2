// The fault suite's two forms. Short: CI, on every change (≥ 20 in-flight faults, ~2 minutes on
// two cores). Full: on demand, `bash scripts/fault-suite.sh` (≥ 100 in-flight faults).
import type { SuiteOptions } from './suite.js';

export interface Form {
  name: 'short' | 'full';
  minFaults: number;
  timeoutMs: number;
  options: Omit<SuiteOptions, 'seed' | 'moto' | 'log'>;
}

const RATES = { '5xx': 0.02, throttle: 0.02, latency: 0.03, 'drop-before': 0.01, 'drop-after': 0.01 };
const TEN_MINUTES = 10 * 60_000;

export const SHORT: Form = {
  name: 'short',
  minFaults: 20,
  timeoutMs: 240_000,
  options: { jobs: 12, concurrency: 6, workers: 3, rates: RATES, processFaultEveryMs: 4_000, foreignJobs: 2, clockOffsetsMs: [0, TEN_MINUTES, -TEN_MINUTES], deadlineMs: 150_000 },
};

export const FULL: Form = {
  name: 'full',
  minFaults: 100,
  timeoutMs: 780_000,
  // a process fault every 6 s: more often, the four workers spend the run reloading the model
  options: { jobs: 40, concurrency: 8, workers: 4, rates: RATES, processFaultEveryMs: 6_000, foreignJobs: 5, clockOffsetsMs: [0, TEN_MINUTES, -TEN_MINUTES], deadlineMs: 600_000 },
};
