import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';

// Every row of the legacy spec's registry tables, over real TLS, with a real HTTPS client.
let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterAll(async () => {
  await b.stop();
  removeDir(b.home);
});

const svc = (method: string, params: Record<string, string>, opts: { slash?: boolean; httpMethod?: string } = {}) =>
  call(b.port, `/services/${method}${opts.slash === false ? '' : '/'}?${qs(params)}`, { method: opts.httpMethod });

function expectStamped(data: Record<string, unknown>): void {
  expect(data.last_write_ip).toBe('127.0.0.1');
  expect(Number.isInteger(data.last_write_ts)).toBe(true);
  expect(Math.abs((data.last_write_ts as number) - Date.now() / 1000)).toBeLessThan(10);
}

describe('Register', () => {
  it('creates an entry and answers it with stamps', async () => {
    const r = await svc('Register', { name: 'reg1', data: '{"a": 1, "b": {"c": [1, 2]}}' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('Application/json');
    expect(r.json.success).toBe(true);
    expect(r.json.message).toBe('Success');
    expect(r.json.data).toMatchObject({ a: 1, b: { c: [1, 2] } });
    expectStamped(r.json.data);
  });

  it('fails when the name exists, with 200 and success false', async () => {
    await svc('Register', { name: 'reg2', data: '{}' });
    const r = await svc('Register', { name: 'reg2', data: '{"x": 1}' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ success: false, message: "Entry 'reg2' already exists", data: {} });
    expect((await svc('Get', { name: 'reg2' })).json.data.x).toBeUndefined();
  });

  it('stores {} as an empty entry (fixed) and non-objects as _str', async () => {
    expect((await svc('Register', { name: 'empty', data: '{}' })).json.data).toEqual({ last_write_ip: '127.0.0.1', last_write_ts: expect.any(Number) });
    const cases: Array<[string, string]> = [['plain text', 'plain text'], ['"quoted"', '"quoted"'], ['5', '5'], ['[1, 2]', '[1, 2]'], ['[]', '[]'], ['true', 'true'], ['null', 'null'], ['{bad json', '{bad json']];
    for (const [i, [sent, stored]] of cases.entries()) {
      const r = await svc('Register', { name: `str${i}`, data: sent });
      expect(r.json.success, sent).toBe(true);
      expect(r.json.data._str, sent).toBe(stored);
      expect((await svc('Get', { name: `str${i}` })).json.data._str).toBe(stored);
    }
  });

  it('answers 400 for a missing or blank name and a missing data', async () => {
    for (const params of [{ data: '{}' }, { name: '', data: '{}' }, { name: '   ', data: '{}' }] as Record<string, string>[]) {
      const r = await svc('Register', params);
      expect(r.status).toBe(400);
      expect(r.reason).toBe('Missing name parameter');
      expect(r.json).toEqual({ success: false, message: 'Missing name parameter', data: {} });
    }
    for (const [m, params] of [['Register', {}], ['Replace', {}], ['Update', { data: '' }]] as const) {
      const r = await svc(m, { name: 'nodata', ...params });
      expect(r.status).toBe(400);
      expect(r.reason).toBe('Missing data parameter');
    }
    expect((await svc('Get', { name: 'nodata' })).json.success).toBe(false);
  });

  it('refuses reserved data names with 400', async () => {
    for (const key of ['last_write_ip', 'last_write_ts']) {
      const r = await svc('Register', { name: 'resv', data: JSON.stringify({ [key]: 'x' }) });
      expect(r.status).toBe(400);
      expect(r.reason).toBe(`Used reserved data name ${key}`);
      expect(r.json.message).toBe(`Used reserved data name ${key}`);
    }
    expect((await svc('Get', { name: 'resv' })).json.success).toBe(false);
  });

  it('refuses names starting with _ (settings, never entries)', async () => {
    for (const m of ['Register', 'Get', 'Delete', 'Update', 'Replace']) {
      const r = await svc(m, { name: '_access_key', data: '{}' });
      expect(r.status).toBe(400);
      expect(r.reason).toBe('Reserved name _access_key');
    }
  });
});

describe('Replace, Update, Get, List, Delete', () => {
  it('Replace replaces the data entirely, and creates when absent', async () => {
    await svc('Register', { name: 'rep', data: '{"a": 1, "b": 2}' });
    const r = await svc('Replace', { name: 'rep', data: '{"c": 3}' });
    expect(r.json.success).toBe(true);
    expect(r.json.data).toEqual({ c: 3, last_write_ip: '127.0.0.1', last_write_ts: expect.any(Number) });
    expect((await svc('Replace', { name: 'rep-new', data: '{"n": 1}' })).json.data.n).toBe(1);
  });

  it('a rejected Replace keeps the old entry (fixed)', async () => {
    await svc('Register', { name: 'rep2', data: '{"keep": true}' });
    expect((await svc('Replace', { name: 'rep2', data: '{"last_write_ip": "1.2.3.4"}' })).status).toBe(400);
    expect((await svc('Replace', { name: 'rep2' })).status).toBe(400);
    expect((await svc('Get', { name: 'rep2' })).json.data.keep).toBe(true);
  });

  it('Update creates when absent, else merges shallowly with new keys winning', async () => {
    expect((await svc('Update', { name: 'upd', data: '{"a": 1, "n": {"x": 1, "y": 2}}' })).json.data.a).toBe(1);
    const r = await svc('Update', { name: 'upd', data: '{"b": 2, "a": 9, "n": {"z": 3}}' });
    expect(r.json.data).toMatchObject({ a: 9, b: 2, n: { z: 3 } });
    expect(r.json.data.n).toEqual({ z: 3 });
  });

  it('a failed Update changes nothing and leaves no empty entry (fixed)', async () => {
    expect((await svc('Update', { name: 'upd-fail', data: '{"last_write_ts": 1}' })).status).toBe(400);
    expect((await svc('Get', { name: 'upd-fail' })).json).toEqual({ success: false, message: "Entry 'upd-fail' not found", data: {} });
  });

  it('Get and its alias List read; an absent name is 200 with success false', async () => {
    await svc('Register', { name: 'g', data: '{"v": "é"}' });
    for (const m of ['Get', 'List']) {
      const r = await svc(m, { name: 'g' });
      expect(r.json).toMatchObject({ success: true, message: 'Success', data: { v: 'é' } });
    }
    const miss = await svc('Get', { name: 'absent' });
    expect(miss.status).toBe(200);
    expect(miss.reason).toBe('OK'); // a 200's reason phrase is OK, whatever its body says
    expect(miss.json).toEqual({ success: false, message: "Entry 'absent' not found", data: {} });
  });

  it('Delete succeeds whether or not the entry existed', async () => {
    await svc('Register', { name: 'del', data: '{}' });
    expect((await svc('Delete', { name: 'del' })).json).toEqual({ success: true, message: 'Success' });
    expect((await svc('Delete', { name: 'del' })).json).toEqual({ success: true, message: 'Success' });
    expect((await svc('Get', { name: 'del' })).json.success).toBe(false);
  });
});

describe('transport and parameters', () => {
  it('GET, POST and DELETE are the same call; other methods answer 501', async () => {
    await svc('Register', { name: 'm', data: '{"k": 1}' });
    for (const method of ['GET', 'POST', 'DELETE']) expect((await svc('Get', { name: 'm' }, { httpMethod: method })).json.data.k).toBe(1);
    for (const method of ['PUT', 'PATCH', 'OPTIONS']) {
      const r = await svc('Get', { name: 'm' }, { httpMethod: method });
      expect(r.status).toBe(501);
      expect(r.json.success).toBe(false);
    }
  });

  it('takes paths with and without the trailing slash; namespaces are case-sensitive', async () => {
    await svc('Register', { name: 'slash', data: '{}' }, { slash: false });
    expect((await svc('Get', { name: 'slash' }, { slash: false })).json.success).toBe(true);
    const r = await call(b.port, `/Services/Get/?name=slash`);
    expect(r.status).toBe(401);
    expect(r.reason).toBe('Unauthorized package');
    const m = await call(b.port, `/services/get/?name=slash`);
    expect(m.status).toBe(401);
    expect(m.reason).toBe('Unauthorized method');
  });

  it('merges query string and form body, the query string winning per key', async () => {
    const r = await call(b.port, '/services/Register/?name=fromquery', {
      body: 'name=frombody&data=%7B%22via%22%3A%22body%22%7D',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(r.json.success).toBe(true);
    expect((await svc('Get', { name: 'fromquery' })).json.data.via).toBe('body');
    expect((await svc('Get', { name: 'frombody' })).json.success).toBe(false);
    const bodyOnly = await call(b.port, '/services/Register/', { body: 'name=bodyonly&data=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(bodyOnly.json.data._str).toBe('x');
  });

  it('decodes + and %20 as spaces, UTF-8 percent-encoding, and the last of a repeated key', async () => {
    const r = await call(b.port, '/services/Register/?name=a+b%20c&data=%7B%22u%22%3A%22%E2%9C%93%20%C3%A9%22%7D&data=%7B%22u%22%3A%22last%22%7D');
    expect(r.json.data.u).toBe('last');
    expect((await svc('Get', { name: 'a b c' })).json.success).toBe(true);
    await svc('Register', { name: 'ünïcødé ✓', data: '{"v": "✓"}' });
    const u = await svc('Get', { name: 'ünïcødé ✓' });
    expect(u.json.data.v).toBe('✓');
    const miss = await svc('Get', { name: 'naïve ✓' });
    expect(miss.json.message).toBe("Entry 'naïve ✓' not found");
  });

  it('answers 400 (not a closed connection) without query string and without body (fixed)', async () => {
    const r = await call(b.port, '/services/Register/');
    expect(r.status).toBe(400);
    expect(r.json.message).toBe('Missing name parameter');
  });

  it('accepts a request line of 64 KiB', async () => {
    const name = 'n'.repeat(65_000);
    const r = await svc('Register', { name, data: '{}' });
    expect(r.status).toBe(200);
    expect((await svc('Get', { name })).json.success).toBe(true);
    const again = await svc('Register', { name, data: '{}' });
    expect(again.json.message).toBe(`Entry '${name}' already exists`);
    expect(again.reason.length).toBeLessThan(2000);
  });

  it('answers HTTP/1.1 with keep-alive and a Content-Length', async () => {
    const r = await svc('Get', { name: 'm' });
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.text));
    expect(r.headers.connection).toBe('keep-alive');
  });

  it('refuses an oversized body with 413 and keeps serving', async () => {
    const r = await call(b.port, '/services/Register/?name=big', { body: `data=${'x'.repeat(1_100_000)}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, agent: false });
    expect(r.status).toBe(413);
    expect(r.json.success).toBe(false);
    expect((await svc('Get', { name: 'm' })).json.success).toBe(true);
  });

  it('does not expose internal sections as namespaces (fixed)', async () => {
    for (const path of ['/api/StringIO/', '/_config/Get/', '/worker/x/', '/_global/Get/']) {
      const r = await call(b.port, path);
      expect(r.status, path).toBe(401);
      expect(r.reason).toBe('Unauthorized package');
    }
  });
});

describe('ping', () => {
  it('echoes the parsed value of any JSON type, text as _str, and null without data', async () => {
    const cases: Array<[string | undefined, unknown]> = [['5', 5], ['[1,2]', [1, 2]], ['hello', { _str: 'hello' }], ['{"a":{"b":1}}', { a: { b: 1 } }], ['"s"', 's'], [undefined, null], ['', null]];
    for (const [data, echoed] of cases) {
      const r = await call(b.port, `/ping/Ping/${data === undefined ? '' : `?${qs({ data })}`}`);
      expect(r.json).toEqual({ src: '127.0.0.1', data: echoed });
    }
    expect((await call(b.port, '/ping/Other/')).reason).toBe('Unauthorized method');
  });
});
