// What every command gets: streams and output, config (loaded on first use), AWS clients (made on
// first use), a prompter, a clock and an abort signal. Commands import no globals; tests build a
// context with captured streams, a fake clock or prompter, and an endpoint on loopback.
import { createAwsClients, type AwsClients } from '../aws/factory.js';
import { loadConfig, type ResolvedConfig } from '../config/loader.js';
import type { StackKey } from '../config/schema.js';
import type { Clock } from '../lib/clock.js';
import { systemClock } from '../lib/clock.js';
import { Output, colorAllowed, type IOStreams } from './output.js';
import { createInquirerPrompter, type Prompter } from './prompter.js';
import { fluxerVersion } from '../lib/paths.js';

export interface GlobalOptions {
  stack?: string;
  profile?: string;
  region?: string;
  endpointUrl?: string;
  config?: string;
  json: boolean;
  yes: boolean;
  color: boolean;
  debug: boolean;
}

export interface Context {
  readonly io: IOStreams;
  readonly out: Output;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly globals: GlobalOptions;
  readonly prompter: Prompter;
  readonly clock: Clock;
  /** Aborted on Ctrl-C: long waits stop and the command exits 130. */
  readonly signal: AbortSignal;
  readonly version: string;
  /** The merged config; loaded (and validated) on first call. */
  config(): ResolvedConfig;
  /** AWS clients for the current stack; made on first call. */
  aws(): AwsClients;
  /** Ends whatever the command left open (AWS connections), so the process exits when it returns. */
  dispose(): void;
}

export interface ContextDeps {
  io: IOStreams;
  env: NodeJS.ProcessEnv;
  cwd: string;
  prompter?: Prompter;
  clock?: Clock;
  signal?: AbortSignal;
  /** Called once a command (not --help or --version) is about to run: bin/fluxer starts watching Ctrl-C. */
  onCommandStart?: () => void;
}

export function createContext(globals: GlobalOptions, deps: ContextDeps): Context {
  const out = new Output(deps.io, {
    json: globals.json,
    color: globals.color && colorAllowed(deps.env, false),
    debug: globals.debug,
  });
  let config: ResolvedConfig | undefined;
  let aws: AwsClients | undefined;
  const ctx: Context = {
    io: deps.io,
    out,
    env: deps.env,
    cwd: deps.cwd,
    globals,
    prompter: deps.prompter ?? createInquirerPrompter(deps.io),
    clock: deps.clock ?? systemClock,
    signal: deps.signal ?? new AbortController().signal,
    version: fluxerVersion(),
    config() {
      if (!config) {
        const flags: Partial<Record<StackKey, { value: unknown; flag: string }>> = {};
        if (globals.region !== undefined) flags.region = { value: globals.region, flag: '--region' };
        if (globals.endpointUrl !== undefined) flags.endpointUrl = { value: globals.endpointUrl, flag: '--endpoint-url' };
        config = loadConfig({ cwd: deps.cwd, env: deps.env, configFile: globals.config, stack: globals.stack, flags });
        out.debug(`stack ${config.stack}; config files: ${config.files.map((f) => f.path).join(', ') || 'none'}`);
      }
      return config;
    },
    aws() {
      if (!aws) {
        const { settings, sources } = ctx.config();
        const endpointSource = sources.endpointUrl;
        aws = createAwsClients({
          region: settings.region,
          profile: globals.profile ?? nonEmpty(deps.env.AWS_PROFILE),
          endpointFlag: endpointSource?.kind === 'flag' ? settings.endpointUrl : undefined,
          // AWS_ENDPOINT_URL itself is left to per-service precedence inside the factory.
          endpointConfig: settings.endpointUrl,
          env: deps.env,
          userAgent: `fluxer/${ctx.version}`,
          debug: (m) => out.debug(m),
        });
      }
      return aws;
    },
    dispose() {
      aws?.close();
    },
  };
  return ctx;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
