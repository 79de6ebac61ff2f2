// Finds credentials in text that is about to leave the operator's machine (user data today; logs and
// tags later) so they are refused before AWS stores them in plain sight: user data is readable by
// anyone with ec2:DescribeInstanceAttribute and from inside the instance by every process.
// Findings never carry the secret itself, only a masked form safe to print.

export type SecretKind = 'aws-access-key-id' | 'aws-secret-access-key' | 'hugging-face-token' | 'private-key';

export interface SecretFinding {
  kind: SecretKind;
  /** What it is, for messages: "AWS access key id". */
  label: string;
  /** 1-based line and column of the secret's first character. */
  line: number;
  column: number;
  /** A form that identifies the finding without revealing it: "AKIA…(20 chars)". */
  masked: string;
}

interface SecretPattern {
  kind: SecretKind;
  label: string;
  regex: RegExp;
  /** Which capture group holds the secret (0: the whole match). */
  group: number;
  /** How many leading characters are safe to show (a fixed prefix such as AKIA or hf_). */
  visiblePrefix: number;
}

const PATTERNS: readonly SecretPattern[] = [
  {
    kind: 'aws-access-key-id',
    label: 'AWS access key id',
    // AKIA: long-term user keys; ASIA: temporary (STS) keys. 16 more upper-case letters or digits.
    regex: /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/g,
    group: 0,
    visiblePrefix: 4,
  },
  {
    kind: 'aws-secret-access-key',
    label: 'AWS secret access key',
    // The 40-character key is only recognisable next to its name; a bare 40-char base64 run is too
    // common (hashes, ids) to refuse on its own.
    regex: /(?:aws_?secret_?access_?key|secret_?access_?key)["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi,
    group: 1,
    visiblePrefix: 0,
  },
  {
    kind: 'hugging-face-token',
    label: 'Hugging Face token',
    // hf_ then 30+ letters/digits; names such as hf_token_parameter do not match (underscores).
    regex: /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9_])/g,
    group: 0,
    visiblePrefix: 3,
  },
  {
    kind: 'private-key',
    label: 'private key',
    regex: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/g,
    group: 0,
    visiblePrefix: 0,
  },
];

export function findSecrets(text: string): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const lineStarts = lineStartOffsets(text);
  for (const pattern of PATTERNS) {
    for (const match of text.matchAll(pattern.regex)) {
      const secret = match[pattern.group] ?? match[0];
      const offset = (match.index ?? 0) + match[0].indexOf(secret);
      const { line, column } = position(lineStarts, offset);
      findings.push({
        kind: pattern.kind,
        label: pattern.label,
        line,
        column,
        masked: pattern.kind === 'private-key' ? match[0] : mask(secret, pattern.visiblePrefix),
      });
    }
  }
  return findings.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** Shows only a fixed, non-secret prefix and the length. */
export function mask(secret: string, visiblePrefix = 0): string {
  return `${secret.slice(0, visiblePrefix)}…(${secret.length} chars)`;
}

/** One line per finding, e.g. "line 12: Hugging Face token hf_…(37 chars)". */
export function describeFinding(f: SecretFinding): string {
  return `line ${f.line}: ${f.label} ${f.masked}`;
}

export const SECRET_HINT =
  'Keep secrets out of user data: store it in SSM Parameter Store as a SecureString ' +
  '(aws ssm put-parameter --type SecureString --name /fluxer/<stack>/hf-token --value ...) and pass the parameter name ' +
  '(hfTokenParameter in the stack config, or --var hf_token_parameter=/fluxer/<stack>/hf-token); the node reads it at boot.';

function lineStartOffsets(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function position(lineStarts: number[], offset: number): { line: number; column: number } {
  let lo = 0;
  let hi = lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lineStarts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - lineStarts[lo]! + 1 };
}
