// The local region's process (dist/region.cjs), started detached by `fluxer local up` and stopped by
// `fluxer local down`: the AWS emulator in front of moto (src/emulator/: what moto lacks, SSM commands
// that really run, each node's IMDS) and the local node agent (src/core/local/agent.ts) that turns
// moto's instances of the stack into runtime workers.
//
//   node dist/region.cjs --upstream http://127.0.0.1:MOTO --dir .fluxer/local [--port N]
//
// It writes `<dir>/region.ready` ({pid, endpoint}) once it serves, and stops on SIGTERM (the workers
// keep running: `local down` stops them after this process, so nothing restarts them meanwhile).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAwsClients } from './aws/factory.js';
import { NodeAgent } from './core/local/agent.js';
import { loadSampleData } from './emulator/sample-data.js';
import { startAwsStandin } from './emulator/server.js';

// The pieces the benchmarks drive the emulator with (bench/lib/harness.mjs), taken from this bundle so
// that what they time against is the emulator `fluxer local up` runs, built by `npm run build`.
export { startAwsStandin } from './emulator/server.js';
export { setStandinOnDemandPrices, setStandinSpotPrices } from './emulator/prices.js';
export { registerNode } from './lib/local-nodes.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { upstream: { type: 'string' }, dir: { type: 'string' }, port: { type: 'string' } } });
  if (!values.upstream || !values.dir) throw new Error('usage: region --upstream URL --dir DIR [--port N]');
  const dir = values.dir;
  const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
  const nodesDir = join(dir, 'nodes');
  const emulator = await startAwsStandin({ upstream: values.upstream, nodesDir, ...(values.port ? { port: Number(values.port) } : {}) });
  await loadSampleData(emulator);
  const aws = createAwsClients({ region: 'us-east-1', endpointFlag: values.upstream, env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, userAgent: 'fluxer-local-agent', maxAttempts: 2 });
  const agent = new NodeAgent({ ec2: await aws.ec2(), nodesDir, settingsFile: join(dir, 'region.json'), baseEnv: process.env, log });
  agent.start();
  writeFileSync(join(dir, 'region.ready'), JSON.stringify({ pid: process.pid, endpoint: emulator.endpoint }));
  log(`local region serving at ${emulator.endpoint} (upstream ${values.upstream}, nodes ${nodesDir})`);
  const stop = () => {
    log('stopping');
    void agent
      .close()
      .then(() => emulator.stop())
      .finally(() => {
        aws.close();
        process.exit(0);
      });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`region: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
