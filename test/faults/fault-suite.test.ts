// The fault suite's short form, run by CI on every change (test/faults/README.md): real processes,
// seeded faults, and the four figures that must stay 0. The full form: `bash scripts/fault-suite.sh`.
import { writeFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { runFaultSuite } from './suite.js';
import { FULL, SHORT, type Form } from './forms.js';

const form: Form = process.env.FLUXER_FAULTS === 'full' ? FULL : SHORT;
const seed = Number(process.env.FLUXER_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe(`fault suite (${form.name} form)`, () => {
  it(`≥ ${form.minFaults} in-flight faults: 0 lost, 0 duplicated, 0 mis-written, 0 hung (seed ${seed})`, async () => {
    const figures = await runFaultSuite({ ...form.options, seed, moto: inject('motoEndpoint'), log: (l) => process.stderr.write(`[faults] ${l}\n`) });
    const text = JSON.stringify(figures, null, 2);
    process.stderr.write(`[faults] figures:\n${text}\n`);
    if (process.env.FLUXER_FAULTS_OUT) writeFileSync(process.env.FLUXER_FAULTS_OUT, `${text}\n`);
    expect(figures.faults.inFlight).toBeGreaterThanOrEqual(form.minFaults);
    expect(figures.jobsSubmitted).toBeGreaterThan(0);
    expect({ lost: figures.lost, duplicated: figures.duplicated, misWritten: figures.misWritten, hung: figures.hung, waitErrors: figures.waitErrors }, figures.details.join('\n')).toEqual({
      lost: 0,
      duplicated: { terminalOverwritten: 0, imagesOverwritten: 0, pipelineReruns: 0 },
      misWritten: 0,
      hung: 0,
      waitErrors: 0,
    });
    expect(figures.details.filter((d) => d.startsWith('no `image generated`'))).toEqual([]);
    expect(figures.foreign.rejected).toBe(figures.foreign.sent);
  }, form.timeoutMs);
});
