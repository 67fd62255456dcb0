import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/broker.js';
import { inProcessBroker, outcome, type InProcessBroker } from './harness.js';

const shipped = (name: string): string => readFileSync(join(ROOT, 'extensions', name), 'utf8');

let b: InProcessBroker | undefined;
afterEach(async () => {
  await b?.close();
  b = undefined;
});

describe('shipped example extensions', () => {
  it('example.Test echoes the parameters and the caller; _helper is private', async () => {
    b = await inProcessBroker({ 'example.mjs': shipped('example.mjs') }, JSON.parse(shipped('example.json')));
    expect(JSON.parse((await b.call('example', 'Test', { data: 'hello' })).body)).toEqual({ data: 'hello', src: '127.0.0.1' });
    expect(await outcome(b.call('example', '_helper'))).toMatchObject({ message: 'Unauthorized method' });
  });

  it('ossec.AddAgent appends "id name ip key" under a lock and refuses a second agent from the same IP', async () => {
    b = await inProcessBroker({ 'ossec.mjs': shipped('ossec.mjs') }, { ossec: { _access_key: '' } });
    const keys = join(b.dir, 'client.keys');
    // The configuration names the keys file; the whitelist entry is the shipped snippet plus that setting.
    (b.broker.settings.ossec as Record<string, unknown>).client_keys = keys;
    const first = await b.call('ossec', 'AddAgent', { data: 'web1' });
    expect(first.status).toBe(200);
    expect(first.body).toMatch(/^001 web1 127\.0\.0\.1 [0-9a-f]{64}$/);
    expect(readFileSync(keys, 'utf8')).toBe(`${first.body}\n`);
    expect(await b.call('ossec', 'AddAgent', { data: 'web2' })).toMatchObject({ status: 500, statusMessage: 'Unable to add requested host IP in use' });
    expect(await b.call('ossec', 'AddAgent', { data: 'bad name!' })).toMatchObject({ status: 500, statusMessage: 'Invalid source host name content' });
    // Concurrent agents from different hosts get distinct ids.
    const many = await Promise.all(
      ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map((ip, i) =>
        b!.broker.dispatch({ clientIp: ip }, 'ossec', 'AddAgent', { data: `node${i}` }),
      ),
    );
    const ids = many.map((r) => (r.kind === 'extension' ? r.response.body.split(' ')[0] : ''));
    expect(new Set(ids)).toEqual(new Set(['002', '003', '004', '005']));
    expect(readFileSync(keys, 'utf8').trim().split('\n')).toHaveLength(5);
  });

  it('hello.ts (TypeScript) keeps a per-caller counter in the registry', async () => {
    b = await inProcessBroker({ 'hello.ts': shipped('hello.ts') }, JSON.parse(shipped('hello.json')));
    expect(JSON.parse((await b.call('hello', 'Greet', { data: 'Ada' })).body)).toEqual({ greeting: 'Hello, Ada!', calls: 1 });
    expect(JSON.parse((await b.call('hello', 'Greet')).body)).toEqual({ greeting: 'Hello, world!', calls: 2 });
    expect(JSON.parse((await b.broker.get({ clientIp: '127.0.0.1' }, 'hello-calls-127.0.0.1')).entry.json)).toMatchObject({ calls: 2, last_write_ip: '127.0.0.1' });
  });
});
