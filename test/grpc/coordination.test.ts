import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryServiceClient, WatchEvent_Type, type Entry, type WatchResponse } from '../../generated/bpbroker/v1/registry.js';
import { removeDir, startBroker, type RunningBroker } from '../helpers/broker.js';
import { startConfigured } from '../reliability/raw.js';

/** Compare-and-swap, leases and the streaming Watch over gRPC, with the generated stubs on a real broker. */
function stub(port: number): RegistryServiceClient {
  const creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
  return new RegistryServiceClient(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': 'bpbroker' });
}

type EntryMethod = 'register' | 'replace' | 'update' | 'get' | 'keepAlive';
/** A unary call of the stub; resolves to the answer's entry. */
function unary(c: RegistryServiceClient, method: EntryMethod | 'delete', req: object): Promise<{ entry?: Entry }> {
  const fn = c[method].bind(c) as unknown as (req: object, cb: (err: grpc.ServiceError | null, res: { entry?: Entry }) => void) => unknown;
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
}

/** The messages of a watch as they come, and a way to wait for the next few. */
function follow(c: RegistryServiceClient, req: Parameters<RegistryServiceClient['watch']>[0]) {
  const got: WatchResponse[] = [];
  let ended: grpc.ServiceError | undefined;
  const stream = c.watch(req);
  stream.on('data', (m: WatchResponse) => got.push(m));
  stream.on('error', (e: grpc.ServiceError) => (ended = e));
  return {
    got,
    ended: () => ended,
    async until(check: () => boolean, ms = 10_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!check()) {
        if (ended && ended.code !== grpc.status.CANCELLED) throw ended;
        if (Date.now() > deadline) throw new Error(`watch: condition not met within ${ms} ms; got ${JSON.stringify(got)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    cancel: () => stream.cancel(),
  };
}

let b: RunningBroker;
let c: RegistryServiceClient;
beforeAll(async () => {
  b = await startBroker();
  c = stub(b.port);
});
afterAll(async () => {
  c.close();
  await b.stop();
  removeDir(b.home);
});

describe('gRPC coordination', () => {
  it('compare-and-swap: FAILED_PRECONDITION with the current revision in the trailer', async () => {
    const { entry } = await unary(c, 'register', { name: 'cas', json: '{}' });
    const err = (await unary(c, 'replace', { name: 'cas', json: '{"x":1}', ifRevision: entry!.modRevision + 3 }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toBe(`Revision mismatch: cas is at revision ${entry!.modRevision}`);
    expect(err.metadata.get('bpbroker-revision')).toEqual([String(entry!.modRevision)]);
    const ok = await unary(c, 'update', { name: 'cas', json: '{"x":2}', ifRevision: entry!.modRevision });
    expect(ok.entry!.modRevision).toBeGreaterThan(entry!.modRevision);
    const absent = (await unary(c, 'delete', { name: 'nope', ifRevision: 1 }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(absent.metadata.get('bpbroker-revision')).toEqual(['0']);
  });

  it('leases: ttl on writes, seconds left on reads, KeepAlive', async () => {
    expect((await unary(c, 'register', { name: 'lease', json: '{}', ttl: 40 })).entry!.ttl).toBe(40);
    expect((await unary(c, 'get', { name: 'lease' })).entry!.ttl).toBeGreaterThan(38);
    expect((await unary(c, 'keepAlive', { name: 'lease' })).entry!.ttl).toBe(40);
    expect((await unary(c, 'update', { name: 'lease', json: '{}', ttl: 0 })).entry!.ttl).toBe(0);
    const gone = (await unary(c, 'keepAlive', { name: 'lease' }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(gone.code).toBe(grpc.status.NOT_FOUND);
    const bad = (await unary(c, 'register', { name: 'x', json: '{}', ttl: 90000 }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(bad).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'Invalid ttl' });
  });

  it('Watch: a first message at once, then every change in order, deletes and expiries included', async () => {
    const w = follow(c, { prefix: 'job/' });
    await w.until(() => w.got.length >= 1);
    expect(w.got[0]!.events).toEqual([]);
    const start = w.got[0]!.revision;
    await unary(c, 'register', { name: 'job/1', json: '{"n":1.50}' });
    await unary(c, 'register', { name: 'other', json: '{}' });
    await unary(c, 'register', { name: 'job/2', json: '{}', ttl: 1 });
    await unary(c, 'delete', { name: 'job/1' });
    await w.until(() => w.got.flatMap((m) => m.events).length >= 4);
    const events = w.got.flatMap((m) => m.events);
    expect(events.map((e) => [e.type, e.name])).toEqual([
      [WatchEvent_Type.PUT, 'job/1'],
      [WatchEvent_Type.PUT, 'job/2'],
      [WatchEvent_Type.DELETE, 'job/1'],
      [WatchEvent_Type.EXPIRE, 'job/2'],
    ]);
    expect(events[0]!.entry!.json).toBe('{"n":1.50}');
    expect(events[0]!.revision).toBeGreaterThan(start);
    expect(events[2]!.entry).toBeUndefined();
    w.cancel();

    // Resuming from a revision replays exactly what came after it.
    const again = follow(c, { prefix: 'job/', afterRevision: events[1]!.revision });
    await again.until(() => again.got.flatMap((m) => m.events).length >= 2);
    expect(again.got.flatMap((m) => m.events).map((e) => e.revision)).toEqual([events[2]!.revision, events[3]!.revision]);
    again.cancel();
  });

  it('Watch from a compacted revision: OUT_OF_RANGE with the oldest revision available', async () => {
    const small = await startConfigured({ registry: { history_revisions: 5 } });
    const s = stub(small.port);
    try {
      for (let i = 0; i < 12; i++) await unary(s, 'register', { name: `k${i}`, json: '{}' });
      const w = follow(s, { prefix: '', afterRevision: 1 });
      await expect(w.until(() => false, 5000)).rejects.toMatchObject({
        code: grpc.status.OUT_OF_RANGE,
        details: 'Revision 1 compacted: oldest available is 7; read the current state with List and watch from its revision',
      });
      const ok = follow(s, { prefix: '', afterRevision: 7 });
      await ok.until(() => ok.got.flatMap((m) => m.events).length === 5);
      ok.cancel();
    } finally {
      s.close();
      await small.stop();
      removeDir(small.home);
    }
  });
});
