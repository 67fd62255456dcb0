/**
 * Two brokers on a cluster of three real etcd members: one member down, the registry stays writable through
 * both; all down, registry calls answer 503 / UNAVAILABLE within 2 s while ping and health still answer and say
 * why; members back, the brokers recover by themselves and nothing acknowledged is lost.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PingServiceClient } from '../../generated/bpbroker/v1/ping.js';
import { type BrokerGrpcClient, connect, type GrpcWatchBatch, WatchEventType } from '../../src/client/grpcClient.js';
import { removeDir, type RunningBroker } from '../helpers/broker.js';
import { type EtcdCluster, type EtcdMember, startEtcd } from '../helpers/etcd.js';
import { startEtcdBroker } from '../helpers/etcdBroker.js';
import { call, qs } from '../helpers/https.js';
import { discoveryReplies } from '../helpers/udp.js';
import { waitFor } from '../helpers/wait.js';

let etcd: EtcdCluster;
let brokers: RunningBroker[] = [];
let clients: BrokerGrpcClient[] = [];
/** The follower that every broker talks to first: killing it makes them fail over, with no election. */
let first: EtcdMember;
/** Names every broker acknowledged, and the data each holds. */
const acked = new Map<string, string>();
/** A watch of every entry on broker 1, open through the whole test. */
const watched: GrpcWatchBatch[] = [];
let watch: ReturnType<BrokerGrpcClient['watch']> | undefined;
let watching: Promise<void> | undefined;

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
  const leader = await etcd.leader();
  first = etcd.members.find((m) => m !== leader)!;
  const endpoints = [first.clientUrl, ...etcd.endpoints.filter((e) => e !== first.clientUrl)];
  brokers = await Promise.all([startEtcdBroker(endpoints, '/faults/'), startEtcdBroker(endpoints, '/faults/')]);
  clients = brokers.map((b) => connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true, deadlineMs: 10_000 }));
  watch = clients[1]!.watch({ prefix: '' });
  watching = (async () => {
    for await (const batch of watch!) watched.push(batch);
  })().catch(() => undefined);
  await waitFor(() => watched.length > 0, 10_000, 10, 'the watch to start'); // its first message: it follows from here
}, 90_000);

afterAll(async () => {
  watch?.stop();
  await watching;
  for (const c of clients) c.close();
  await Promise.all(brokers.map((b) => b.stop('SIGKILL')));
  for (const b of brokers) removeDir(b.home);
  await etcd?.stop();
});

const legacy = (b: RunningBroker, method: string, params: Record<string, string>) => call(b.port, `/services/${method}/?${qs(params)}`);

/** Writes `name` through broker `i` over legacy (even i) or gRPC, then reads it through every broker both ways. */
async function writeAndReadEverywhere(name: string, i: number): Promise<void> {
  const data = `{"by":${i},"name":"${name}"}`;
  if (i % 2 === 0) {
    const r = await legacy(brokers[i % brokers.length]!, 'Register', { name, data });
    expect(r.status, r.text).toBe(200);
    expect(r.json.success, r.text).toBe(true);
  } else {
    await clients[i % clients.length]!.register(name, data);
  }
  acked.set(name, data);
  for (let j = 0; j < brokers.length; j++) {
    expect((await legacy(brokers[j]!, 'Get', { name })).json.data).toMatchObject({ by: i, name });
    expect((await clients[j]!.get(name)).json).toBe(data);
  }
}

/** A gRPC Ping's answer and the registry problem its metadata tells. */
function grpcPing(port: number): Promise<{ src: string; problem: string | undefined }> {
  const creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
  const client = new PingServiceClient(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': 'bpbroker' });
  return new Promise((resolve, reject) => {
    let problem: string | undefined;
    const c = client.ping({ json: '' }, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve({ src: res.src, problem });
    });
    c.on('metadata', (md: grpc.Metadata) => {
      problem = md.get('bpbroker-registry-problem')[0] as string | undefined;
    });
  });
}

/** Milliseconds a call takes to settle, and how it settled. */
async function timed<T>(p: () => Promise<T>): Promise<{ ms: number; value?: T; error?: { code?: unknown; details?: string } }> {
  const start = performance.now();
  try {
    const value = await p();
    return { ms: performance.now() - start, value };
  } catch (e) {
    return { ms: performance.now() - start, error: e as { code?: unknown; details?: string } };
  }
}

describe('brokers on three etcd members', { timeout: 120_000 }, () => {
  it('serves the registry through every broker, before and with one member down', async () => {
    for (let i = 0; i < 4; i++) await writeAndReadEverywhere(`before/${i}`, i);
    await first.kill();
    // No wait: the brokers' first member is gone, the next call of each must go to another one.
    for (let i = 0; i < 4; i++) await writeAndReadEverywhere(`one-down/${i}`, i);
    for (const b of brokers) expect((await call(b.port, '/_ready', { method: 'GET' })).status).toBe(200);
  });

  it('with the members left frozen (they answer nothing): 503 / UNAVAILABLE within 2 s, then back', async () => {
    const running = etcd.members.filter((m) => m.running);
    for (const m of running) m.freeze();
    let calls: Awaited<ReturnType<typeof timed>>[];
    try {
      // At once: each call waits out its own deadline.
      calls = await Promise.all(
        brokers.flatMap((b, i) => [
          timed(() => legacy(b, 'Update', { name: `frozen/${i}`, data: '{}' })),
          timed(() => legacy(b, 'Get', { name: 'before/0' })),
          timed(() => clients[i]!.update(`frozen/g${i}`, '{}')),
          timed(() => clients[i]!.get('before/1')),
        ]),
      );
    } finally {
      for (const m of running) m.thaw();
    }
    console.log(`etcd frozen, ms to the answer: ${calls.map((c) => Math.round(c.ms)).join(', ')}`);
    for (const [k, c] of calls.entries()) {
      expect(c.ms).toBeLessThan(2_500);
      if (k % 4 < 2) {
        const r = c.value as Awaited<ReturnType<typeof call>>;
        expect(r.status, r.text).toBe(503);
        expect(r.json.message).toMatch(/^Registry unavailable: /);
      } else {
        expect(c.error?.code).toBe(grpc.status.UNAVAILABLE);
        expect(c.error?.details).toMatch(/^Registry unavailable: /);
      }
    }
    // A frozen write was sent and may have been applied: whatever the members decide, each broker serves the same.
    for (const b of brokers) await waitFor(async () => (await call(b.port, '/_ready', { method: 'GET' })).status === 200, 30_000, 50, 'ready after the thaw');
    for (const name of ['frozen/0', 'frozen/1', 'frozen/g0', 'frozen/g1']) {
      const seen = await Promise.all(brokers.map(async (b) => (await legacy(b, 'Get', { name })).json.success as boolean));
      if (seen[0]) acked.set(name, (await clients[0]!.get(name)).json);
      expect(new Set(seen).size, name).toBe(1);
    }
  });

  it('with every member down: 503 / UNAVAILABLE within 2 s, ping and health answer and say why, not ready', async () => {
    await Promise.all(etcd.members.map((m) => m.kill()));
    const figures: Record<string, number> = {};
    for (const [i, b] of brokers.entries()) {
      const write = await timed(() => legacy(b, 'Register', { name: `down/${i}`, data: '{}' }));
      expect(write.value?.status, write.value?.text).toBe(503);
      expect(write.value?.json.message).toMatch(/^Registry unavailable: /);
      expect(write.value?.reason).toBe(write.value?.json.message);
      const read = await timed(() => legacy(b, 'Get', { name: 'before/0' }));
      expect(read.value?.status).toBe(503);
      expect(read.value?.json.message).toMatch(/^Registry unavailable: /);
      const gWrite = await timed(() => clients[i]!.register(`down/g${i}`, '{}'));
      expect(gWrite.error?.code).toBe(grpc.status.UNAVAILABLE);
      expect(gWrite.error?.details).toMatch(/^Registry unavailable: /);
      const gRead = await timed(() => clients[i]!.get('before/1'));
      expect(gRead.error?.code).toBe(grpc.status.UNAVAILABLE);
      const gList = await timed(() => clients[i]!.list(''));
      expect(gList.error?.code).toBe(grpc.status.UNAVAILABLE);
      Object.assign(figures, { [`legacyWrite${i}`]: write.ms, [`legacyRead${i}`]: read.ms, [`grpcWrite${i}`]: gWrite.ms, [`grpcRead${i}`]: gRead.ms, [`grpcList${i}`]: gList.ms });
      for (const ms of [write.ms, read.ms, gWrite.ms, gRead.ms, gList.ms]) expect(ms).toBeLessThan(2_500);

      const ping = await call(b.port, `/ping/Ping/?${qs({ data: '1' })}`);
      expect(ping.status).toBe(200);
      expect(ping.json).toEqual({ src: '127.0.0.1', data: 1 });
      expect(ping.headers['bpbroker-registry-problem']).toMatch(/^Registry unavailable: /);
      const gPing = await grpcPing(b.port);
      expect(gPing.problem).toMatch(/^Registry unavailable: /);
      const health = await call(b.port, '/_health', { method: 'GET' });
      expect(health.status).toBe(200);
      expect(health.json).toMatchObject({ status: 'ok', registry: { backend: 'etcd', available: false, problem: expect.stringMatching(/^Registry unavailable: /) } });
      const ready = await call(b.port, '/_ready', { method: 'GET' });
      expect(ready.status).toBe(503);
      expect(ready.json.reasons).toEqual([expect.stringMatching(/^Registry unavailable: /)]);
    }
    console.log(`etcd down, ms to the answer: ${JSON.stringify(Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v)])))}`);
  });

  it('members back: the brokers recover by themselves, with every acknowledged write', async () => {
    const started = performance.now();
    await Promise.all(etcd.members.map((m) => m.start()));
    const etcdMs = performance.now() - started;
    const recovered = await Promise.all(
      brokers.map((b) => waitFor(async () => (await call(b.port, '/_ready', { method: 'GET' })).status === 200, 30_000, 50, `broker ${b.port} ready again`)),
    );
    console.log(`etcd members serving again after ${Math.round(etcdMs)} ms; brokers ready ${recovered.map((ms) => Math.round(ms)).join(' and ')} ms later`);
    for (let i = 0; i < 4; i++) await writeAndReadEverywhere(`after/${i}`, i);
    for (const [j, c] of clients.entries()) {
      const found = new Map<string, string>();
      for await (const e of c.listAll('')) found.set(e.name, e.json);
      expect(found, `broker ${j}`).toEqual(acked);
      expect((await call(brokers[j]!.port, '/_health', { method: 'GET' })).json).toEqual({ status: 'ok' });
    }
    // Discovery answers from names the broker follows again: one written while a member was down, one after.
    for (const b of brokers) {
      await waitFor(async () => (await discoveryReplies(b.port, 'one-down/3\n', 'after/3')).length === 1, 10_000, 50, 'discovery of one-down/3');
    }
    // The watch open since the start delivered every acknowledged write once, in revision order, across the outage.
    await waitFor(() => watched.flatMap((x) => x.events).length >= acked.size, 10_000, 20, 'the watch to catch up');
    const events = watched.flatMap((x) => x.events);
    expect(events.map((e) => [e.type, e.name])).toEqual([...acked.keys()].map((n) => [WatchEventType.PUT, n]));
    const revisions = events.map((e) => e.revision);
    expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
  });

  it('with the leader killed: every broker serves again as soon as etcd has elected another, with no restart', async () => {
    const leader = await etcd.leader();
    await leader.kill();
    // etcd itself takes no write until the election ends (a second or two): the brokers answer 503 meanwhile.
    const elected = await waitFor(() => etcd.leader().then(() => true, () => false), 15_000, 50, 'a new leader');
    const started = performance.now();
    for (let i = 0; i < 4; i++) await writeAndReadEverywhere(`leader-down/${i}`, i);
    console.log(`leader killed: a new one after ${elected} ms; then four writes, each read through both brokers both ways, in ${Math.round(performance.now() - started)} ms`);
    for (const [j, c] of clients.entries()) {
      const found = new Map<string, string>();
      for await (const e of c.listAll('')) found.set(e.name, e.json);
      expect(found, `broker ${j}`).toEqual(acked);
    }
  });
});
