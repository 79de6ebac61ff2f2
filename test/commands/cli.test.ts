import { describe, expect, it } from 'vitest';
import { ANSI_ESCAPE, runCli, testEnv } from '../support/cli.js';

describe('fluxer (program level)', () => {
  it('--help lists the registered commands and the exit codes, on stdout, exit 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: fluxer');
    expect(r.stdout).toMatch(/^\s+config\s/m);
    expect(r.stdout).toContain('Exit codes:');
    expect(r.stderr).toBe('');
  });

  it('no arguments prints help and exits 0', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: fluxer');
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('an unknown command is exit 2 with the closest match as a hint', async () => {
    const r = await runCli(['confg', 'show']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Error: Unknown command 'confg'/);
    expect(r.stderr).toContain('Did you mean config?');
  });

  it('an unknown flag is exit 2 with a suggestion', async () => {
    const r = await runCli(['config', 'show', '--jsno']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--jsno'");
    expect(r.stderr).toContain('--json');
  });

  it('under --json an error is one JSON document on stdout', async () => {
    const r = await runCli(['config', 'show', '--json', '--region', 'mars-1']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.error.code).toBe('UsageError');
    expect(doc.error.message).toContain('--region');
    expect(doc.error.message).toContain('mars-1');
    expect(r.stderr).toContain('Error:');
  });

  it('stack traces appear only with --debug', async () => {
    const plain = await runCli(['config', 'show', '--stack', 'nope']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const debug = await runCli(['config', 'show', '--stack', 'nope', '--debug']);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});

describe('output on a terminal vs piped', () => {
  it('piped: a tab-separated table with no escape codes', async () => {
    const r = await runCli(['config', 'show'], { tty: false });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(ANSI_ESCAPE);
    expect(r.stdout.split('\n')[0]).toBe('KEY\tVALUE\tSOURCE');
    expect(r.stdout).toContain('region\tus-east-1\tenv AWS_REGION');
  });

  it('terminal: aligned columns with a bold header', async () => {
    const r = await runCli(['config', 'show'], { tty: true, env: testEnv({ FORCE_COLOR: '1' }) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(ANSI_ESCAPE);
    expect(r.stdout).not.toContain('\t');
  });

  it('terminal with NO_COLOR, CI or --no-color: no escape codes', async () => {
    for (const [env, args] of [
      [{ NO_COLOR: '1' }, []],
      [{ CI: 'true' }, []],
      [{}, ['--no-color']],
    ] as const) {
      const r = await runCli(['config', 'show', ...args], { tty: true, env: testEnv(env) });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(ANSI_ESCAPE);
    }
  });

  it('--json prints exactly one JSON document', async () => {
    const r = await runCli(['config', 'show', '--json'], { tty: true });
    const doc = JSON.parse(r.stdout);
    expect(doc.stack).toBe('default');
    expect(doc.settings.region).toEqual({ value: 'us-east-1', source: 'env AWS_REGION' });
  });
});
