import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Through the package's own "exports", as an extension author imports it (the compiled kit in dist/).
import { invoke, loadExtension, startBroker, type ExtensionUnderTest, type KitAnswer, type TestBroker } from 'bpbroker/testing';
import { removeDir, tempDir } from '../helpers/broker.js';

const INVENTORY = `import type { RequestHandler } from 'bpbroker/extension';
export async function Add(rh: RequestHandler) {
  const name = rh.qs.name;
  if (!name) {
    rh.status = 400;
    rh.statusMessage = 'name is required';
    return;
  }
  const count = (((await rh.store.get('count')) as number | undefined) ?? 0) + 1;
  await rh.store.put('count', count);
  const entry = await rh.registry.update('host/' + name, { label: rh.config.label });
  rh.setHeader('X-Count', count);
  return { count, label: entry.label, by: entry.last_write_ip, method: rh.httpMethod, test: rh.requestHeaders['x-test'] ?? null };
}
export async function Owner(rh: RequestHandler) {
  return (await rh.registry.get('owner')) ?? null;
}
export function Bytes() {
  return Buffer.from('caf\\u00e9', 'latin1');
}
`;

describe('bpbroker/testing: an extension in process, and a real broker, answer alike', () => {
  const dir = tempDir('bpbroker-kit-test-');
  const file = join(dir, 'src', 'inventory.ts');
  const config = { _access_key: 'k', label: 'rack-1' };
  let ext: ExtensionUnderTest;
  let broker: TestBroker;

  beforeAll(async () => {
    mkdirSync(join(dir, 'src'));
    writeFileSync(file, INVENTORY);
    [ext, broker] = await Promise.all([loadExtension(file, { config }), startBroker({ extensions: join(dir, 'src'), config: { inventory: config } })]);
  });
  afterAll(async () => {
    await ext?.close();
    await broker?.stop();
    removeDir(dir);
  });

  /** What the kit answers must be what the broker sends: status, reason, body, and every header it sets. */
  const same = (kit: KitAnswer, real: KitAnswer): void => {
    expect({ status: kit.status, reason: kit.reason, body: kit.bytes.toString('hex') }).toEqual({ status: real.status, reason: real.reason, body: real.bytes.toString('hex') });
    for (const [name, value] of Object.entries(kit.headers)) expect([name, real.headers[name]]).toEqual([name, value]);
  };

  it('the same calls get the same answers: success with headers, a status the method set, a refused key, bytes', async () => {
    const request = { query: { name: 'web1', access_key: 'k' }, httpMethod: 'GET', headers: { 'X-Test': 'yes' } };
    const kit = await ext.invoke('Add', request);
    same(kit, await broker.call('inventory.Add', { name: 'web1' }, { accessKey: 'k', httpMethod: 'GET', headers: { 'X-Test': 'yes' } }));
    expect(kit).toMatchObject({ status: 200, headers: { 'x-count': '1', 'content-type': 'Application/json' } });
    expect(kit.json).toEqual({ count: 1, label: 'rack-1', by: '127.0.0.1', method: 'GET', test: 'yes' });
    same(await ext.invoke('Add', { query: { access_key: 'k' } }), await broker.call('inventory.Add', {}, { accessKey: 'k' }));
    const refused = await ext.invoke('Add', { query: { name: 'x' } });
    expect(refused).toMatchObject({ status: 401, reason: 'Incorrect access key', json: { success: false, message: 'Incorrect access key', data: {} } });
    same(refused, await broker.call('inventory.Add', { name: 'x' }));
    same(await ext.invoke('_private', { query: { access_key: 'k' } }), await broker.call('inventory._private', {}, { accessKey: 'k' }));
    const bytes = await ext.invoke('Bytes', { query: { access_key: 'k' } });
    expect(bytes.headers['content-type']).toBe('application/octet-stream');
    same(bytes, await broker.call('inventory.Bytes', {}, { accessKey: 'k' }));
  });

  it('in process: a given caller host, registry and store; what the method left behind can be read', async () => {
    const seeded = await loadExtension(file, { config, registry: { owner: { team: 'ops' } }, store: { count: 41 } });
    try {
      const owner = await seeded.invoke('Owner', { query: { access_key: 'k' } });
      expect(owner.json).toMatchObject({ team: 'ops' });
      const added = await seeded.invoke('Add', { query: { name: 'db1', access_key: 'k' }, callerHost: '10.0.0.5' });
      expect(added.json).toMatchObject({ count: 42, by: '10.0.0.5' });
      expect(await seeded.store()).toEqual({ count: 42 });
      expect(await seeded.registry()).toEqual({
        owner: expect.objectContaining({ team: 'ops' }),
        'host/db1': { label: 'rack-1', last_write_ip: '10.0.0.5', last_write_ts: expect.any(Number) },
      });
    } finally {
      await seeded.close();
    }
    // One call, loaded and closed again.
    expect((await invoke(file, 'Add', { config: {}, query: { name: 'a' } })).json).toMatchObject({ count: 1 });
  });
});
