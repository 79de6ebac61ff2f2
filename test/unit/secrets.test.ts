import { describe, expect, it } from 'vitest';
import { describeFinding, findSecrets, mask } from '../../src/core/secrets.js';

// Built at run time so the repository itself never holds a string that looks like a live credential.
const ACCESS_KEY_ID = 'AKIA' + 'Z7Q2XW4RT9KD3MPL';
const SESSION_KEY_ID = 'ASIA' + 'B5N8Q2XW4RT9KD3M';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/' + 'bPxRfiCYzQ8s0mVxA1';
const HF_TOKEN = 'hf_' + 'kQ7vXz2LmN9pR4sT6uW8yA1bC3dE5fG7hJ';
const PRIVATE_KEY = ['-----BEGIN OPENSSH ' + 'PRIVATE KEY-----', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ', '-----END OPENSSH PRIVATE KEY-----'].join('\n');

describe('findSecrets', () => {
  it('finds AWS access key ids (long-term AKIA and temporary ASIA) with their line and column', () => {
    const found = findSecrets(`#cloud-config\nkey: ${ACCESS_KEY_ID}\n  other=${SESSION_KEY_ID}\n`);
    expect(found.map((f) => [f.kind, f.line, f.column])).toEqual([
      ['aws-access-key-id', 2, 6],
      ['aws-access-key-id', 3, 9],
    ]);
  });

  it('finds a secret access key next to its name, in env, ini and JSON spellings', () => {
    for (const text of [`AWS_SECRET_ACCESS_KEY=${SECRET_KEY}`, `aws_secret_access_key = ${SECRET_KEY}`, `"secretAccessKey": "${SECRET_KEY}"`]) {
      const found = findSecrets(text);
      expect(found, text).toHaveLength(1);
      expect(found[0]!.kind).toBe('aws-secret-access-key');
    }
  });

  it('does not flag a bare 40-character string, which hashes and ids look like', () => {
    expect(findSecrets(`checksum: ${SECRET_KEY}`)).toEqual([]);
  });

  it('finds Hugging Face tokens but not names such as hf_token_parameter', () => {
    expect(findSecrets(`HF_TOKEN=${HF_TOKEN}`).map((f) => f.kind)).toEqual(['hugging-face-token']);
    expect(findSecrets('FLUXER_HF_TOKEN_PARAMETER=/fluxer/prod/hf-token\nhf_token_parameter: x\nhf_short123')).toEqual([]);
  });

  it('finds private key blocks of any type', () => {
    expect(findSecrets(PRIVATE_KEY).map((f) => f.kind)).toEqual(['private-key']);
    expect(findSecrets('-----BEGIN RSA PRIVATE KEY-----').map((f) => f.kind)).toEqual(['private-key']);
    expect(findSecrets('-----BEGIN PUBLIC KEY-----\n-----BEGIN CERTIFICATE-----')).toEqual([]);
  });

  it('never carries the secret in what it reports', () => {
    const text = [ACCESS_KEY_ID, `AWS_SECRET_ACCESS_KEY=${SECRET_KEY}`, HF_TOKEN].join('\n');
    const shown = findSecrets(text).map(describeFinding).join('\n');
    expect(shown).toContain('line 1: AWS access key id AKIA…(20 chars)');
    expect(shown).toContain('line 3: Hugging Face token hf_…(37 chars)');
    for (const secret of [ACCESS_KEY_ID, SECRET_KEY, HF_TOKEN, SECRET_KEY.slice(0, 8), HF_TOKEN.slice(0, 8)]) expect(shown).not.toContain(secret);
  });

  it('mask shows only the fixed prefix and the length', () => {
    expect(mask('hf_abcdef', 3)).toBe('hf_…(9 chars)');
    expect(mask('secret')).toBe('…(6 chars)');
  });
});
