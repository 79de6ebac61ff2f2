// The node's IAM documents (pure), the wait for a new instance profile to propagate (fake clock),
// and its classification in src/aws/errors.ts.
import { describe, expect, it } from 'vitest';
import { isInstanceProfilePropagating } from '../../src/aws/errors.js';
import { retryWhileProfilePropagates } from '../../src/core/node-identity.js';
import { managedPolicyArn, nodeInlinePolicy, parsePolicyDocument, partitionOf, sameDocument } from '../../src/core/node-policy.js';
import type { Clock } from '../../src/lib/clock.js';

const scope = { partition: 'aws', account: '111122223333', region: 'eu-west-1', queueName: 'q', bucket: 'b', prefix: 'fx/', stack: 'prod', hfTokenParameter: '/fluxer/prod/hf-token' };

function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });
}

describe('node policy documents', () => {
  it('scopes the inline policy to the stack: its queue, its prefixes, its parameters', () => {
    const doc = nodeInlinePolicy(scope);
    const bySid = Object.fromEntries(doc.Statement.map((s) => [s.Sid, s]));
    expect(bySid.JobQueue!.Resource).toBe('arn:aws:sqs:eu-west-1:111122223333:q');
    expect(bySid.ReadWriteStackObjects!.Resource).toEqual(['arn:aws:s3:::b/fx/jobs/*', 'arn:aws:s3:::b/fx/nodes/*', 'arn:aws:s3:::b/fx/ssm-output/*']);
    expect(bySid.ReadReleasesAndModels).toMatchObject({ Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::b/fx/releases/*', 'arn:aws:s3:::b/fx/models/*'] });
    expect(bySid.ListStackPrefixes).toMatchObject({ Resource: 'arn:aws:s3:::b', Condition: { StringLike: { 's3:prefix': ['fx/jobs/*', 'fx/nodes/*', 'fx/ssm-output/*', 'fx/releases/*', 'fx/models/*'] } } });
    expect(bySid.StackParameters!.Resource).toEqual(['arn:aws:ssm:eu-west-1:111122223333:parameter/fluxer/prod/*']);
    // No statement grants a wildcard resource.
    expect(JSON.stringify(doc)).not.toMatch(/"Resource":"\*"/);
  });

  it('grants a token parameter outside the stack path by name, and follows the partition', () => {
    const doc = nodeInlinePolicy({ ...scope, partition: 'aws-cn', hfTokenParameter: '/shared/hf' });
    const params = doc.Statement.find((s) => s.Sid === 'StackParameters')!.Resource;
    expect(params).toEqual(['arn:aws-cn:ssm:eu-west-1:111122223333:parameter/fluxer/prod/*', 'arn:aws-cn:ssm:eu-west-1:111122223333:parameter/shared/hf']);
    expect(partitionOf('arn:aws-us-gov:iam::1:user/x')).toBe('aws-us-gov');
    expect(managedPolicyArn('aws-cn', 'AmazonSSMManagedInstanceCore')).toBe('arn:aws-cn:iam::aws:policy/AmazonSSMManagedInstanceCore');
  });

  it('reads IAM\'s URL-encoded documents and compares them whatever the key order', () => {
    const doc = nodeInlinePolicy(scope);
    expect(sameDocument(parsePolicyDocument(encodeURIComponent(JSON.stringify(doc))), doc)).toBe(true);
    expect(sameDocument({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 })).toBe(true);
    expect(sameDocument({ b: [2, 1] }, { b: [1, 2] })).toBe(false);
    expect(parsePolicyDocument('%%not json')).toBeUndefined();
  });
});

describe('retryWhileProfilePropagates', () => {
  const propagating = () => awsError('InvalidParameterValue', 'Value (fluxer-prod-node) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name');

  function fakeClock(): Clock & { slept: number[] } {
    let t = 0;
    const slept: number[] = [];
    return { slept, now: () => t, sleep: async (ms) => void (slept.push(ms), (t += ms)) };
  }

  it('classifies only the propagation answer', () => {
    expect(isInstanceProfilePropagating(propagating())).toBe(true);
    expect(isInstanceProfilePropagating(awsError('InvalidParameterValue', 'Invalid value for InstanceType'))).toBe(false);
    expect(isInstanceProfilePropagating(awsError('InsufficientInstanceCapacity', 'Invalid IAM Instance Profile'))).toBe(false);
  });

  it('retries with growing delays until the launch succeeds', async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await retryWhileProfilePropagates(clock, async () => {
      if (++calls < 4) throw propagating();
      return 'i-1';
    });
    expect(result).toBe('i-1');
    expect(clock.slept).toEqual([2000, 4000, 8000]);
  });

  it('gives up after the budget, and never retries another error', async () => {
    const clock = fakeClock();
    await expect(retryWhileProfilePropagates(clock, async () => Promise.reject(propagating()), { maxWaitMs: 10_000 })).rejects.toThrow(/Invalid IAM Instance Profile/);
    expect(clock.slept).toEqual([2000, 4000]);
    let calls = 0;
    await expect(retryWhileProfilePropagates(fakeClock(), async () => (calls++, Promise.reject(awsError('UnauthorizedOperation', 'no'))))).rejects.toThrow('no');
    expect(calls).toBe(1);
  });
});
