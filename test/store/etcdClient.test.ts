import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Event_EventType } from '../../generated/etcd/mvccpb/kv.js';
import { silentLogger } from '../../src/log/Logger.js';
import { EtcdClient } from '../../src/store/etcd/EtcdClient.js';
import { EtcdCompactedError, EtcdError } from '../../src/store/etcd/EtcdError.js';
import type { EtcdWatch, EtcdWatchBatch } from '../../src/store/etcd/EtcdWatch.js';
import { compare, op } from '../../src/store/etcd/txn.js';
import { loadOrCreateCertificate } from '../../src/transport/certificate.js';
import { type EtcdCluster, startEtcd } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';

const text = (b: Buffer | undefined) => b?.toString('utf8');

/** Reads batches from a watch until `enough` holds for the events gathered; returns them. */
async function collect(watch: EtcdWatch, enough: (batches: EtcdWatchBatch[]) => boolean): Promise<EtcdWatchBatch[]> {
  const got: EtcdWatchBatch[] = [];
  for await (const batch of watch) {
    got.push(batch);
    if (enough(got)) break;
  }
  return got;
}
const eventsOf = (batches: EtcdWatchBatch[]) => batches.flatMap((b) => b.events);

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<EtcdError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EtcdError);
    return err as EtcdError;
  }
  throw new Error('expected a rejection');
}

describe('etcd client on one member', () => {
  let etcd: EtcdCluster;
  let client: EtcdClient;
  beforeAll(async () => {
    etcd = await startEtcd();
    client = new EtcdClient({ endpoints: etcd.endpoints });
  });
  afterAll(async () => {
    client?.close();
    await etcd?.stop();
  });

  it('puts, gets, ranges by prefix in pages and at a past revision, deletes by prefix', async () => {
    const first = await client.put('/p/a', 'one');
    await client.put('/p/b', 'two');
    await client.put('/p/c', 'three');
    await client.put('/q/x', 'other prefix');
    const second = await client.put('/p/a', 'uno', { prevKv: true });
    expect(text(second.prevKv?.value)).toBe('one');

    const a = await client.get('/p/a');
    expect(text(a?.value)).toBe('uno');
    expect(a?.createRevision).toBe(first.revision);
    expect(a?.modRevision).toBe(second.revision);
    expect(a?.version).toBe(2);
    expect(await client.get('/p/none')).toBeUndefined();

    const all = await client.range('/p/', { prefix: true });
    expect(all.kvs.map((kv) => text(kv.key))).toEqual(['/p/a', '/p/b', '/p/c']);
    const limited = await client.range('/p/', { prefix: true, limit: 2 });
    expect([limited.kvs.length, limited.more, limited.count]).toEqual([2, true, 3]);

    const pages: string[][] = [];
    for await (const page of client.pages('/p/', { prefix: true, pageSize: 2 })) pages.push(page.map((kv) => text(kv.key)!));
    expect(pages).toEqual([['/p/a', '/p/b'], ['/p/c']]);

    const past = await client.range('/p/a', { revision: first.revision });
    expect(text(past.kvs[0]?.value)).toBe('one');

    const del = await client.delete('/p/', { prefix: true, prevKv: true });
    expect(del.deleted).toBe(3);
    expect(del.prevKvs.map((kv) => text(kv.value)).sort()).toEqual(['three', 'two', 'uno']);
    expect((await client.range('/p/', { prefix: true })).count).toBe(0);
    expect(text((await client.get('/q/x'))?.value)).toBe('other prefix');
  });

  it('compare-and-swap on mod_revision: one winner among concurrent writers', async () => {
    const { revision } = await client.put('/cas', 'v0');
    const writers = Array.from({ length: 8 }, (_, i) =>
      client.txn([compare('/cas', 'mod_revision', '=', revision)], [op.put('/cas', `w${i}`)], [op.get('/cas')]),
    );
    const results = await Promise.all(writers);
    const winners = results.filter((r) => r.succeeded);
    expect(winners).toHaveLength(1);
    const now = await client.get('/cas');
    for (const lost of results.filter((r) => !r.succeeded)) {
      // The else branch read the winner's write: the revision a retry would compare against.
      expect(lost.responses[0]?.responseRange?.kvs[0]?.modRevision).toBe(now?.modRevision);
    }
    expect(now?.modRevision).toBe(winners[0]!.revision);
    // create_revision 0 means absent: create-if-absent succeeds once.
    const create = () => client.txn([compare('/fresh', 'create_revision', '=', 0)], [op.put('/fresh', 'x')]);
    expect((await create()).succeeded).toBe(true);
    expect((await create()).succeeded).toBe(false);
  });

  it('watches: several on one stream, events in order with prev values, history from a past revision, progress, compaction', async () => {
    const keyWatch = client.watch({ key: '/w/k', prevKv: true });
    const prefixWatch = client.watch({ key: '/w/', prefix: true });
    await Promise.all([keyWatch.created, prefixWatch.created]);

    const r1 = await client.put('/w/k', '1');
    await client.put('/w/other', 'x');
    await client.put('/w/k', '2');
    const r4 = await client.delete('/w/k');

    const onKey = eventsOf(await collect(keyWatch, (b) => eventsOf(b).length >= 3));
    expect(onKey.map((e) => [e.type, text(e.kv?.value), text(e.prevKv?.value)])).toEqual([
      [Event_EventType.PUT, '1', undefined],
      [Event_EventType.PUT, '2', '1'],
      [Event_EventType.DELETE, '', '2'],
    ]);
    const onPrefix = eventsOf(await collect(prefixWatch, (b) => eventsOf(b).length >= 4));
    expect(onPrefix.map((e) => e.kv?.modRevision)).toEqual([r1.revision, r1.revision + 1, r1.revision + 2, r4.revision]);

    // From a past revision: the history first, in order.
    const replay = client.watch({ key: '/w/', prefix: true, startRevision: r1.revision + 1 });
    const replayed = eventsOf(await collect(replay, (b) => eventsOf(b).length >= 3));
    expect(replayed.map((e) => text(e.kv?.key))).toEqual(['/w/other', '/w/k', '/w/k']);

    // A progress notice on demand: everything up to the current revision was delivered.
    const quiet = client.watch({ key: '/w/quiet' });
    await quiet.created;
    await client.requestWatchProgress();
    const [progress] = await collect(quiet, () => true);
    expect(progress).toMatchObject({ progress: true, events: [] });
    expect(progress!.revision).toBeGreaterThanOrEqual(r4.revision);

    // After compaction: a watch from before it ends with the typed error and the oldest revision left.
    await client.compact(r4.revision, { physical: true });
    const stale = client.watch({ key: '/w/', prefix: true, startRevision: r1.revision });
    const err = await collect(stale, () => false).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EtcdCompactedError);
    expect((err as EtcdCompactedError).compactRevision).toBe(r4.revision);
    expect((err as EtcdCompactedError).code).toBe('OUT_OF_RANGE');
    expect((await failure(client.range('/w/k', { revision: r1.revision }))).code).toBe('OUT_OF_RANGE');
  });

  it('leases: a kept lease outlives its TTL, expiry deletes its key, revoke deletes at once', async () => {
    const lease = await client.leaseGrant(1); // etcd raises it to its minimum (2 s with default timings)
    expect(lease.id).toMatch(/^\d+$/);
    const grantedAt = Date.now();
    await client.put('/lease/k', 'v', { lease: lease.id });
    expect((await client.get('/lease/k'))?.lease).toBe(lease.id);
    expect((await client.leaseTimeToLive(lease.id, { keys: true })).keys.map((k) => text(k))).toEqual(['/lease/k']);

    const kept = client.leaseKeepAlive(lease.id, lease.ttl);
    await waitFor(() => Date.now() > grantedAt + lease.ttl * 1000 + 1000, 10_000, 100, 'lease outlives its TTL');
    expect((await client.get('/lease/k'))?.lease).toBe(lease.id);
    expect(await client.leaseKeepAliveOnce(lease.id)).toBe(lease.ttl);

    const gone = client.watch({ key: '/lease/k' });
    await gone.created;
    kept.stop();
    const [expired] = eventsOf(await collect(gone, (b) => eventsOf(b).length >= 1));
    expect(expired?.type).toBe(Event_EventType.DELETE);
    expect((await client.leaseTimeToLive(lease.id)).ttl).toBe(-1);
    expect((await failure(client.leaseKeepAliveOnce(lease.id))).code).toBe('NOT_FOUND');

    const other = await client.leaseGrant(60);
    await client.put('/lease/r', 'v', { lease: other.id });
    await client.leaseRevoke(other.id);
    expect(await client.get('/lease/r')).toBeUndefined();
    expect((await failure(client.leaseRevoke(other.id))).code).toBe('NOT_FOUND');
  });
});

describe('etcd client over TLS with client certificates and auth', () => {
  let etcd: EtcdCluster;
  let home: string;
  let tls: { caFile: string; certFile: string; keyFile: string };
  beforeAll(async () => {
    // The broker's own kind of certificate: self-signed, for 127.0.0.1; here etcd's server and client certificate too.
    home = mkdtempSync(join(tmpdir(), 'bpbroker-etcd-tls-'));
    const cert = await loadOrCreateCertificate(home, { ssl_cert: '', ssl_key: '' }, silentLogger);
    tls = { caFile: cert.certPath, certFile: cert.certPath, keyFile: join(home, 'etc/bpbroker.key') };
    etcd = await startEtcd({ tls: { certFile: tls.certFile, keyFile: tls.keyFile, clientAuth: tls } });
  });
  afterAll(async () => {
    await etcd?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('talks TLS with the CA and client certificate; refuses without them', async () => {
    expect(etcd.endpoints[0]).toMatch(/^https:/);
    const good = new EtcdClient({ endpoints: etcd.endpoints, ...tls });
    const noClientCert = new EtcdClient({ endpoints: etcd.endpoints, caFile: tls.caFile, deadlineMs: 1_000 });
    const noCa = new EtcdClient({ endpoints: etcd.endpoints, certFile: tls.certFile, keyFile: tls.keyFile, deadlineMs: 1_000 });
    try {
      await good.put('/tls', 'ok');
      expect(text((await good.get('/tls'))?.value)).toBe('ok');
      expect((await failure(noClientCert.get('/tls'))).code).toBe('UNAVAILABLE');
      expect((await failure(noCa.get('/tls'))).code).toBe('UNAVAILABLE');
    } finally {
      for (const c of [good, noClientCert, noCa]) c.close();
    }
  });

  it('logs in with a username and password, keeps to its permissions, and logs in again when etcd drops its token', async () => {
    const setup = new EtcdClient({ endpoints: etcd.endpoints, ...tls });
    await setup.userAdd('root', 'rootpw');
    await setup.userGrantRole('root', 'root');
    await setup.roleAdd('broker');
    await setup.roleGrantPrefix('broker', '/bpbroker/');
    await setup.userAdd('broker', 'brokerpw');
    await setup.userGrantRole('broker', 'broker');
    await setup.authEnable();
    setup.close();

    const root = new EtcdClient({ endpoints: etcd.endpoints, ...tls, username: 'root', password: 'rootpw' });
    const broker = new EtcdClient({ endpoints: etcd.endpoints, ...tls, username: 'broker', password: 'brokerpw' });
    const wrong = new EtcdClient({ endpoints: etcd.endpoints, ...tls, username: 'broker', password: 'nope' });
    try {
      await broker.put('/bpbroker/a', '1');
      expect(text((await broker.get('/bpbroker/a'))?.value)).toBe('1');
      expect((await failure(broker.put('/elsewhere', 'x'))).code).toBe('PERMISSION_DENIED');
      expect((await failure(wrong.get('/bpbroker/a'))).code).toBe('UNAUTHENTICATED');

      // Turning auth off and on makes etcd forget every token: the next call must log in again by itself.
      await root.authDisable();
      await root.authEnable();
      await broker.put('/bpbroker/a', '2');
      expect(text((await broker.get('/bpbroker/a'))?.value)).toBe('2');
      const watch = broker.watch({ key: '/bpbroker/', prefix: true });
      await watch.created;
    } finally {
      for (const c of [root, broker, wrong]) c.close();
    }
  });
});

describe('etcd client on three members', () => {
  let etcd: EtcdCluster;
  beforeAll(async () => {
    etcd = await startEtcd({ members: 3 });
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('fails over when its member dies, answers UNAVAILABLE within the deadline when all are down, recovers after restart', async () => {
    // The client starts on a follower, so the cluster keeps its leader while that member is down.
    const leader = await etcd.leader();
    const followers = etcd.members.filter((m) => m !== leader);
    const used = followers[0]!;
    const endpoints = [used.clientUrl, followers[1]!.clientUrl, leader.clientUrl];
    // Two clients: `client` makes unary calls only (its own failover), `watcher` holds a watch stream.
    const client = new EtcdClient({ endpoints });
    const watcher = new EtcdClient({ endpoints });
    try {
      await client.put('/f/before', '1');
      const watch = watcher.watch({ key: '/f/', prefix: true });
      await watch.created;

      await used.kill();
      // A read goes on to the next member whatever the failure; a write only when it surely was not sent (one on
      // a connection that drops may have been applied: it answers UNAVAILABLE, as etcd's own client does).
      expect(text((await client.get('/f/before'))?.value)).toBe('1');
      await client.put('/f/after', '2');
      // The watch's stream was on the dead member: it ends with UNAVAILABLE, and a new one resumes elsewhere.
      const broke = await collect(watch, () => false).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((broke as EtcdError).code).toBe('UNAVAILABLE');
      const resumed = watcher.watch({ key: '/f/', prefix: true, startRevision: 1 });
      expect(eventsOf(await collect(resumed, (b) => eventsOf(b).length >= 2)).map((e) => text(e.kv?.key))).toEqual(['/f/before', '/f/after']);

      await Promise.all(etcd.members.map((m) => m.kill()));
      const started = Date.now();
      const down = await failure(client.put('/f/down', 'x'));
      const tookMs = Date.now() - started;
      expect(down.code).toBe('UNAVAILABLE');
      expect(down.message).toMatch(/^Registry unavailable: /);
      expect(tookMs).toBeLessThan(2_500);
      expect((await failure(client.get('/f/before'))).code).toBe('UNAVAILABLE');

      await Promise.all(etcd.members.map((m) => m.start()));
      await waitFor(() => client.get('/f/before').then((kv) => text(kv?.value) === '1', () => false), 15_000, 100, 'reads after restart');
      await client.put('/f/back', '3');
      expect(text((await client.get('/f/back'))?.value)).toBe('3');
    } finally {
      client.close();
      watcher.close();
    }
  });
});
