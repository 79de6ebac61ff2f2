// The stack settings: one table that drives validation, defaults, environment variables and
// `fluxer config show`. Add a setting here and every part of config handling knows it.
import { MODEL_NAMES, schemaModel, type ModelName } from '../lib/job-schema.js';

export type FieldType = 'string' | 'string[]' | 'integer' | 'number' | 'boolean';

export interface FieldSpec {
  type: FieldType;
  description: string;
  /** Environment variable that sets it (FLUXER_* unless AWS has its own). */
  env?: string[];
  default?: (stack: string) => unknown;
  /** Returns an error message (naming the valid range) or undefined when the value is fine. */
  check?: (value: never) => string | undefined;
  /** Allowed values, for enums. */
  oneOf?: readonly string[];
}

/** The models a stack may default to: the job schema's list (schema/job.v1.schema.json). */
export const MODELS = MODEL_NAMES;
export type { ModelName };

const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const STACK_FIELDS = {
  region: {
    type: 'string',
    description: 'AWS region of the queue, bucket and (unless spotRegion is set) the nodes',
    env: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
    default: () => 'us-east-1',
    check: (v: string) => (REGION.test(v) ? undefined : `"${v}" is not an AWS region name (e.g. us-east-1)`),
  },
  spotRegion: {
    type: 'string',
    description: 'Region for the GPU nodes when it differs from `region`',
    env: ['FLUXER_SPOT_REGION'],
    check: (v: string) => (REGION.test(v) ? undefined : `"${v}" is not an AWS region name (e.g. us-west-2)`),
  },
  endpointUrl: {
    type: 'string',
    description: 'AWS-compatible endpoint for every service (the local stack sets this)',
    env: ['FLUXER_ENDPOINT_URL', 'AWS_ENDPOINT_URL'],
    check: (v: string) => (/^https?:\/\/[^\s]+$/.test(v) ? undefined : `"${v}" is not an http(s) URL`),
  },
  queueName: {
    type: 'string',
    description: 'SQS job queue name (its dead-letter queue is <name>-dlq)',
    env: ['FLUXER_QUEUE_NAME'],
    default: (stack: string) => `fluxer-${stack}-jobs`,
    check: (v: string) => (/^[A-Za-z0-9_-]{1,76}$/.test(v) ? undefined : `"${v}" must be 1-76 letters, digits, - or _`),
  },
  bucket: {
    type: 'string',
    description: 'S3 bucket for job status and images',
    env: ['FLUXER_BUCKET'],
    check: (v: string) => (BUCKET.test(v) ? undefined : `"${v}" is not a valid S3 bucket name (3-63 lower-case letters, digits, . or -)`),
  },
  prefix: {
    type: 'string',
    description: 'Key prefix inside the bucket (empty, or ending with /)',
    env: ['FLUXER_PREFIX'],
    default: () => 'fluxer/',
    check: (v: string) => (v === '' || v.endsWith('/') ? undefined : `"${v}" must be empty or end with "/"`),
  },
  instanceTypes: {
    type: 'string[]',
    description: 'GPU instance types to launch; the cheapest pool wins, and this order breaks ties (pools within 5% of the cheapest, after placement score)',
    env: ['FLUXER_INSTANCE_TYPES'],
    default: () => ['g6e.xlarge', 'g5.xlarge', 'g6.xlarge'],
    check: (v: string[]) =>
      v.length === 0 ? 'must list at least one instance type' : v.find((t) => !/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(t)) ? `"${v.find((t) => !/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(t))}" is not an instance type (e.g. g5.xlarge)` : undefined,
  },
  maxPrice: {
    type: 'number',
    description: 'Highest spot price to pay, USD per instance-hour (unset: up to on-demand)',
    env: ['FLUXER_MAX_PRICE'],
    check: (v: number) => (v > 0 && v <= 1000 ? undefined : `${v} must be > 0 and <= 1000 (USD per hour)`),
  },
  ami: {
    type: 'string',
    description: 'AMI id, or "latest": the stack\'s default AMI (SSM /fluxer/<stack>/ami), else the newest AMI baked by fluxer for the stack, else AWS\'s Deep Learning AMI (public SSM parameter)',
    env: ['FLUXER_AMI'],
    default: () => 'latest',
    check: (v: string) => (v === 'latest' || /^ami-[0-9a-f]{8,17}$/.test(v) ? undefined : `"${v}" must be "latest" or an AMI id (ami-…)`),
  },
  instanceProfile: {
    type: 'string',
    description: 'IAM instance profile the nodes run as',
    env: ['FLUXER_INSTANCE_PROFILE'],
    default: (stack: string) => `fluxer-${stack}-node`,
  },
  subnets: {
    type: 'string[]',
    description: 'Subnet ids to launch into (empty: the default VPC\'s subnets)',
    env: ['FLUXER_SUBNETS'],
    default: () => [],
  },
  securityGroups: {
    type: 'string[]',
    description: 'Security group ids for the nodes (no inbound rules needed)',
    env: ['FLUXER_SECURITY_GROUPS'],
    default: () => [],
  },
  volumeSize: {
    type: 'integer',
    description: 'Root volume size in GiB',
    env: ['FLUXER_VOLUME_SIZE'],
    default: () => 100,
    check: (v: number) => (v >= 30 && v <= 16384 ? undefined : `${v} must be between 30 and 16384 GiB`),
  },
  template: {
    type: 'string',
    description: 'User-data template: a name in templates/ or a file path',
    env: ['FLUXER_TEMPLATE'],
    default: () => 'node-bootstrap',
  },
  model: {
    type: 'string',
    description: 'Default model for jobs and the model nodes load',
    env: ['FLUXER_MODEL'],
    oneOf: MODELS,
    default: () => schemaModel('flux-dev'),
  },
  hfTokenParameter: {
    type: 'string',
    description: 'SSM Parameter Store name of the Hugging Face token (SecureString); never the token itself',
    env: ['FLUXER_HF_TOKEN_PARAMETER'],
    default: (stack: string) => `/fluxer/${stack}/hf-token`,
    check: (v: string) => (v.startsWith('/') ? undefined : `"${v}" must be a parameter path starting with "/"`),
  },
  jobRetentionDays: {
    type: 'integer',
    description: 'Days after which jobs/ objects expire (bucket lifecycle rule)',
    env: ['FLUXER_JOB_RETENTION_DAYS'],
    default: () => 30,
    check: (v: number) => (v >= 1 && v <= 3650 ? undefined : `${v} must be between 1 and 3650 days`),
  },
  nodeRetentionDays: {
    type: 'integer',
    description: 'Days after which node records (nodes/) expire once a node stops writing them (bucket lifecycle rule)',
    env: ['FLUXER_NODE_RETENTION_DAYS'],
    default: () => 90,
    check: (v: number) => (v >= 1 && v <= 3650 ? undefined : `${v} must be between 1 and 3650 days`),
  },
  visibilityTimeout: {
    type: 'integer',
    description: 'Seconds a received job stays invisible before another node may take it (the runtime extends it while working)',
    env: ['FLUXER_VISIBILITY_TIMEOUT'],
    default: () => 300,
    check: (v: number) => (v >= 30 && v <= 43200 ? undefined : `${v} must be between 30 and 43200 seconds`),
  },
  heartbeatSeconds: {
    type: 'number',
    description: "Seconds between the runtime's visibility extensions; times 2 must not exceed visibilityTimeout",
    env: ['FLUXER_HEARTBEAT_SECONDS'],
    default: () => 30,
    check: (v: number) => (v >= 0.1 && v <= 21600 ? undefined : `${v} must be between 0.1 and 21600 seconds`),
  },
  nodeLifetimeMinutes: {
    type: 'integer',
    description: 'Minutes after its bootstrap starts at which a node powers itself off (and so terminates), whatever happens; 0: no limit',
    env: ['FLUXER_NODE_LIFETIME_MINUTES'],
    default: () => 0,
    check: (v: number) => (v >= 0 && v <= 10080 ? undefined : `${v} must be between 0 (no limit) and 10080 minutes (a week)`),
  },
} satisfies Record<string, FieldSpec>;

export type StackKey = keyof typeof STACK_FIELDS;
export const STACK_KEYS = Object.keys(STACK_FIELDS) as StackKey[];

export interface StackSettings {
  region: string;
  spotRegion?: string;
  endpointUrl?: string;
  queueName: string;
  bucket?: string;
  prefix: string;
  instanceTypes: string[];
  maxPrice?: number;
  ami: string;
  instanceProfile: string;
  subnets: string[];
  securityGroups: string[];
  volumeSize: number;
  template: string;
  model: ModelName;
  hfTokenParameter: string;
  jobRetentionDays: number;
  nodeRetentionDays: number;
  visibilityTimeout: number;
  heartbeatSeconds: number;
  /** Always set once loaded (default 0); optional so settings written out by hand in tests need not name it. */
  nodeLifetimeMinutes?: number;
}

/** Checks one value's type and range. Returns an error message or undefined. */
export function checkField(key: StackKey, value: unknown): string | undefined {
  const spec: FieldSpec = STACK_FIELDS[key];
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') return `must be a string, got ${describeType(value)}`;
      break;
    case 'string[]':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) return `must be an array of strings, got ${describeType(value)}`;
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return `must be an integer, got ${describeType(value)}`;
      break;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a number, got ${describeType(value)}`;
      break;
    case 'boolean':
      if (typeof value !== 'boolean') return `must be true or false, got ${describeType(value)}`;
      break;
  }
  if (spec.oneOf && !spec.oneOf.includes(value as string)) return `"${String(value)}" must be one of: ${spec.oneOf.join(', ')}`;
  return spec.check ? spec.check(value as never) : undefined;
}

/** Parses an environment variable's text into the field's type. */
export function parseEnvValue(key: StackKey, text: string): unknown {
  const spec: FieldSpec = STACK_FIELDS[key];
  switch (spec.type) {
    case 'string[]':
      return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    case 'integer':
    case 'number':
      return text.trim() === '' ? Number.NaN : Number(text);
    case 'boolean':
      return text === 'true' || text === '1' ? true : text === 'false' || text === '0' ? false : text;
    default:
      return text;
  }
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string "${v}"`;
  return `${typeof v} ${JSON.stringify(v)}`;
}
