import { describe, expect, it } from 'vitest';
import { reflow } from '../../src/cli/reflow.js';
import { runCli } from '../support/cli.js';

describe('help text reflow', () => {
  it('joins the lines of a prose paragraph and keeps paragraphs apart', () => {
    expect(reflow('Deletes the fleet: then\nthe group goes.\n\nSee docs/fleet.md.')).toBe('Deletes the fleet: then the group goes.\n\nSee docs/fleet.md.');
  });

  it('keeps a paragraph with an indented line (a table) exactly as written', () => {
    const table = 'Models:\n  MODEL  SIZE\n  sdxl   512-2048';
    expect(reflow(`Sends a job.\nWith --wait, follows it.\n\n${table}`)).toBe(`Sends a job. With --wait, follows it.\n\n${table}`);
  });

  it("a command's help at 80 columns has no ragged line from the source's own breaks", async () => {
    const r = await runCli(['fleet', 'down', '--help']);
    expect(r.code).toBe(0);
    const description = r.stdout.split('\n\n')[1]!.split('\n');
    // Wrapped by commander to the width: every line but the last of the paragraph fills most of it.
    expect(description.length).toBeGreaterThan(2);
    for (const line of description.slice(0, -1)) expect(line.length).toBeGreaterThan(60);
    expect(r.stdout).toContain("Deletes the stack's fleet: with --drain, every node first stops taking jobs and");
  });
});
