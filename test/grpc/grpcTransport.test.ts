import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSections } from '../../src/config/schema.js';
import type { ExtensionRequest, ExtensionResponse } from '../../src/core/types.js';
import { entryDataJson } from '../../src/core/entryJson.js';
import { codeOf, startHarness, type Harness } from './harness.js';

describe('gRPC transport over TLS', () => {
  let h: Harness;
  beforeAll(async () => {
    const sections = { ...defaultSections(), demo: {} };
    h = await startHarness({ sections });
    h.broker.attachExtensions({
      hasNamespace: (ns) => ns === 'demo',
      hasMethod: (ns, m) => ns === 'demo' && ['Echo', 'Boom', 'Hang', 'Missing'].includes(m),
      async call(req: ExtensionRequest): Promise<ExtensionResponse> {
        if (req.method === 'Boom') throw new Error('secret internals');
        if (req.method === 'Hang') return new Promise(() => {});
        if (req.method === 'Missing') return { status: 404, statusMessage: 'No such agent', contentType: 'text/plain', body: 'none' };
        return { status: 200, statusMessage: 'OK', contentType: 'Application/json', body: JSON.stringify({ qs: req.qs, from: req.requestingHost }) };
      },
    });
  });
  afterAll(() => h.close());

  it('round-trips every registry RPC with stamps and revisions', async () => {
    const c = h.client();
    const before = Math.floor(Date.now() / 1000);
    const reg = await c.register('web-1', { ip: '10.0.0.7', port: 8080 });
    expect(reg).toMatchObject({ name: 'web-1', json: '{"ip":"10.0.0.7","port":8080}', lastWriteIp: '127.0.0.1' });
    expect(reg.lastWriteTs).toBeGreaterThanOrEqual(before);
    expect(reg.modRevision).toBe(reg.createRevision);

    const got = await c.get('web-1');
    expect(got).toEqual(reg);

    const upd = await c.update('web-1', '{"port":9090,"tags":["a"]}');
    expect(JSON.parse(upd.json)).toEqual({ ip: '10.0.0.7', port: 9090, tags: ['a'] });
    expect(upd.createRevision).toBe(reg.createRevision);
    expect(upd.modRevision).toBeGreaterThan(reg.modRevision);

    const rep = await c.replace('web-1', 'plain text');
    expect(rep.json).toBe('{"_str":"plain text"}');
    expect(rep.createRevision).toBeGreaterThan(upd.modRevision);

    expect(await c.delete('web-1')).toBe(true);
    expect(await c.delete('web-1')).toBe(false);
    expect(await codeOf(c.get('web-1'))).toBe(grpc.status.NOT_FOUND);
  });

  it('lists by prefix a page at a time', async () => {
    const c = h.client();
    for (let i = 0; i < 5; i++) await c.register(`list-${i}`, { i });
    await c.register('other', {});
    const first = await c.list('list-', { pageSize: 2 });
    expect(first.entries.map((e) => e.name)).toEqual(['list-0', 'list-1']);
    expect(first.nextPageToken).not.toBe('');
    const second = await c.list('list-', { pageSize: 2, pageToken: first.nextPageToken });
    expect(second.entries.map((e) => e.name)).toEqual(['list-2', 'list-3']);
    const names: string[] = [];
    for await (const e of c.listAll('list-', { pageSize: 2 })) names.push(e.name);
    expect(names).toEqual(['list-0', 'list-1', 'list-2', 'list-3', 'list-4']);
    expect(await codeOf(c.list('other', { pageToken: first.nextPageToken }))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await codeOf(c.list('list-', { pageToken: '***' }))).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('answers each error with its status code', async () => {
    const c = h.client();
    await c.register('dup', { a: 1 });
    expect(await codeOf(c.register('dup', { a: 2 }))).toBe(grpc.status.ALREADY_EXISTS);
    expect(await codeOf(c.register('', { a: 1 }))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await codeOf(c.register('_access_key', { a: 1 }))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await codeOf(c.register('x', ''))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await codeOf(c.update('dup', { last_write_ip: 'spoofed' }))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await codeOf(c.get('missing'))).toBe(grpc.status.NOT_FOUND);
    expect(await codeOf(c.register('big', { b: 'x'.repeat(1_100_000) }))).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await codeOf(c.execute('nope', 'Anything'))).toBe(grpc.status.PERMISSION_DENIED);
    expect(await codeOf(c.execute('demo', '_private'))).toBe(grpc.status.PERMISSION_DENIED);
    expect(await codeOf(c.execute('demo', 'Unknown'))).toBe(grpc.status.PERMISSION_DENIED);
    // The rejected writes changed nothing.
    expect(JSON.parse((await c.get('dup')).json)).toEqual({ a: 1 });
  });

  it('carries the message in details', async () => {
    const c = h.client();
    await expect(c.get('nobody')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, details: "Entry 'nobody' not found" });
  });

  it('pings with the caller address and the echoed value', async () => {
    const c = h.client();
    expect(await c.ping('[1,2]')).toEqual({ src: '127.0.0.1', json: '[1,2]' });
    expect(await c.ping('hello')).toEqual({ src: '127.0.0.1', json: '{"_str":"hello"}' });
    expect(await c.ping()).toEqual({ src: '127.0.0.1', json: 'null' });
  });

  it('executes extension methods, with their own status as data', async () => {
    const c = h.client();
    const r = await c.execute('demo', 'Echo', { data: 'host-1', params: { extra: 'y', data: 'overridden' } });
    expect(r).toMatchObject({ status: 200, statusMessage: 'OK', contentType: 'Application/json' });
    expect(JSON.parse(r.body)).toEqual({ qs: { extra: 'y', data: 'host-1' }, from: '127.0.0.1' });
    // A text answer without headers leaves binary_body and headers empty.
    expect(await c.execute('demo', 'Missing')).toEqual({ status: 404, statusMessage: 'No such agent', contentType: 'text/plain', body: 'none', binaryBody: Buffer.alloc(0), headers: [] });
  });

  it('answers unexpected failures INTERNAL without internals, and logs the stack', async () => {
    const c = h.client();
    await expect(c.execute('demo', 'Boom')).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: 'Internal error' });
    const line = h.logs.find((l) => l.includes('secret internals'));
    expect(line).toContain('ExtensionService/Execute');
    expect(line).toContain('at ');
  });

  it('honours client deadlines', async () => {
    const c = h.client({ ca: h.cert.cert, deadlineMs: 200 });
    expect(await codeOf(c.execute('demo', 'Hang'))).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('reads what the legacy path wrote and the reverse, with the same data and stamps', async () => {
    const c = h.client();
    const ctx = { clientIp: '10.1.2.3' };
    const legacy = await h.broker.dispatch(ctx, 'services', 'Register', { name: 'from-legacy', data: '{"k":[1,2.5,"x"]}' });
    if (legacy.kind !== 'entry') throw new Error('expected an entry');
    const viaGrpc = await c.get('from-legacy');
    expect(viaGrpc).toEqual({
      name: 'from-legacy',
      json: entryDataJson(legacy.entry.json, legacy.entry.lastWriteIp, legacy.entry.lastWriteTs),
      lastWriteIp: '10.1.2.3',
      lastWriteTs: legacy.entry.lastWriteTs,
      createRevision: legacy.entry.createRevision,
      modRevision: legacy.entry.modRevision,
      ttl: 0,
    });
    const written = await c.register('from-grpc', { n: 1 });
    const stored = (await h.broker.get(ctx, 'from-grpc')).entry;
    expect(stored.json).toBe(`{"n":1,"last_write_ip":"127.0.0.1","last_write_ts":${written.lastWriteTs}}`);
  });
});

describe('access key', () => {
  let h: Harness;
  beforeAll(async () => {
    const sections = defaultSections();
    sections.services = { _access_key: 'secret' };
    h = await startHarness({ sections });
  });
  afterAll(() => h.close());

  it('is required as access-key metadata when configured', async () => {
    expect(await codeOf(h.client().get('x'))).toBe(grpc.status.UNAUTHENTICATED);
    expect(await codeOf(h.client({ ca: h.cert.cert, accessKey: 'wrong' }).register('x', {}))).toBe(grpc.status.UNAUTHENTICATED);
    const ok = h.client({ ca: h.cert.cert, accessKey: 'secret' });
    await ok.register('x', { a: 1 });
    expect((await ok.get('x')).json).toBe('{"a":1}');
    // Per call override; ping's namespace has no key configured.
    expect(await codeOf(ok.get('x', { accessKey: 'wrong' }))).toBe(grpc.status.UNAUTHENTICATED);
    expect((await h.client().ping()).src).toBe('127.0.0.1');
  });
});
