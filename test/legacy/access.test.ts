import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';

// Access keys per namespace, the legacy order of checks, and the ::ffff: stripping of client addresses.
let b: RunningBroker;
beforeAll(async () => {
  const home = tempDir();
  mkdirSync(join(home, 'etc'));
  writeFileSync(join(home, 'etc', 'bpbroker.json'), JSON.stringify({ services: { _access_key: 's3cret' }, ping: { _access_key: 'pingkey' } }));
  b = await startBroker({ home });
});
afterAll(async () => {
  await b.stop();
  removeDir(b.home);
});

describe('access keys', () => {
  it('requires the namespace key, compared exactly', async () => {
    for (const key of [undefined, '', 'S3CRET', 's3cret ', 'pingkey']) {
      const params: Record<string, string> = { name: 'k', data: '{}' };
      if (key !== undefined) params.access_key = key;
      const r = await call(b.port, `/services/Register/?${qs(params)}`);
      expect(r.status, String(key)).toBe(401);
      expect(r.reason).toBe('Incorrect access key');
      expect(r.json).toEqual({ success: false, message: 'Incorrect access key', data: {} });
    }
    const ok = await call(b.port, `/services/Register/?${qs({ name: 'k', data: '{}', access_key: 's3cret' })}`);
    expect(ok.json.success).toBe(true);
    const body = await call(b.port, '/services/Get/', { body: 'name=k&access_key=s3cret', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(body.json.success).toBe(true);
    expect((await call(b.port, `/ping/Ping/?access_key=pingkey&data=1`)).json.data).toBe(1);
    expect((await call(b.port, `/ping/Ping/?access_key=s3cret&data=1`)).status).toBe(401);
  });

  it('checks namespace, then key, then method; first failure wins', async () => {
    const cases: Array<[string, string]> = [
      ['/nosuch/Get/?access_key=wrong', 'Unauthorized package'],
      ['/services/Nope/?access_key=wrong', 'Incorrect access key'],
      ['/services/Nope/?access_key=s3cret', 'Unauthorized method'],
      ['/services/_private/?access_key=s3cret', 'Unauthorized method'],
      ['/ping/Ping/?access_key=wrong', 'Incorrect access key'],
    ];
    for (const [path, message] of cases) {
      const r = await call(b.port, path);
      expect(r.status, path).toBe(401);
      expect(r.reason, path).toBe(message);
    }
  });

  it('never serves the key as an entry (fixed)', async () => {
    const r = await call(b.port, `/services/Get/?${qs({ name: '_access_key', access_key: 's3cret' })}`);
    expect(r.status).toBe(400);
    expect(r.json.message).toBe('Reserved name _access_key');
    expect(r.text).not.toContain('s3cret');
  });
});

describe('client address', () => {
  it('stamps IPv4 text, never ::ffff:, on a dual-stack listener', async () => {
    const home = tempDir();
    const dual = await startBroker({ home, listenIp: '::' });
    try {
      const r = await call(dual.port, `/services/Register/?${qs({ name: 'ip', data: '{}' })}`);
      expect(r.json.data.last_write_ip).toBe('127.0.0.1');
      expect((await call(dual.port, '/ping/Ping/')).json.src).toBe('127.0.0.1');
    } finally {
      await dual.stop();
      removeDir(home);
    }
  });
});
