// The local node agent acts only on its own stack's nodes: in a region shared by several stacks (and by the
// tests, which register stand-in nodes of their own in the emulator's nodes folder), a registration whose
// instance is not among its stack's instances is forgotten only when it is the agent's stack's.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeAgent, type RegionSettings } from '../../src/core/local/agent.js';
import { listRegistrations, registerNode } from '../../src/lib/local-nodes.js';

const settings: RegionSettings = {
  stack: 'mine', region: 'us-east-1', endpoint: 'http://127.0.0.1:1', queueUrl: 'http://127.0.0.1:1/q', bucket: 'b', prefix: '', model: 'tiny',
  modelDir: null, device: 'cpu', visibilitySeconds: 60, runtimeBin: '/nonexistent/bin/fluxer-runtime',
};

function node(nodesDir: string, instanceId: string, env: Record<string, string>) {
  const now = new Date().toISOString();
  registerNode(nodesDir, { instanceId, root: join(nodesDir, instanceId, 'root'), env, pid: 0, instanceType: 'g5.xlarge', az: 'us-east-1a', region: 'us-east-1', lifecycle: 'spot', launchTime: now, registeredAt: now });
}

describe('the local node agent', () => {
  it("forgets its own stack's node whose instance is gone, and leaves other stacks' and foreign registrations alone", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxer-agent-'));
    const nodesDir = join(dir, 'nodes');
    const settingsFile = join(dir, 'region.json');
    writeFileSync(settingsFile, JSON.stringify(settings));
    node(nodesDir, 'i-0000000000000000a', { FLUXER_STACK: 'mine' });
    node(nodesDir, 'i-0000000000000000b', { FLUXER_STACK: 'theirs' });
    node(nodesDir, 'i-0000000000000000c', { FLUXER_ASG_NAME: 'a-test-group' });
    const calls: unknown[] = [];
    const ec2 = { describeInstances: async (input: unknown) => (calls.push(input), { Reservations: [] }) };
    const agent = new NodeAgent({ ec2: ec2 as never, nodesDir, settingsFile, baseEnv: {}, log: () => undefined });
    await agent.pass();
    expect(calls).toHaveLength(1);
    expect(listRegistrations(nodesDir).map((r) => r.instanceId).sort()).toEqual(['i-0000000000000000b', 'i-0000000000000000c']);
  });
});
