import { describe, expect, it } from 'vitest';
import { commandWords } from '../../src/cli/program.js';
import { NOUNS, TOP_LEVEL } from '../../src/commands/index.js';

describe('command registry', () => {
  it('each entry loads a command of the same name, with a handler', async () => {
    const entries = [...TOP_LEVEL, ...NOUNS.flatMap((n) => n.commands)];
    expect(entries.length).toBeGreaterThan(10);
    for (const entry of entries) {
      const spec = (await entry.load()).default;
      expect(spec.name).toBe(entry.name);
      expect(typeof spec.handler).toBe('function');
      expect(entry.summary.length).toBeGreaterThan(10);
    }
  });
});

describe('commandWords: which command argv names (only that one is loaded)', () => {
  it.each([
    [['generate', 'a cat', '--wait'], ['generate', 'a cat']],
    [['jobs', 'tail', 'abc'], ['jobs', 'tail']],
    [['--stack', 'prod', 'jobs', 'list'], ['jobs', 'list']],
    [['--endpoint-url', 'http://x', '--json', 'setup'], ['setup']],
    [['--stack=prod', 'queue', 'stats'], ['queue', 'stats']],
    [['help', 'jobs', 'tail'], ['jobs', 'tail']],
    [['--help'], []],
    [['generate', '--', 'jobs'], ['generate']],
  ])('%j → %j', (argv, words) => {
    // Exact: a prefix match would pass when extra words leak in (and load the wrong command).
    expect(commandWords(argv)).toEqual(words);
  });

  it('a command run with global flags before it still runs (in-process)', async () => {
    const { runCli } = await import('../support/cli.js');
    const r = await runCli(['--region', 'eu-west-1', 'config', 'show', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).settings.region.value).toBe('eu-west-1');
  });
});
