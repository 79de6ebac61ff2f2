import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ANSI_ESCAPE, runCli, testEnv } from '../support/cli.js';

const HF_TOKEN = 'hf_' + 'kQ7vXz2LmN9pR4sT6uW8yA1bC3dE5fG7hJ';
const SCRIPT = '#cloud-config\nruncmd:\n  - [systemctl, enable, --now, fluxer-runtime]\n';
const BIG = `#cloud-config\nwrite_files:\n  - path: /etc/notes\n    content: |\n${'      # the same note, many times over\n'.repeat(700)}`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fluxer-udcheck-'));
});

function file(name: string, data: string | Buffer): string {
  writeFileSync(join(dir, name), data);
  return name;
}

const check = (args: string[], tty = false) => runCli(['userdata', 'check', ...args], { cwd: dir, env: testEnv(), tty });

describe('fluxer userdata check', () => {
  it('plain user data that fits and holds no secret: exit 0 and a tab-separated report when piped', async () => {
    const r = await check([file('ok.yaml', SCRIPT)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toMatch(ANSI_ESCAPE);
    expect(r.stdout.split('\n')).toEqual(['CHECK\tRESULT', 'encoding\tplain', `size\t${SCRIPT.length} bytes of 16,384 bytes`, 'fits\tyes', 'secrets\tnone', '']);
  });

  it('recognises gzip and base64-of-gzip, and counts the bytes EC2 counts', async () => {
    const gz = gzipSync(BIG);
    for (const [name, data, encoding] of [
      ['big.gz', gz, 'gzip'],
      ['big.b64', `${gz.toString('base64')}\n`, 'base64+gzip'],
      ['small.b64', Buffer.from(SCRIPT).toString('base64'), 'base64'],
    ] as const) {
      const r = await check([file(name, data), '--json']);
      expect(r.code, name).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc).toMatchObject({ file: name, encoding, fits: true, ok: true, secrets: [] });
      if (encoding !== 'base64') expect(doc).toMatchObject({ bytes: gz.length, plainBytes: BIG.length, gzip: true });
    }
  });

  it('over the limit: exit 2, the largest parts, and a hint that gzip would fit', async () => {
    const r = await check([file('big.yaml', BIG)]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('fits\tno');
    expect(r.stderr).toMatch(/^Error: big\.yaml is [\d,]+ bytes, over EC2's 16,384 bytes limit\. Largest parts:\n {2}write_files \/etc\/notes \(lines 3-704\)/);
    expect(r.stderr).toMatch(/Hint: Gzip it \(it would be [\d,]+ bytes\)/);
  });

  it('a secret, even inside gzip: exit 2, masked, in the one JSON document', async () => {
    const r = await check([file('leak.gz', gzipSync(`${SCRIPT}write_files:\n  - path: /root/.hf\n    content: ${HF_TOKEN}\n`)), '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.secrets).toEqual([{ kind: 'hugging-face-token', label: 'Hugging Face token', line: 6, column: 14, masked: 'hf_…(37 chars)' }]);
    expect(r.stdout + r.stderr).not.toContain(HF_TOKEN.slice(3, 12));
  });

  it('corrupt gzip or a missing file: exit 2 with the file name', async () => {
    const corrupt = await check([file('bad.gz', Buffer.concat([gzipSync(SCRIPT).subarray(0, 12), randomBytes(8)]))]);
    expect(corrupt.code).toBe(2);
    expect(corrupt.stderr).toMatch(/^Error: bad\.gz: gzip data is corrupt/);
    const missing = await check(['absent.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('Error: Cannot read absent.yaml: ENOENT\n');
  });

  it('warns when cloud-init would not recognise the format', async () => {
    const r = await check([file('noheader.yaml', 'runcmd: []\n')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^Warning: the user data starts with "runcmd: \[\]", which cloud-init does not recognise/);
  });
});
