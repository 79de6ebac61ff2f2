// `fluxer --help` and `--version` must stay fast (bench/cli-startup.mjs measures it): they must not
// load the AWS SDK, prompt or spinner libraries, or any heavy library a single command needs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../support/cli.js';
import { REPO_ROOT } from '../support/moto.js';

const HEAVY = /@aws-sdk|@smithy|@inquirer|^ora$|^ajv|cli-table3/;

function loadsOf(args: string[]) {
  const r = spawnSync(process.execPath, ['--require', join(REPO_ROOT, 'test', 'support', 'record-loads.cjs'), BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: '/nonexistent' },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const cjs = JSON.parse((r.output[3] as string) || '[]') as string[];
  const esm = (r.stderr as string).split('\n').filter((l) => l.startsWith('\u0000esm-load ')).map((l) => l.slice(10));
  return { status: r.status, stdout: r.stdout as string, modules: [...cjs, ...esm] };
}

describe('startup', () => {
  it.each([['--help'], ['--version'], ['config', '--help'], ['doctor', '--help'], ['generate', '--help']])('fluxer %s loads no heavy module', (...args) => {
    const r = loadsOf(args);
    // Every one of these is registered: exit 2 (unknown command) would hide a command that vanished,
    // and an unknown word before --help prints the root's usage with exit 0, so the usage line counts.
    expect(r.status).toBe(0);
    const words = args.filter((a) => !a.startsWith('-'));
    if (words.length) expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: fluxer ${words.join(' ')} \\[options\\]`));
    expect(r.modules.length).toBeGreaterThan(0);
    expect(r.modules.filter((m) => HEAVY.test(m))).toEqual([]);
  });

  it('a table piped to another program is tab-separated text: cli-table3 is not loaded', () => {
    const r = loadsOf(['config', 'show']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('KEY\tVALUE\tSOURCE');
    expect(r.modules.filter((m) => HEAVY.test(m))).toEqual([]);
  });

  it('the bundle is one file: --help requires nothing from node_modules', () => {
    const r = loadsOf(['--help']);
    expect(r.status).toBe(0);
    const fromNodeModules = r.modules.filter((m) => !m.startsWith('node:') && !m.startsWith('data:') && !m.includes('dist/fluxer.cjs') && !/^[a-z_]+$/.test(m) && !m.startsWith('/'));
    expect(fromNodeModules).toEqual([]);
  });
});

describe('the bundle run from its V8 code cache', () => {
  it('exists after the build and is accepted by this Node', () => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `const fs=require('fs'),vm=require('vm'),Module=require('module');const f=${JSON.stringify(join(REPO_ROOT, 'dist', 'fluxer.cjs'))};
         const s=new vm.Script(Module.wrap(fs.readFileSync(f,'utf8')),{filename:f,cachedData:fs.readFileSync(f+'.v8cache')});
         process.stdout.write(String(s.cachedDataRejected));`,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stdout).toBe('false');
  });

  it('still imports external packages (the AWS SDK) when a command needs them', () => {
    // A closed port: the SDK must load and fail to connect, not fail to import.
    const r = spawnSync(process.execPath, [BIN, 'doctor', '--json', '--endpoint-url', 'http://127.0.0.1:9', '--timeout', '5s'], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1' },
      encoding: 'utf8',
    });
    const doc = JSON.parse(r.stdout) as { checks: Array<{ id: string; detail: string }> };
    const credentials = doc.checks.find((c) => c.id === 'credentials')!;
    expect(credentials.detail).toContain('ECONNREFUSED');
    expect(r.stdout + r.stderr).not.toContain('dynamic import callback');
    // The SDK's Node-version notice is switched off by fluxer itself (this env does not set it).
    expect(r.stderr).not.toContain('NodeVersionSupportWarning');
  });
});
