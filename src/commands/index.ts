// Every registered command. A command is listed here only once it works end to end.
import type { CommandSpec, NounSpec } from '../cli/command.js';
import configShow from './config/show.js';

export const TOP_LEVEL: CommandSpec<never>[] = [];

export const NOUNS: NounSpec[] = [
  { name: 'config', summary: 'Inspect the merged configuration', commands: [configShow as CommandSpec<never>] },
];
