// webhook-certs/make-dev-certs.sh makes certificates the webhook server really serves with.
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { defaultInjectionConfig } from '../../../src/api/injection.js';
import { silentLogger } from '../../../src/log/logger.js';
import { WebhookServer } from '../../../src/webhook/server.js';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-dev-certs-'));
const script = path.join(process.cwd(), 'webhook-certs/make-dev-certs.sh');
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

function run(args: string[]): { code: number; stderr: string } {
  try {
    execFileSync('bash', [script, ...args], { env: { ...process.env, WEFT_DEV_CERTS_OUT: out }, stdio: 'pipe' });
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { status: number; stderr: Buffer };
    return { code: err.status, stderr: err.stderr.toString() };
  }
}

describe('make-dev-certs.sh', () => {
  it('makes a CA and a serving cert that the webhook serves and a client verifies', async () => {
    expect(run([]).code).toBe(0);
    const read = (f: string): string => fs.readFileSync(path.join(out, f), 'utf8');
    expect((fs.statSync(path.join(out, 'tls.key')).mode & 0o077)).toBe(0);
    expect(Buffer.from(read('ca-bundle.b64'), 'base64').toString()).toBe(read('ca.crt'));
    const server = new WebhookServer({ injection: new Map([['default', defaultInjectionConfig()]]), defaultRevision: 'default', logger: silentLogger() });
    const port = await server.listen({ certPem: read('tls.crt'), keyPem: read('tls.key') }, 0);
    try {
      const authorized = await new Promise<boolean>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: read('ca.crt') }, () => { resolve(s.authorized); s.end(); });
        s.on('error', reject);
      });
      expect(authorized).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('refuses to overwrite without --force, and rejects bad arguments clearly', () => {
    expect(run([])).toMatchObject({ code: 1, stderr: expect.stringContaining('pass --force') });
    expect(run(['--force', '--san', 'example.com'])).toMatchObject({ code: 2, stderr: expect.stringContaining('SAN must look like DNS:name or IP:addr') });
    expect(run(['--force', '--days', 'ten'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--days must be a whole number') });
    expect(run(['--bogus'])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown argument --bogus') });
  });
});
