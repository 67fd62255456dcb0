import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/broker.js';
import { inProcessBroker, outcome, waitFor, type InProcessBroker } from './harness.js';
// Type-checks the shipped TypeScript example against the published typings (`npm test` runs tsc on the tests).
// biome-ignore lint/correctness/noUnusedImports: compiles the example extension's types with the tests
import type * as _lockTypes from '../../extensions/lock.js';

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
    const ids = many.map((r) => (r.kind === 'extension' ? String(r.response.body).split(' ')[0] : ''));
    expect(new Set(ids)).toEqual(new Set(['002', '003', '004', '005']));
    expect(readFileSync(keys, 'utf8').trim().split('\n')).toHaveLength(5);
  });

  it('hello.ts (TypeScript) keeps a per-caller counter in the registry', async () => {
    b = await inProcessBroker({ 'hello.ts': shipped('hello.ts') }, JSON.parse(shipped('hello.json')));
    expect(JSON.parse((await b.call('hello', 'Greet', { data: 'Ada' })).body)).toEqual({ greeting: 'Hello, Ada!', calls: 1 });
    expect(JSON.parse((await b.call('hello', 'Greet')).body)).toEqual({ greeting: 'Hello, world!', calls: 2 });
    expect(JSON.parse((await b.broker.get({ clientIp: '127.0.0.1' }, 'hello-calls-127.0.0.1')).entry.json)).toMatchObject({ calls: 2, last_write_ip: '127.0.0.1' });
  });

  it('lock.ts: one holder at a time by compare-and-swap; a waiter wakes on release; a lapsed lease frees the lock', async () => {
    b = await inProcessBroker({ 'lock.ts': shipped('lock.ts') }, JSON.parse(shipped('lock.json')));
    const lock = async (method: string, params: Record<string, string>) => {
      const r = await b!.call('lock', method, params);
      return { status: r.status, message: r.statusMessage, body: r.body === '' ? undefined : (JSON.parse(r.body) as Record<string, unknown>) };
    };

    const a = await lock('Acquire', { data: 'build', owner: 'a', ttl: '30' });
    expect(a).toMatchObject({ status: 200, body: { name: 'build', owner: 'a', revision: expect.any(Number), ttl: 30 } });
    expect(await lock('Acquire', { data: 'build', owner: 'b' })).toMatchObject({ status: 409, message: 'Lock build is held by a' });
    expect(await lock('Holder', { data: 'build' })).toMatchObject({ status: 200, body: { held: true, owner: 'a', revision: a.body!.revision } });
    expect(await lock('Release', { data: 'build', owner: 'b' })).toMatchObject({ status: 409, message: 'Lock build is held by a' });
    expect(await lock('Renew', { data: 'build', owner: 'b' })).toMatchObject({ status: 409, message: 'Lock build is held by a' });
    const renewed = await lock('Renew', { data: 'build', owner: 'a' });
    expect(renewed).toMatchObject({ status: 200, body: { owner: 'a', ttl: 30 } });
    // The holder asking again keeps it.
    expect(await lock('Acquire', { data: 'build', owner: 'a' })).toMatchObject({ status: 200, body: { owner: 'a' } });

    // A waiter is woken by the release, long before its 20 s wait ends.
    const waiting = lock('Acquire', { data: 'build', owner: 'b', wait: '20' });
    await waitFor(() => b!.watchersWaiting() === 1, 10_000, 10, 'the waiter to watch the lock');
    const released = Date.now();
    expect(await lock('Release', { data: 'build', owner: 'a' })).toMatchObject({ status: 200, body: { name: 'build', released: true } });
    expect(await waiting).toMatchObject({ status: 200, body: { owner: 'b' } });
    expect(Date.now() - released).toBeLessThan(10_000);
    expect(await lock('Release', { data: 'build', owner: 'a' })).toMatchObject({ status: 409, message: 'Lock build is held by b' });
    expect(await lock('Release', { data: 'build', owner: 'b' })).toMatchObject({ status: 200 });
    expect(await lock('Holder', { data: 'build' })).toMatchObject({ status: 200, body: { held: false } });
    expect(await lock('Release', { data: 'build', owner: 'b' })).toMatchObject({ status: 409, message: 'Lock build is not held' });

    // A holder that stops renewing loses the lock when its lease runs out; the waiter then gets it.
    expect(await lock('Acquire', { data: 'short', owner: 'a', ttl: '1' })).toMatchObject({ status: 200 });
    const t = Date.now();
    expect(await lock('Acquire', { data: 'short', owner: 'b', wait: '20' })).toMatchObject({ status: 200, body: { owner: 'b' } });
    expect(Date.now() - t).toBeLessThan(10_000);

    // Many contenders at once: exactly one wins.
    const race = await Promise.all(Array.from({ length: 20 }, (_, i) => lock('Acquire', { data: 'race', owner: `n${i}` })));
    expect(race.filter((r) => r.status === 200)).toHaveLength(1);
    const winner = race.find((r) => r.status === 200)!.body!.owner;
    expect(race.filter((r) => r.status === 409).map((r) => r.message)).toEqual(Array(19).fill(`Lock race is held by ${String(winner)}`));

    // The caller's address is the default owner; bad input answers 400.
    expect(await lock('Acquire', { data: 'mine' })).toMatchObject({ status: 200, body: { owner: '127.0.0.1' } });
    expect(await lock('Acquire', {})).toMatchObject({ status: 400, message: 'Missing lock name (data)' });
    expect(await lock('Acquire', { data: 'x', ttl: 'forever' })).toMatchObject({ status: 400, message: 'Invalid ttl' });
    expect(await lock('Acquire', { data: 'x', wait: '-1' })).toMatchObject({ status: 400, message: 'Invalid wait' });
  });
});
