// `fluxer local` input handling, in-process: bad flags are exit 2 before anything starts, and
// status/down on a stack that is not up say so plainly.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const project = () => mkdtempSync(join(tmpdir(), 'fluxer-local-cmd-'));

describe('fluxer local (input and not-running cases)', () => {
  it.each([
    [['--workers', '1.5'], '--workers "1.5": must be an integer from 0 to 16'],
    [['--workers', 'two'], '--workers "two": must be an integer from 0 to 16'],
    [['--port', '80'], '--port "80": must be an integer from 1024 to 65535'],
    [['--model', 'flux-dev'], '--model "flux-dev": must be "tiny" or a model directory'],
  ])('up %j is exit 2 naming the flag, and nothing is started or written', async (flags, message) => {
    const cwd = project();
    const r = await runCli(['local', 'up', ...flags], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
    expect(existsSync(join(cwd, '.fluxer'))).toBe(false);
    expect(existsSync(join(cwd, 'fluxer.config.json'))).toBe(false);
  });

  it('status when the stack is not up: exit 1 with the command that starts it', async () => {
    const cwd = project();
    const r = await runCli(['local', 'status'], { cwd });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('The local stack is not up');
    expect(r.stderr).toContain('fluxer local up');
    const json = await runCli(['local', 'status', '--json'], { cwd });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'LocalStackDown', hint: 'Start it with `fluxer local up`.' });
  });

  it('down when nothing runs is a harmless success', async () => {
    const cwd = project();
    const r = await runCli(['local', 'down'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nothing to stop');
    const json = await runCli(['local', 'down', '--json'], { cwd });
    expect(JSON.parse(json.stdout)).toMatchObject({ wasUp: false, stopped: [] });
  });

  it('up while another fluxer local command holds the stack is refused (exit 1), and starts nothing', async () => {
    const cwd = project();
    const dir = join(cwd, '.fluxer', 'local');
    mkdirSync(dir, { recursive: true });
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, 'lock'), String(other.pid));
      const r = await runCli(['local', 'up', '--json'], { cwd });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'LocalStackBusy' });
      expect(r.stderr).toContain(`(pid ${other.pid}) is changing this local stack`);
      expect(existsSync(join(dir, 'state.json'))).toBe(false);
    } finally {
      other.kill('SIGKILL');
    }
  });
});
