/**
 * The typed clients' coordination primitives against a real broker process: compare-and-swap options and
 * currentRevisionOf, leases and the lease keeper, and the watch iterable (its batches, how it ends, and the
 * failures it hands to the caller instead of retrying).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, GrpcStatus, WatchEventType, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { currentRevisionOf, LegacyClient, LegacyClientError, type LeaseLoss } from '../../src/index.js';
import { removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

let broker: RunningBroker;
let grpc: BrokerGrpcClient;
let legacy: LegacyClient;

beforeAll(async () => {
  broker = await startBroker();
  grpc = connect(`127.0.0.1:${broker.port}`, { insecureSkipVerify: true });
  legacy = new LegacyClient(`127.0.0.1:${broker.port}`);
});

afterAll(async () => {
  grpc?.close();
  legacy?.close();
  await broker?.stop();
  if (broker) removeDir(broker.home);
});

/** A broker that keeps only `revisions` revisions of watch history. */
async function brokerWithHistory(revisions: number): Promise<RunningBroker> {
  const home = tempDir();
  mkdirSync(join(home, 'etc'), { recursive: true });
  writeFileSync(join(home, 'etc', 'bpbroker.json'), JSON.stringify({ registry: { history_revisions: revisions } }));
  return startBroker({ home });
}

async function failureOf(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('the call succeeded');
}

describe('compare-and-swap and leases', () => {
  it('gRPC: ifRevision and ttl on writes; a refused write tells the current revision', async () => {
    const a = await grpc.register('g-cas', { v: 1 }, { ifRevision: 0, ttl: 30 });
    expect(a.ttl).toBe(30);
    const b = await grpc.replace('g-cas', { v: 2 }, { ifRevision: a.modRevision });
    expect(b.ttl).toBeGreaterThan(0); // a write without ttl keeps the lease
    const stale = await failureOf(grpc.update('g-cas', { v: 3 }, { ifRevision: a.modRevision }));
    expect(stale.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(stale.details).toBe(`Revision mismatch: g-cas is at revision ${b.modRevision}`);
    expect(currentRevisionOf(stale)).toBe(b.modRevision);
    expect(currentRevisionOf(await failureOf(grpc.delete('g-cas', { ifRevision: a.modRevision })))).toBe(b.modRevision);
    expect(currentRevisionOf(await failureOf(grpc.get('g-absent')))).toBeUndefined();
    expect((await grpc.keepAlive('g-cas')).ttl).toBe(30);
    expect((await grpc.update('g-cas', { w: 1 }, { ttl: 0 })).ttl).toBe(0);
    expect((await failureOf(grpc.keepAlive('g-cas'))).code).toBe(GrpcStatus.NOT_FOUND);
    const current = await grpc.get('g-cas');
    expect(await grpc.delete('g-cas', { ifRevision: current.modRevision })).toBe(true);
    expect(currentRevisionOf(await failureOf(grpc.replace('g-cas', 'x', { ifRevision: current.modRevision })))).toBe(0);
  });

  it('legacy: the same, with a 409 LegacyClientError that carries the revision', async () => {
    const a = await legacy.register('l-cas', '{"v":1}', { ifRevision: 0, ttl: 30 });
    expect(a.reply.ttl).toBe(30);
    const r1 = a.reply.revision!;
    const b = await legacy.replace('l-cas', '{"v":2}', { ifRevision: r1 });
    const r2 = b.reply.revision!;
    const stale = await failureOf(legacy.update('l-cas', '{"v":3}', { ifRevision: r1 }));
    expect(stale).toBeInstanceOf(LegacyClientError);
    expect(stale.status).toBe(409);
    expect(stale.message).toBe(`Revision mismatch: l-cas is at revision ${r2}`);
    expect(stale.revision).toBe(r2);
    expect(currentRevisionOf(stale)).toBe(r2);
    expect(currentRevisionOf(await failureOf(legacy.delete('l-cas', { ifRevision: r1 })))).toBe(r2);
    expect(currentRevisionOf(await failureOf(legacy.get('l-absent')))).toBeUndefined();
    expect((await legacy.keepAlive('l-cas')).reply.ttl).toBe(30);
    await legacy.update('l-cas', '{"w":1}', { ttl: 0 });
    expect((await failureOf(legacy.keepAlive('l-cas'))).message).toBe("Entry 'l-cas' not found");
  });
});

// The lease tests mostly wait for leases to be renewed or run out, each on names of its own: they wait together.
describe.concurrent.each([
  { proto: 'gRPC', client: () => grpc as BrokerGrpcClient | LegacyClient },
  { proto: 'legacy', client: () => legacy as BrokerGrpcClient | LegacyClient },
])('lease keeper ($proto)', ({ proto, client }) => {
  const write = (name: string, ttl: number) => (proto === 'gRPC' ? grpc.replace(name, 'x', { ttl }) : legacy.replace(name, 'x', { ttl }));
  const exists = async (name: string) => (await legacy.get(name).then(() => true, () => false));

  it('keeps a 2 s lease alive past several TTLs, then reports the loss once the entry is deleted', { timeout: 60_000 }, async () => {
    const name = `keeper-${proto}`;
    await write(name, 2);
    const losses: LeaseLoss[] = [];
    let renewals = 0;
    const keeper = client().keepLease(name, { onLost: (l) => losses.push(l), onRenew: () => renewals++ });
    await keeper.ready;
    expect(keeper.ttl).toBe(2);
    expect(keeper.everyMs).toBe(666); // a third of the TTL
    const started = Date.now();
    await waitFor(async () => {
      expect(await exists(name)).toBe(true);
      return Date.now() - started > 6500;
    }, 30_000, 50, 'three TTLs');
    expect(renewals).toBeGreaterThanOrEqual(6);
    expect(losses).toEqual([]);

    await legacy.delete(name);
    const loss = await keeper.lost;
    expect(loss).toMatchObject({ name, reason: 'gone', message: `Lease on ${name} lost: the entry is gone or has no lease any more: Entry '${name}' not found` });
    expect(losses).toEqual([loss]);
    expect(keeper.stopped).toBe(true);
  });

  it('stop() ends the renewals: the lease then runs out', { timeout: 30_000 }, async () => {
    const name = `keeper-stop-${proto}`;
    await write(name, 1);
    const keeper = client().keepLease(name, { everyMs: 200 });
    await keeper.ready;
    keeper.stop();
    await waitFor(async () => !(await exists(name)), 10_000, 50, 'the lease to run out');
    expect(await Promise.race([keeper.lost, Promise.resolve('not lost')])).toBe('not lost');
  });

  it('a first renewal that fails rejects ready and reports the loss', async () => {
    const keeper = client().keepLease(`keeper-absent-${proto}`);
    await expect(keeper.ready).rejects.toThrow(/Entry 'keeper-absent-.*' not found/);
    expect((await keeper.lost).reason).toBe('gone');
  });
});

describe.concurrent('lease keeper: losses only one side can see', () => {
  it('gRPC: an entry created again by another writer is not ours any more', async () => {
    await grpc.replace('keeper-replaced', 'mine', { ttl: 30 });
    const keeper = grpc.keepLease('keeper-replaced', { everyMs: 100 });
    await keeper.ready;
    const theirs = await grpc.replace('keeper-replaced', 'theirs'); // keeps the lease, but a new entry
    const loss = await keeper.lost;
    expect(loss.reason).toBe('replaced');
    expect(loss.message).toBe(`Lease on keeper-replaced lost: the entry was created again (revision ${theirs.createRevision}) by another writer`);
  });

  it('both: a broker that stays unreachable loses the lease one TTL after the last renewal was sent', { timeout: 60_000 }, async () => {
    const own = await startBroker();
    try {
      const g = connect(`127.0.0.1:${own.port}`, { insecureSkipVerify: true });
      const l = new LegacyClient(`127.0.0.1:${own.port}`);
      await g.register('lease-g', 'x', { ttl: 3 });
      await l.register('lease-l', 'x', { ttl: 3 });
      const lastRenewal = { g: 0, l: 0 };
      const kg = g.keepLease('lease-g', { everyMs: 500, onRenew: () => (lastRenewal.g = Date.now()) });
      const kl = l.keepLease('lease-l', { everyMs: 500, onRenew: () => (lastRenewal.l = Date.now()) });
      await Promise.all([kg.ready, kl.ready]);
      await own.stop('SIGKILL');
      const killedAt = Date.now();
      const [lg, ll] = await Promise.all([kg.lost, kl.lost]);
      const lostAt = Date.now();
      for (const [loss, last] of [
        [lg, lastRenewal.g],
        [ll, lastRenewal.l],
      ] as const) {
        expect(loss.reason).toBe('unreachable');
        expect(loss.message).toMatch(/^Lease on lease-[gl] lost: no renewal reached bpbroker within the 3 s TTL: /);
        // Counted from when the last renewal was sent, so never later than the broker's own deadline (which
        // counts from its arrival): the holder hears of the loss before anyone else can take the entry.
        expect(lostAt - last).toBeGreaterThanOrEqual(3000 - 1000);
        expect(lostAt - last).toBeLessThanOrEqual(3000 + 1500);
      }
      expect(lostAt - killedAt).toBeLessThan(3000 + 5000);
      g.close();
      l.close();
    } finally {
      await own.stop('SIGKILL');
      removeDir(own.home);
    }
  });
});

describe('watch iterable', () => {
  it('gRPC: the first message at once, then the changes in order with their entries', async () => {
    const w = grpc.watch({ prefix: 'gw-' });
    const first = await w.next();
    expect(first.value).toMatchObject({ events: [], progress: true });
    await grpc.register('gw-a', '{"x":1.0}');
    await grpc.delete('gw-a');
    await grpc.register('gw-b', 'short', { ttl: 1 });
    const events = [];
    while (events.length < 4) {
      const { value } = await w.next();
      expect(value!.progress).toBe(value!.events.length === 0);
      events.push(...value!.events);
    }
    expect(events.map((e) => [e.type, e.name])).toEqual([
      [WatchEventType.PUT, 'gw-a'],
      [WatchEventType.DELETE, 'gw-a'],
      [WatchEventType.PUT, 'gw-b'],
      [WatchEventType.EXPIRE, 'gw-b'],
    ]);
    expect(events[0]!.entry?.json).toBe('{"x":1.0}');
    expect(w.revision).toBe(events[3]!.revision);
    await w.return();
    expect(w.stopped).toBe(true);
  });

  it('legacy: long-polls give the same changes, with the data exactly as stored', async () => {
    const w = legacy.watch({ prefix: 'lw-' });
    expect((await w.next()).value).toMatchObject({ events: [], progress: true });
    await legacy.register('lw-a', '{"x":1.0,"big":12345678901234567890}');
    await legacy.delete('lw-a');
    const events = [];
    while (events.length < 2) events.push(...(await w.next()).value!.events);
    expect(events.map((e) => [e.type, e.name])).toEqual([
      ['put', 'lw-a'],
      ['delete', 'lw-a'],
    ]);
    expect(events[0]!.data).toMatch(/^\{"x":1\.0,"big":12345678901234567890,"last_write_ip":"127\.0\.0\.1","last_write_ts":\d+\}$/);
    expect(events[1]!.data).toBeUndefined();
    await w.return();
  });

  it('return() and an aborted signal end a watch at once, also while it waits; close() ends the client’s watches', async () => {
    for (const c of [grpc, legacy]) {
      const w = c.watch({ name: 'nothing-happens' });
      await w.next();
      const pending = w.next();
      const began = Date.now();
      await w.return();
      expect(await pending).toEqual({ done: true, value: undefined });
      expect(Date.now() - began).toBeLessThan(2000); // not the 10 s progress or 30 s poll

      const controller = new AbortController();
      const seen: unknown[] = [];
      const loop = (async () => {
        for await (const batch of c.watch({ name: 'nothing-happens' }, { signal: controller.signal })) seen.push(batch);
      })();
      await waitFor(() => seen.length === 1, 10_000, 10, 'the first message');
      controller.abort();
      await loop; // ends without throwing
    }
    const own = connect(`127.0.0.1:${broker.port}`, { insecureSkipVerify: true });
    const w = own.watch({ name: 'nothing-happens' });
    await w.next();
    const pending = w.next();
    own.close();
    expect(await pending).toEqual({ done: true, value: undefined });
  });

  it('a failure before the first message is thrown, not retried', async () => {
    const nowhere = connect('127.0.0.1:1', { insecureSkipVerify: true });
    expect((await failureOf(nowhere.watch({ prefix: '' }).next())).code).toBe(GrpcStatus.UNAVAILABLE);
    nowhere.close();
    const l = new LegacyClient('127.0.0.1:1');
    expect((await failureOf(l.watch({ prefix: '' }).next())).message).toMatch(/^Cannot connect to bpbroker at 127\.0\.0\.1:1/);
    l.close();
  });

  it('a compacted start revision is OUT_OF_RANGE (legacy 410), handed to the caller', { timeout: 60_000 }, async () => {
    const small = await brokerWithHistory(10);
    const g = connect(`127.0.0.1:${small.port}`, { insecureSkipVerify: true });
    const l = new LegacyClient(`127.0.0.1:${small.port}`);
    try {
      for (let i = 0; i < 30; i++) await l.replace(`c${i}`, 'x');
      const message = /^Revision 1 compacted: oldest available is \d+; read the current state with List and watch from its revision$/;
      const ge = await failureOf(g.watch({ prefix: '' }, { afterRevision: 1 }).next());
      expect(ge.code).toBe(GrpcStatus.OUT_OF_RANGE);
      expect(ge.details).toMatch(message);
      const le = await failureOf(l.watch({ prefix: '' }, { afterRevision: 1 }).next());
      expect(le.status).toBe(410);
      expect(le.message).toMatch(message);
    } finally {
      g.close();
      l.close();
      await small.stop();
      removeDir(small.home);
    }
  });

  it('gRPC: a watcher that reads too slowly gets RESOURCE_EXHAUSTED, after the batches it had', { timeout: 120_000 }, async () => {
    const small = await brokerWithHistory(20);
    const g = connect(`127.0.0.1:${small.port}`, { insecureSkipVerify: true });
    const writer = connect(`127.0.0.1:${small.port}`, { insecureSkipVerify: true }); // its own connection
    try {
      const w = g.watch({ prefix: 'slow-' });
      await w.next(); // caught up; now it stops reading while the writes fill the connection and the history
      const big = { pad: 'x'.repeat(200_000) };
      for (let i = 0; i < 200; i++) await writer.replace(`slow-${i % 5}`, big);
      let delivered = 0;
      const err = await failureOf(
        (async () => {
          for await (const batch of w) delivered += batch.events.length;
        })(),
      );
      expect(err.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
      expect(err.details).toMatch(/^Watcher too slow: \d+ revisions behind; resume from revision \d+/);
      expect(delivered).toBeGreaterThan(0);
      expect(delivered).toBeLessThan(200);
    } finally {
      g.close();
      writer.close();
      await small.stop();
      removeDir(small.home);
    }
  });
});
