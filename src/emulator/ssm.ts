// SSM Run Command that really runs commands (registered in server.ts; the engine is ssm-run.ts). moto's SSM
// only records SendCommand, answers GetCommandInvocation with Success and empty output, and has no
// ListCommandInvocations, CancelCommand or DescribeInstanceInformation (HTTP 500). Served here, AWS JSON 1.1
// by `X-Amz-Target: AmazonSSM.<Op>`, shapes from the API reference (and botocore's ssm service model):
//   SendCommand                  https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html
//     AWS-RunShellScript only (any other document goes on to moto); InstanceIds 1-50 (ValidationException
//     beyond); TimeoutSeconds 30-2592000 as AWS validates it; every id a registered node (node.json in the
//     emulator's nodes dir) of a pending/running instance in moto, else the whole call is InvalidInstanceId.
//   GetCommandInvocation         https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html
//     StandardOutputContent: the first 24,000 characters, StandardErrorContent: the first 8,000 (the whole
//     text only through OutputS3BucketName). InvocationDoesNotExist for CONSISTENCY_DELAY_MS after sending
//     (AWS is eventually consistent: clients must retry it) and for ids it never had.
//   ListCommandInvocations       https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ListCommandInvocations.html
//     CommandPlugin.Output (API_CommandPlugin.html) is at most 2,500 characters: SSM Agent's TruncateOutput,
//     stdout, then "\n----------ERROR-------\n" and stderr when there is any, each cut with
//     "\n---Output truncated---" / "\n---Error truncated----" when both do not fit. MaxResults 1-50.
//   ListCommands, CancelCommand  API_ListCommands.html, API_CancelCommand.html (answer `{}`)
//   DescribeInstanceInformation  https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstanceInformation.html
//     registered nodes whose instance moto knows (not terminated); Online while the node's pid lives and the
//     instance runs, else ConnectionLost; MaxResults 5-50, default 10.
// Everything else (GetParameter, PutParameter...) passes through to moto.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { listRegistrations, pidAlive, readRegistration } from './nodes.js';
import { describeInstances, instanceUsable, SsmRunner, type CommandRecord, type Invocation } from './ssm-run.js';
import type { ForwardingModule, StandinRequest, Upstream } from './server.js';
import { commandView, invocationView, resultView } from './ssm-views.js';

/** How long after SendCommand GetCommandInvocation still answers InvocationDoesNotExist. */
export const CONSISTENCY_DELAY_MS = 200;
const ACCOUNT_ID = '123456789012';
const RUN_SHELL = 'AWS-RunShellScript';

type Body = Record<string, unknown>;
class SsmError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': randomUUID(), ...(errorType ? { 'X-Amzn-ErrorType': errorType } : {}) });
  res.end(text);
}

const validation = (value: unknown, field: string, constraint: string) => new SsmError('ValidationException', `1 validation error detected: Value '${JSON.stringify(value)}' at '${field}' failed to satisfy constraint: ${constraint}`);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

/** Pages of a list by an opaque offset token. */
function page<T>(items: T[], body: Body, max: { min: number; max: number; dflt: number }, field = 'maxResults'): { items: T[]; NextToken?: string } {
  const n = body.MaxResults === undefined ? max.dflt : Number(body.MaxResults);
  if (!Number.isInteger(n) || n < max.min || n > max.max) throw validation(body.MaxResults, field, `Member must have value between ${max.min} and ${max.max}`);
  let start = 0;
  if (body.NextToken !== undefined) {
    const m = /^o:(\d+)$/.exec(Buffer.from(String(body.NextToken), 'base64url').toString());
    if (!m) throw new SsmError('InvalidNextToken', 'The specified token is not valid.');
    start = Number(m[1]);
  }
  const next = start + n < items.length ? Buffer.from(`o:${start + n}`).toString('base64url') : undefined;
  return { items: items.slice(start, start + n), ...(next ? { NextToken: next } : {}) };
}

export function ssmStandin(opts: { nodesDir: string; now?: () => number }): ForwardingModule {
  const now = opts.now ?? Date.now;
  const commands = new Map<string, CommandRecord>();
  const motoCommands = new Set<string>();
  let runner: SsmRunner | undefined;

  const sendCommand = async (req: StandinRequest, upstream: Upstream, body: Body): Promise<unknown> => {
    const ids = strings(body.InstanceIds);
    if (ids.length > 50) throw validation(ids, 'instanceIds', 'Member must have length less than or equal to 50');
    if (ids.length === 0) throw new SsmError('ValidationException', 'Either InstanceIds or Targets must be specified.');
    if (new Set(ids).size !== ids.length) throw new SsmError('DuplicateInstanceId', 'You cannot specify an instance ID in more than one association.');
    const timeoutS = body.TimeoutSeconds === undefined ? 3600 : Number(body.TimeoutSeconds);
    if (!Number.isInteger(timeoutS) || timeoutS < 30 || timeoutS > 2_592_000) throw validation(body.TimeoutSeconds, 'timeoutSeconds', 'Member must have value greater than or equal to 30 and less than or equal to 2592000');
    const params = (body.Parameters ?? {}) as Record<string, unknown>;
    const lines = strings(params.commands);
    if (lines.length === 0) throw new SsmError('InvalidParameters', 'Parameter "commands" is required.');
    const exec = strings(params.executionTimeout)[0] ?? '3600';
    // The document's allowedPattern: 1 to 172800 seconds.
    if (!/^[1-9]\d{0,5}$/.test(exec) || Number(exec) > 172_800) throw new SsmError('InvalidParameters', `Parameter "executionTimeout" "${exec}" failed to satisfy constraint: 1 to 172800 seconds.`);
    const region = req.scope.region ?? 'us-east-1';
    const authorization = req.headers.authorization ?? '';
    const facts = await describeInstances(upstream, { authorization, region }, ids);
    const bad = ids.filter((id) => !readRegistration(opts.nodesDir, id) || !instanceUsable(facts.get(id)));
    if (bad.length) throw new SsmError('InvalidInstanceId', `Instances [[${bad.join(', ')}]] not in a valid state for account ${ACCOUNT_ID}`);
    const commandId = randomUUID();
    const requestedAt = now();
    const cmd: CommandRecord = {
      commandId,
      documentName: RUN_SHELL,
      comment: String(body.Comment ?? ''),
      parameters: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, strings(v)])),
      script: lines.join('\n'),
      executionTimeoutS: Number(exec),
      timeoutS,
      instanceIds: ids,
      requestedAt,
      bucket: String(body.OutputS3BucketName ?? ''),
      prefix: String(body.OutputS3KeyPrefix ?? ''),
      maxConcurrency: String(body.MaxConcurrency ?? '50'),
      maxErrors: String(body.MaxErrors ?? '0'),
      region,
      authorization,
      invocations: new Map(ids.map((id): [string, Invocation] => [id, { commandId, instanceId: id, status: 'Pending', statusDetails: 'Pending', responseCode: -1, requestedAt, stdout: '', stderr: '', stdoutUrl: '', stderrUrl: '' }])),
    };
    commands.set(commandId, cmd);
    runner ??= new SsmRunner(opts.nodesDir, upstream, now);
    runner.start(cmd);
    return { Command: commandView(cmd) };
  };

  const commandOf = (body: Body, required = true): CommandRecord | undefined => {
    const id = body.CommandId === undefined ? undefined : String(body.CommandId);
    if (id === undefined && !required) return undefined;
    const cmd = id === undefined ? undefined : commands.get(id);
    if (!cmd) throw new SsmError('InvalidCommandId', '');
    return cmd;
  };

  const getInvocation = (body: Body): unknown => {
    const cmd = commands.get(String(body.CommandId ?? ''));
    const inv = cmd?.invocations.get(String(body.InstanceId ?? ''));
    if (!cmd || !inv || now() - cmd.requestedAt < CONSISTENCY_DELAY_MS) throw new SsmError('InvocationDoesNotExist', '');
    if (body.PluginName !== undefined && body.PluginName !== 'aws:runShellScript') throw new SsmError('InvalidPluginName', '');
    return resultView(cmd, inv, now());
  };

  const listInvocations = (body: Body): unknown => {
    const cmd = commandOf(body, false);
    const filters = (Array.isArray(body.Filters) ? body.Filters : []) as { key?: string; value?: string }[];
    let all = (cmd ? [cmd] : [...commands.values()].reverse()).flatMap((c) => [...c.invocations.values()].map((inv) => ({ c, inv })));
    if (body.InstanceId !== undefined) all = all.filter(({ inv }) => inv.instanceId === body.InstanceId);
    for (const f of filters) {
      const v = String(f.value ?? '');
      if (f.key === 'Status') all = all.filter(({ inv }) => inv.status === v);
      else if (f.key === 'DocumentName') all = all.filter(({ c }) => c.documentName === v);
      else if (f.key === 'InvokedAfter') all = all.filter(({ inv }) => inv.requestedAt >= Date.parse(v));
      else if (f.key === 'InvokedBefore') all = all.filter(({ inv }) => inv.requestedAt <= Date.parse(v));
      else throw new SsmError('InvalidFilterKey', '');
    }
    const { items, NextToken } = page(all, body, { min: 1, max: 50, dflt: 50 });
    return { CommandInvocations: items.map(({ c, inv }) => invocationView(c, inv, body.Details === true)), ...(NextToken ? { NextToken } : {}) };
  };

  const listCommands = (body: Body): unknown => {
    const cmd = commandOf(body, false);
    let all = cmd ? [cmd] : [...commands.values()].reverse();
    if (body.InstanceId !== undefined) all = all.filter((c) => c.invocations.has(String(body.InstanceId)));
    const { items, NextToken } = page(all, body, { min: 1, max: 50, dflt: 50 });
    return { Commands: items.map(commandView), ...(NextToken ? { NextToken } : {}) };
  };

  const cancelCommand = (body: Body): unknown => {
    const cmd = commandOf(body)!;
    const ids = body.InstanceIds === undefined ? [...cmd.invocations.keys()] : strings(body.InstanceIds);
    const unknown = ids.filter((id) => !cmd.invocations.has(id));
    if (unknown.length) throw new SsmError('InvalidInstanceId', `Instances [[${unknown.join(', ')}]] not in a valid state for account ${ACCOUNT_ID}`);
    if (body.InstanceIds === undefined) cmd.cancelled = true;
    for (const id of ids) runner?.cancel(cmd.invocations.get(id)!);
    return {};
  };

  const describeInformation = async (req: StandinRequest, upstream: Upstream, body: Body): Promise<unknown> => {
    const wanted: Record<string, string[]> = {};
    for (const f of (Array.isArray(body.Filters) ? body.Filters : []) as { Key?: string; Values?: unknown }[]) wanted[String(f.Key)] = strings(f.Values);
    for (const f of (Array.isArray(body.InstanceInformationFilterList) ? body.InstanceInformationFilterList : []) as { key?: string; valueSet?: unknown }[]) wanted[String(f.key)] = strings(f.valueSet);
    for (const key of Object.keys(wanted)) if (!['InstanceIds', 'PingStatus', 'PlatformTypes', 'ResourceType'].includes(key)) throw new SsmError('InvalidFilterKey', '');
    let regs = listRegistrations(opts.nodesDir);
    if (wanted.InstanceIds) regs = regs.filter((r) => wanted.InstanceIds!.includes(r.instanceId));
    const region = req.scope.region ?? 'us-east-1';
    const facts = regs.length ? await describeInstances(upstream, { authorization: req.headers.authorization ?? '', region }, regs.map((r) => r.instanceId)) : new Map();
    const t = now() / 1000;
    let list = regs
      .filter((r) => facts.has(r.instanceId) && facts.get(r.instanceId)!.state !== 'terminated')
      .sort((a, b) => a.instanceId.localeCompare(b.instanceId))
      .map((r) => {
        const f = facts.get(r.instanceId)!;
        const online = pidAlive(r.pid) && instanceUsable(f);
        return {
          InstanceId: r.instanceId,
          PingStatus: online ? 'Online' : 'ConnectionLost',
          LastPingDateTime: online ? t : Date.parse(r.registeredAt) / 1000,
          AgentVersion: '3.3.1142.0',
          IsLatestVersion: true,
          PlatformType: 'Linux',
          PlatformName: 'Ubuntu',
          PlatformVersion: '22.04',
          ResourceType: 'EC2Instance',
          IPAddress: f.privateIp ?? '',
          ComputerName: f.privateDns ?? `ip-${(f.privateIp ?? '10.0.0.1').replace(/\./g, '-')}.ec2.internal`,
          AssociationStatus: 'Success',
          RegistrationDate: Date.parse(r.registeredAt) / 1000,
        };
      });
    if (wanted.PingStatus) list = list.filter((i) => wanted.PingStatus!.includes(i.PingStatus));
    if (wanted.PlatformTypes) list = list.filter((i) => wanted.PlatformTypes!.includes(i.PlatformType));
    if (wanted.ResourceType) list = list.filter((i) => wanted.ResourceType!.includes(i.ResourceType));
    const { items, NextToken } = page(list, body, { min: 5, max: 50, dflt: 10 });
    return { InstanceInformationList: items, ...(NextToken ? { NextToken } : {}) };
  };

  return {
    stop: () => runner?.stopAll(),
    async handle(req, res, upstream) {
      const op = req.target?.startsWith('AmazonSSM.') ? req.target.slice('AmazonSSM.'.length) : undefined;
      if (!op || !['SendCommand', 'GetCommandInvocation', 'ListCommandInvocations', 'ListCommands', 'CancelCommand', 'DescribeInstanceInformation'].includes(op)) return false;
      let body: Body;
      try {
        body = JSON.parse(req.body.toString('utf8') || '{}') as Body;
      } catch {
        send(res, 400, { __type: 'SerializationException', Message: 'request body is not JSON' }, 'SerializationException');
        return true;
      }
      // Other documents: moto's (record-only) Run Command, then and for later calls about that command.
      if (typeof body.CommandId === 'string' && motoCommands.has(body.CommandId)) return false;
      if (op === 'SendCommand' && body.DocumentName !== RUN_SHELL) {
        const answer = await upstream({ method: req.method, path: req.path, headers: req.headers, body: req.body });
        const id = /"CommandId":\s*"([^"]+)"/.exec(answer.body.toString('utf8'))?.[1];
        if (id) motoCommands.add(id);
        res.writeHead(answer.status, { 'Content-Type': String(answer.headers['content-type'] ?? 'application/x-amz-json-1.1'), 'Content-Length': answer.body.length });
        res.end(answer.body);
        return true;
      }
      try {
        const answer =
          op === 'SendCommand' ? await sendCommand(req, upstream, body)
          : op === 'GetCommandInvocation' ? getInvocation(body)
          : op === 'ListCommandInvocations' ? listInvocations(body)
          : op === 'ListCommands' ? listCommands(body)
          : op === 'CancelCommand' ? cancelCommand(body)
          : await describeInformation(req, upstream, body);
        send(res, 200, answer);
      } catch (err) {
        if (!(err instanceof SsmError)) throw err;
        send(res, 400, { __type: err.type, ...(err.message ? { Message: err.message } : {}) }, err.type);
      }
      return true;
    },
  };
}

