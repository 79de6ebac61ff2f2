// Runs every row of the bad-input corpus through the real bin/fluxer with every AWS service pointed
// at a counting listener (answers 500 to anything): each must exit 2, name its flag/key/line, and
// send 0 requests. Child processes, two at a time: the listener must see what a user's run would send.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../support/cli.js';
import { CORPUS, GOOD_CONFIG, type BadInput } from './corpus.js';

/** The variables src/aws/factory.ts and the config loader read for endpoints. */
const SERVICES = ['STS', 'SQS', 'S3', 'EC2', 'SSM', 'SERVICE_QUOTAS', 'PRICING', 'IAM'];

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  requests: number;
}

let server: Server;
let endpoint: string;
/** Requests per case, keyed by the access key id each case signs with (so parallel runs stay apart). */
const requestsByKey = new Map<string, number>();
let totalRequests = 0;
const root = mkdtempSync(join(tmpdir(), 'fluxer-corpus-'));

beforeAll(async () => {
  server = createServer((req, res) => {
    totalRequests++;
    const key = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? 'unsigned';
    requestsByKey.set(key, (requestsByKey.get(key) ?? 0) + 1);
    req.resume();
    res.writeHead(500, { 'content-type': 'text/plain' }).end('counting listener: no request should get here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(root, { recursive: true, force: true });
});

function run(c: BadInput, index: number): Promise<Outcome> {
  const dir = join(root, `case-${index}`);
  const home = join(dir, 'home');
  const files: Record<string, string | Buffer> = {
    'fluxer.config.json': typeof c.config === 'string' ? c.config : JSON.stringify(c.config ?? GOOD_CONFIG, null, 2),
    ...c.files,
  };
  mkdirSync(home, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const accessKey = `CORPUS${index}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    AWS_ACCESS_KEY_ID: accessKey,
    AWS_SECRET_ACCESS_KEY: 'corpus',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    FLUXER_MAX_ATTEMPTS: '1',
    AWS_ENDPOINT_URL: endpoint,
    ...Object.fromEntries(SERVICES.map((s) => [`AWS_ENDPOINT_URL_${s}`, endpoint])),
    ...c.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...c.argv], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, requests: requestsByKey.get(accessKey) ?? 0 });
    });
    child.stdin.end(c.stdin ?? '');
  });
}

/** What the case got wrong, or undefined when it behaved: exit 2, the input named, nothing sent. */
function problem(c: BadInput, o: Outcome): string | undefined {
  const faults: string[] = [];
  if (o.code !== 2) faults.push(`exit ${o.code}, not 2`);
  let message = o.stderr;
  if (c.argv.includes('--json')) {
    try {
      message = (JSON.parse(o.stdout) as { error: { message: string } }).error.message;
    } catch {
      faults.push('--json: stdout is not a JSON error document');
    }
  }
  if (!message.includes(c.names)) faults.push(`message does not name ${JSON.stringify(c.names)}`);
  if (o.requests !== 0) faults.push(`${o.requests} request(s) reached the endpoint`);
  return faults.length ? `${faults.join('; ')} — stderr: ${o.stderr.slice(0, 300)}` : undefined;
}

describe('bad-input corpus', () => {
  it('has at least 50 distinct cases across the commands and the config file', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(55);
    expect(new Set(CORPUS.map((c) => c.name)).size).toBe(CORPUS.length);
    expect(new Set(CORPUS.map((c) => JSON.stringify([c.argv, c.config, c.files, c.env, c.stdin]))).size).toBe(CORPUS.length);
  });

  it('every case exits 2, names its input and sends 0 requests', async () => {
    const outcomes: Array<{ problem?: string; requests: number }> = new Array(CORPUS.length);
    let next = 0;
    const worker = async () => {
      while (next < CORPUS.length) {
        const i = next++;
        const outcome = await run(CORPUS[i]!, i);
        outcomes[i] = { problem: problem(CORPUS[i]!, outcome), requests: outcome.requests };
      }
    };
    await Promise.all([worker(), worker()]);
    const failing = CORPUS.flatMap((c, i) => (outcomes[i]!.problem ? [`${c.name}: ${outcomes[i]!.problem}`] : []));
    // Requests not signed by any case's key (an unsigned call) count against the corpus too.
    const requests = totalRequests;
    console.log(`bad-input corpus: ${CORPUS.length} cases, ${requests} requests`);
    expect(failing).toEqual([]);
    expect(requests).toBe(0);
  }, 120_000);
});
