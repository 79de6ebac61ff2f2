// Issue 8 item 1: liveness is judged on S3's clock (LastModified vs the response's Date), so a CLI
// clock off by ±10 minutes, or a node clock off, changes nothing.
import { describe, expect, it } from 'vitest';
import { liveNodes } from '../../src/core/submit.js';

const S3_NOW = Date.parse('2026-11-29T10:00:00.000Z');
const LOC = { bucket: 'b', prefix: 'fluxer/' };

function fakeS3(records: Record<string, { lastModifiedMs: number; body: object }>, serverDate: Date | undefined) {
  return {
    listObjectsV2Dated: async () => ({
      $metadata: {},
      serverDate,
      Contents: Object.entries(records).map(([Key, r]) => ({ Key, LastModified: new Date(r.lastModifiedMs) })),
    }),
    getObject: async ({ Key }: { Key?: string }) =>
      ({ $metadata: {}, Body: { transformToString: async () => JSON.stringify(records[Key!]!.body) } }) as never,
  };
}

const records = {
  'fluxer/nodes/i-live.json': { lastModifiedMs: S3_NOW - 30_000, body: { instanceId: 'i-live', state: 'READY', lastSeenAt: '2026-11-29T09:20:00.000Z' } },
  'fluxer/nodes/i-stale.json': { lastModifiedMs: S3_NOW - 5 * 60_000, body: { instanceId: 'i-stale', state: 'READY', lastSeenAt: '2026-11-29T10:00:00.000Z' } },
  'fluxer/nodes/i-stopped.json': { lastModifiedMs: S3_NOW, body: { instanceId: 'i-stopped', state: 'STOPPED' } },
};

describe('liveNodes', () => {
  for (const skewMin of [10, -10, 0]) {
    it(`judges liveness on S3's clock with the CLI clock off by ${skewMin} min`, async () => {
      const cliNow = S3_NOW + skewMin * 60_000;
      const nodes = await liveNodes(fakeS3(records, new Date(S3_NOW)), LOC, cliNow);
      expect(nodes.map((n) => n.instanceId)).toEqual(['i-live']);
    });
  }
});
