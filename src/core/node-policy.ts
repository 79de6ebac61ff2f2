// What a GPU node may do, as IAM documents: the trust policy of the node role (EC2 may assume it) and
// the inline policy scoped to one stack (its queue, its bucket's prefixes, its SSM parameters). Pure:
// setup writes these documents and doctor compares against them.
import type { StackSettings } from '../config/schema.js';

export const NODE_INLINE_POLICY_NAME = 'fluxer-node';
export const SSM_MANAGED_POLICY = 'AmazonSSMManagedInstanceCore';

/** The role and instance profile share the stack's `instanceProfile` name (default fluxer-<stack>-node). */
export function nodeRoleName(settings: Pick<StackSettings, 'instanceProfile'>): string {
  return settings.instanceProfile;
}

export function nodeSecurityGroupName(stack: string): string {
  return `fluxer-${stack}-node`;
}

/** "aws", "aws-cn" or "aws-us-gov", from any ARN of the account (STS's caller ARN). */
export function partitionOf(arn: string): string {
  return /^arn:([^:]+):/.exec(arn)?.[1] ?? 'aws';
}

export function managedPolicyArn(partition: string, name: string): string {
  return `arn:${partition}:iam::aws:policy/${name}`;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Array<Record<string, unknown>>;
}

export function nodeTrustPolicy(): PolicyDocument {
  return { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
}

export interface NodePolicyScope {
  partition: string;
  account: string;
  region: string;
  queueName: string;
  bucket: string;
  prefix: string;
  stack: string;
  hfTokenParameter: string;
}

/** Prefixes a node reads and writes (job status and images, its own record, SSM command output). */
export const NODE_READ_WRITE_PREFIXES = ['jobs/', 'nodes/', 'ssm-output/'] as const;
/** Prefixes a node only reads (runtime releases, model weights). */
export const NODE_READ_ONLY_PREFIXES = ['releases/', 'models/'] as const;

export function nodeInlinePolicy(s: NodePolicyScope): PolicyDocument {
  const bucketArn = `arn:${s.partition}:s3:::${s.bucket}`;
  const objects = (prefixes: readonly string[]) => prefixes.map((p) => `${bucketArn}/${s.prefix}${p}*`);
  const parameterArn = (name: string) => `arn:${s.partition}:ssm:${s.region}:${s.account}:parameter${name}`;
  const parameters = [parameterArn(`/fluxer/${s.stack}/*`)];
  // A token parameter outside the stack's path (configured by the operator) is granted by name.
  if (!s.hfTokenParameter.startsWith(`/fluxer/${s.stack}/`)) parameters.push(parameterArn(s.hfTokenParameter));
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'JobQueue',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:ChangeMessageVisibilityBatch', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        Resource: `arn:${s.partition}:sqs:${s.region}:${s.account}:${s.queueName}`,
      },
      { Sid: 'ReadWriteStackObjects', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: objects(NODE_READ_WRITE_PREFIXES) },
      { Sid: 'ReadReleasesAndModels', Effect: 'Allow', Action: ['s3:GetObject'], Resource: objects(NODE_READ_ONLY_PREFIXES) },
      {
        Sid: 'ListStackPrefixes',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: bucketArn,
        Condition: { StringLike: { 's3:prefix': [...NODE_READ_WRITE_PREFIXES, ...NODE_READ_ONLY_PREFIXES].map((p) => `${s.prefix}${p}*`) } },
      },
      { Sid: 'StackParameters', Effect: 'Allow', Action: ['ssm:GetParameter', 'ssm:GetParameters'], Resource: parameters },
    ],
  };
}

/**
 * A policy document as IAM returns it: URL-encoded JSON (GetRole, GetRolePolicy), sometimes not.
 * Undefined when it cannot be read.
 */
export function parsePolicyDocument(text: string | undefined): unknown {
  if (!text) return undefined;
  for (const candidate of [text, safeDecode(text)]) {
    try {
      return JSON.parse(candidate);
    } catch {
      /* try the next */
    }
  }
  return undefined;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Equal as JSON values, whatever the key order. */
export function sameDocument(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
