/**
 * Brokers as stateless front ends over one etcd (one real member): A and B on one prefix serve one registry over
 * both protocols, discovery and extensions; C on another prefix serves another registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerGrpcClient, connect, type GrpcWatchBatch, WatchEventType } from '../../src/client/grpcClient.js';
import { removeDir, type RunningBroker } from '../helpers/broker.js';
import { type EtcdCluster, startEtcd } from '../helpers/etcd.js';
import { startEtcdBroker } from '../helpers/etcdBroker.js';
import { type DropProxy, startDropProxy } from '../helpers/dropProxy.js';
import { call, qs } from '../helpers/https.js';
import { discoveryReplies } from '../helpers/udp.js';
import { waitFor } from '../helpers/wait.js';

// Reads and writes the registry and the extension's own store from inside the broker.
const EXT = `export async function Read(rh) {
  const entry = await rh.registry.get(rh.qs.name);
  const stored = await rh.store.get(rh.qs.key);
  return { entry: entry ?? null, stored: stored ?? null };
}
export async function Put(rh) { return rh.store.put(rh.qs.key, JSON.parse(rh.qs.value)); }
`;
const ext = { sections: { w: {} }, lib: { 'w.mjs': EXT } };

let etcd: EtcdCluster;
/** B reaches etcd through it, so that a call of B's can lose its connection after etcd got it. */
let proxy: DropProxy;
let a: RunningBroker;
let b: RunningBroker;
let c: RunningBroker;
let ga: BrokerGrpcClient;
let gb: BrokerGrpcClient;
let gc: BrokerGrpcClient;

beforeAll(async () => {
  etcd = await startEtcd();
  proxy = await startDropProxy(etcd.endpoints[0]!);
  [a, b, c] = await Promise.all([
    startEtcdBroker(etcd.endpoints, '/shared/', ext),
    startEtcdBroker([proxy.url], '/shared/', ext),
    startEtcdBroker(etcd.endpoints, '/other/', ext),
  ]);
  const grpc = (r: RunningBroker) => connect(`127.0.0.1:${r.port}`, { insecureSkipVerify: true });
  [ga, gb, gc] = [grpc(a), grpc(b), grpc(c)];
}, 90_000);

afterAll(async () => {
  for (const g of [ga, gb, gc]) g?.close();
  await Promise.all([a, b, c].map((r) => r?.stop()));
  for (const r of [a, b, c]) if (r) removeDir(r.home);
  await proxy?.close();
  await etcd?.stop();
});

const legacy = (r: RunningBroker, method: string, params: Record<string, string>) => call(r.port, `/services/${method}/?${qs(params)}`);

describe('two brokers on one etcd prefix', () => {
  it('a write through A (legacy) is read through B over both protocols, byte for byte', async () => {
    // Numbers keep their text (1.0, 2^63 and past it), names and values keep astral characters.
    const name = 'svc-\u{1F680}-\u{1F600}';
    const data = '{"f":1.0,"big":9223372036854775808,"id":18446744073709551615,"e":1e3,"who":"caf\u00e9 \u{1F600}"}';
    const put = await legacy(a, 'Register', { name, data });
    expect(put.status, put.text).toBe(200);
    const viaB = await legacy(b, 'Get', { name });
    expect(viaB.status).toBe(200);
    expect(viaB.json.data).toEqual(put.json.data);
    // The legacy body escapes non-ASCII: the same bytes from either broker.
    expect(viaB.bytes.equals(put.bytes)).toBe(true);
    expect(viaB.text).toContain('"f":1.0');
    expect(viaB.text).toContain('"big":9223372036854775808');
    expect(viaB.text).toContain('"id":18446744073709551615');
    expect(viaB.text).toContain('"e":1e3');
    expect(viaB.text).toContain('caf\\u00e9 \\ud83d\\ude00');
    const g = await gb.get(name);
    expect(g.name).toBe(name);
    expect(Buffer.from(g.json).equals(Buffer.from(data))).toBe(true); // gRPC carries the data as sent, in UTF-8
    expect(g.modRevision).toBe((await ga.get(name)).modRevision);
    // A's gRPC List and B's agree as well.
    const names = async (x: BrokerGrpcClient) => (await x.list('svc-')).entries.map((e) => e.name);
    expect(await names(gb)).toEqual([name]);
    expect(await names(ga)).toEqual([name]);
  });

  it("a gRPC Watch on B sees A's puts, deletes and a lease expiry, in order", async () => {
    const w = gb.watch({ prefix: 'watched/' });
    const got: GrpcWatchBatch[] = [];
    const reading = (async () => {
      for await (const batch of w) got.push(batch);
    })();
    const events = () => got.flatMap((x) => x.events.map((e) => [e.type, e.name] as const));
    try {
      await waitFor(() => got.length > 0, 10_000, 10, 'the watch to start'); // its first message
      expect((await legacy(a, 'Register', { name: 'watched/one', data: '{"n":1}' })).status).toBe(200);
      expect((await legacy(a, 'Update', { name: 'watched/one', data: '{"n":2}' })).status).toBe(200);
      expect((await legacy(a, 'Delete', { name: 'watched/one' })).status).toBe(200);
      // A lease of 1 s (etcd rounds it up to its minimum): the entry runs out, no one deletes it.
      expect((await legacy(a, 'Register', { name: 'watched/leased', data: '{}', ttl: '1' })).status).toBe(200);
      await waitFor(() => events().length >= 5, 15_000, 20, 'the lease to run out');
      expect(events()).toEqual([
        [WatchEventType.PUT, 'watched/one'],
        [WatchEventType.PUT, 'watched/one'],
        [WatchEventType.DELETE, 'watched/one'],
        [WatchEventType.PUT, 'watched/leased'],
        [WatchEventType.EXPIRE, 'watched/leased'],
      ]);
      const puts = got.flatMap((x) => x.events).filter((e) => e.type === WatchEventType.PUT);
      expect(JSON.parse(puts[1]!.entry!.json)).toMatchObject({ n: 2 });
      expect((await legacy(b, 'Get', { name: 'watched/leased' })).json.success).toBe(false);
    } finally {
      w.stop();
      await reading.catch(() => undefined);
    }
  });

  it('UDP discovery on B answers for a name registered through A, and stops once A deletes it', async () => {
    const name = 'discover-me';
    // Only a name B holds: nothing is answered while it is absent.
    expect((await legacy(a, 'Register', { name: 'known', data: '{}' })).status).toBe(200);
    await waitFor(async () => (await discoveryReplies(b.port, 'known\n', 'known', 1_000).catch(() => [])).length > 0, 10_000, 20, 'B to know "known"');
    expect(await discoveryReplies(b.port, `${name}\n`, 'known')).toEqual([]);
    expect((await legacy(a, 'Register', { name, data: '{}' })).status).toBe(200);
    await waitFor(async () => (await discoveryReplies(b.port, `${name}\n`, 'known')).length > 0, 10_000, 20, `B to answer for ${name}`);
    expect((await discoveryReplies(b.port, ` ${name} \r\n`, 'known')).map(String)).toEqual(['Key Exists\n']);
    expect((await legacy(a, 'Delete', { name })).status).toBe(200);
    await waitFor(async () => (await discoveryReplies(b.port, `${name}\n`, 'known')).length === 0, 10_000, 20, `B to forget ${name}`);
  });

  it("an extension on B reads, through rh.registry and rh.store, what A's clients and A's extension wrote", async () => {
    expect((await legacy(a, 'Register', { name: 'ext-seen', data: '{"v":1.0}' })).status).toBe(200);
    const put = await call(a.port, `/w/Put/?${qs({ key: 'k', value: '{"from":"A","big":12345678901234567890}' })}`);
    expect(put.status, put.text).toBe(200);
    const read = await call(b.port, `/w/Read/?${qs({ name: 'ext-seen', key: 'k' })}`);
    expect(read.status, read.text).toBe(200);
    expect(read.json.entry).toMatchObject({ v: 1, last_write_ip: '127.0.0.1' });
    expect(read.json.stored).toMatchObject({ from: 'A' });
    // The extension's store is no registry entry, on either broker.
    expect((await gb.list('')).entries.map((e) => e.name).filter((n) => n.startsWith('_'))).toEqual([]);
  });

  it('compare-and-swap across brokers: of two writers at one revision, exactly one wins', async () => {
    const first = await ga.register('cas', { owner: 'none' });
    for (let round = 0; round < 5; round++) {
      const at = String((await gb.get('cas')).modRevision);
      const [viaA, viaB] = await Promise.allSettled([
        legacy(a, 'Replace', { name: 'cas', data: `{"owner":"A","round":${round}}`, if_revision: at }),
        gb.replace('cas', { owner: 'B', round }, { ifRevision: Number(at) }),
      ]);
      const aWon = viaA.status === 'fulfilled' && viaA.value.status === 200 && viaA.value.json.success === true;
      const bWon = viaB.status === 'fulfilled';
      expect([aWon, bWon].filter(Boolean), `round ${round}`).toHaveLength(1);
      // The loser was told the revision it lost to.
      if (aWon) expect((viaB as PromiseRejectedResult).reason.code).toBe(9); // FAILED_PRECONDITION
      else expect(viaA.status === 'fulfilled' && viaA.value.status).toBe(409);
      const now = JSON.parse((await ga.get('cas')).json) as { owner: string; round: number };
      expect(now).toMatchObject({ owner: aWon ? 'A' : 'B', round });
    }
    expect((await ga.get('cas')).createRevision).toBeGreaterThan(first.createRevision); // Replace starts anew
  });

  it('a broker on another prefix sees none of it', async () => {
    expect((await legacy(a, 'Register', { name: 'only-shared', data: '{}' })).status).toBe(200);
    expect((await legacy(c, 'Get', { name: 'only-shared' })).json.success).toBe(false);
    expect((await gc.list('')).entries).toEqual([]);
    expect(await discoveryReplies(c.port, 'only-shared\n', 'only-shared', 1_000).catch((e: Error) => e.message)).toMatch(/not met/);
    const read = await call(c.port, `/w/Read/?${qs({ name: 'ext-seen', key: 'k' })}`);
    expect(read.json).toEqual({ entry: null, stored: null });
    // And what C writes stays on its prefix.
    expect((await legacy(c, 'Register', { name: 'only-other', data: '{}' })).status).toBe(200);
    expect((await legacy(b, 'Get', { name: 'only-other' })).json.success).toBe(false);
  });

  it('a write whose connection to etcd drops after etcd got it: 503 saying it may be applied; a retried Register answers sensibly', async () => {
    const name = 'dropped-write';
    const data = '{"marker":"cut-after-this-write"}';
    const cut = proxy.dropAfter('cut-after-this-write');
    const r = await legacy(b, 'Register', { name, data });
    await cut;
    expect(r.status, r.text).toBe(503);
    expect(r.json.message).toMatch(/^Registry unavailable: .*the write may have been applied; read the entry before writing it again$/);
    expect(r.reason).toBe(r.json.message);
    // etcd applied it: every broker serves it.
    await waitFor(async () => (await legacy(a, 'Get', { name })).json.success === true, 5_000, 20, 'the write in etcd');
    // Retried as is through B: refused as existing (not a second entry, not an error), the first write intact.
    const again = await legacy(b, 'Register', { name, data });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ success: false, message: `Entry '${name}' already exists` });
    expect((await legacy(b, 'Get', { name })).json.data).toMatchObject({ marker: 'cut-after-this-write' });
    // gRPC says the same.
    const cut2 = proxy.dropAfter('cut-again');
    const err = await gb.replace(name, '{"marker":"cut-again"}').then(() => undefined, (e: { code: number; details: string }) => e);
    await cut2;
    expect(err?.code).toBe(14); // UNAVAILABLE
    expect(err?.details).toMatch(/the write may have been applied; read the entry before writing it again$/);
    await waitFor(async () => JSON.parse((await ga.get(name)).json).marker === 'cut-again', 5_000, 20, 'the replace in etcd');
  });

  it('an Update giving an entry a lease, cut after etcd got it: the entry is not lost with that lease', async () => {
    const name = 'dropped-lease';
    expect((await legacy(a, 'Register', { name, data: '{"v":1}' })).status).toBe(200);
    const cut = proxy.dropAfter('cut-with-a-lease');
    const r = await legacy(b, 'Update', { name, data: '{"marker":"cut-with-a-lease"}', ttl: '60' });
    await cut;
    expect(r.status, r.text).toBe(503);
    expect(r.json.message).toMatch(/the write may have been applied/);
    // B's next write reaches etcd after whatever B did about the failed one.
    expect((await legacy(b, 'Update', { name: 'after-the-cut', data: '{}' })).status).toBe(200);
    // etcd applied the Update: the entry holds it, on its new lease; it was neither its old self nor gone.
    const now = await legacy(a, 'Get', { name });
    expect(now.json.success, now.text).toBe(true);
    expect(now.json.data).toMatchObject({ v: 1, marker: 'cut-with-a-lease' });
    expect((await ga.get(name)).ttl).toBeGreaterThan(50);
  });

  it('a write etcd got but never answered (it hangs): 503 within 2 s saying it may be applied; applied, it stays', async () => {
    const name = 'stalled-write';
    const stall = proxy.stallAfter('stall-after-this-write');
    const started = performance.now();
    const r = await legacy(b, 'Register', { name, data: '{"marker":"stall-after-this-write"}', ttl: '60' });
    const ms = performance.now() - started;
    stall.release();
    expect(r.status, r.text).toBe(503);
    expect(r.json.message).toMatch(/^Registry unavailable: .*the write may have been applied; read the entry before writing it again$/);
    expect(ms).toBeLessThan(2_500);
    const next = await legacy(b, 'Update', { name: 'after-the-stall', data: '{}' });
    expect(next.status, next.text).toBe(200);
    const now = await legacy(a, 'Get', { name });
    expect(now.json.success, now.text).toBe(true);
    expect((await ga.get(name)).ttl).toBeGreaterThan(50);
  });

  it('a read whose connection to etcd drops is tried again: the client gets its answer, not a 503', async () => {
    const name = 'read-cut-under-it';
    expect((await legacy(a, 'Register', { name, data: '{"v":1}' })).status).toBe(200);
    const cut = proxy.dropAfter(name);
    const r = await legacy(b, 'Get', { name });
    await cut;
    expect(r.status, r.text).toBe(200);
    expect(r.json.data).toMatchObject({ v: 1 });
  });
});
