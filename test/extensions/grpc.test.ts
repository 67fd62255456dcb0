import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, GrpcStatus, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { BPBROKER, ROOT, removeDir, runCli, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';

// An extension keeping a value in its private store.
const KV = `export async function Put(rh) { return rh.store.put(rh.qs.key, JSON.parse(rh.qs.value)); }
export function Web(rh) {
  rh.setHeader('X-Seen', JSON.stringify({ method: rh.httpMethod, test: rh.requestHeaders['x-test'] ?? null, key: rh.requestHeaders['access-key'] ?? null }));
  rh.responseHeaders['Set-Cookie'] = ['a=1', 'b=2'];
  return new Uint8Array([0, 255]);
}
export async function Get(rh) { return { value: (await rh.store.get(rh.qs.key)) ?? null, keys: (await rh.store.list()).entries.map((e) => e.key) }; }
`;

// gRPC Execute reaches extensions through the same core path as the legacy API.
describe('extensions over gRPC Execute', () => {
  const home = tempDir('bpbroker-ext-grpc-');
  const env = { BPBROKER_HOME: home };
  let broker: RunningBroker;
  let client: BrokerGrpcClient;

  beforeAll(async () => {
    expect((await runCli(BPBROKER, ['install-extension', '--script', join(ROOT, 'extensions/example.mjs')], { env })).code).toBe(0);
    writeFileSync(join(home, 'kv.mjs'), KV);
    expect((await runCli(BPBROKER, ['install-extension', '--script', join(home, 'kv.mjs')], { env })).code).toBe(0);
    expect((await runCli(BPBROKER, ['configure'], { env, input: '{"example": {"_access_key": "k"}, "kv": {}}' })).code).toBe(0);
    broker = await startBroker({ home });
    client = connect(`127.0.0.1:${broker.port}`, { insecureSkipVerify: true, accessKey: 'k' });
  });
  afterAll(async () => {
    client?.close();
    await broker?.stop();
    removeDir(home);
  });

  it('answers what the legacy API answers, with the same access and method checks', async () => {
    const r = await client.execute('example', 'Test', { data: 'hi', params: { extra: '1' } });
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^Application\/json/);
    expect(JSON.parse(r.body)).toEqual({ data: 'hi', extra: '1', src: '127.0.0.1' });
    const legacy = await call(broker.port, '/example/Test/?data=hi&extra=1&access_key=k');
    // The legacy API passes its access_key parameter on to the method, as the original did; gRPC sends it as metadata.
    const { access_key: _key, ...legacyParams } = legacy.json;
    expect(JSON.parse(r.body)).toEqual(legacyParams);
    await expect(client.execute('example', 'Test', {}, { accessKey: 'wrong' })).rejects.toMatchObject({ code: GrpcStatus.UNAUTHENTICATED, details: 'Incorrect access key' });
    await expect(client.execute('example', '_helper')).rejects.toMatchObject({ code: GrpcStatus.PERMISSION_DENIED, details: 'Unauthorized method' });
    await expect(client.execute('nosuch', 'Test')).rejects.toMatchObject({ code: GrpcStatus.PERMISSION_DENIED, details: 'Unauthorized package' });
  });

  it('Execute carries binary bodies and response headers; metadata are the request headers (the access key left out)', async () => {
    const r = await client.execute('kv', 'Web', {}, { accessKey: 'k', metadata: { 'x-test': 'yes' } });
    expect(r).toMatchObject({ status: 200, contentType: 'application/octet-stream', body: '' });
    expect([...r.binaryBody]).toEqual([0, 255]);
    expect(r.headers).toEqual([
      { name: 'X-Seen', value: '{"method":"POST","test":"yes","key":null}' },
      { name: 'Set-Cookie', value: 'a=1' },
      { name: 'Set-Cookie', value: 'b=2' },
    ]);
  });

  it('rh.store: never seen through the registry API (gRPC list, get, watch; legacy get, watch), and kept across a restart', async () => {
    const from = (await client.register('before-store', { v: 1 })).modRevision;
    const put = JSON.parse((await client.execute('kv', 'Put', { params: { key: 'secret', value: '{"n":1}' } })).body) as { revision: number };
    expect(put.revision).toBeGreaterThan(from);
    await client.register('after-store', { v: 1 });
    // Watches of every name from before the store write: the first change they see is the registry entry after it.
    const watch = client.watch({ prefix: '' }, { afterRevision: from });
    const first = await watch.next();
    await watch.return();
    expect(first.done ? [] : first.value.events.map((e) => e.name)).toEqual(['after-store']);
    const legacyWatch = await call(broker.port, `/services/Watch/?prefix=&revision=${from}&wait=5`);
    expect(legacyWatch.json.events.map((e: { name: string }) => e.name)).toEqual(['after-store']);
    const listed = (await client.list('')).entries.map((e) => e.name);
    expect(listed).toContain('after-store');
    expect(listed.filter((n) => n.startsWith('_'))).toEqual([]);
    expect((await client.list('_store/')).entries).toEqual([]);
    await expect(client.get('_store/kv/secret')).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
    expect(await call(broker.port, '/services/Get/?name=_store/kv/secret')).toMatchObject({ status: 400, reason: 'Reserved name _store/kv/secret' });

    // Saved with the registry: in bpbroker.json after a stop, and read back by the next start.
    client.close();
    expect(await broker.stop()).toBe(0);
    expect(readFileSync(join(home, 'etc/bpbroker.json'), 'utf8')).toContain('"_store/kv/secret": {"value":{"n":1}');
    broker = await startBroker({ home });
    client = connect(`127.0.0.1:${broker.port}`, { insecureSkipVerify: true, accessKey: 'k' });
    expect(JSON.parse((await client.execute('kv', 'Get', { params: { key: 'secret' } })).body)).toEqual({ value: { n: 1 }, keys: ['secret'] });
    expect((await client.list('')).entries.map((e) => e.name).filter((n) => n.startsWith('_'))).toEqual([]);
  });
});
