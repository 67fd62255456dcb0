/**
 * The Store conformance suite on the embedded store (a registry in a temporary folder, with a small watch
 * history so that compaction is reachable) and on etcd (one real member; each store under its own prefix),
 * then what only etcd has: the store while etcd is down, and back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../../src/core/BrokerError.js';
import { Registry } from '../../src/store/embedded/Registry.js';
import { EmbeddedStore } from '../../src/store/embedded/EmbeddedStore.js';
import { EtcdClient } from '../../src/store/etcd/EtcdClient.js';
import { EtcdStore } from '../../src/store/etcd/EtcdStore.js';
import type { EtcdStoreWatch } from '../../src/store/etcd/EtcdStoreWatch.js';
import type { Entry } from '../../src/core/Entry.js';
import type { Store } from '../../src/core/Store.js';
import { type EtcdCluster, startEtcd } from '../helpers/etcd.js';
import { waitFor } from '../helpers/wait.js';
import { storeConformance } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'bpbroker-store-'));
let folders = 0;
const HISTORY = 20;

let etcd: EtcdCluster;
let admin: EtcdClient;
let prefixes = 0;
const prefixOf = new WeakMap<Store, string>();

beforeAll(async () => {
  etcd = await startEtcd();
  admin = new EtcdClient({ endpoints: etcd.endpoints });
});
afterAll(async () => {
  admin?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

storeConformance('embedded', {
  async open() {
    const registry = await Registry.open({ journalDir: join(dir, `r${++folders}`), snapshot: { revision: 0, entries: [] }, history: { maxRevisions: HISTORY } });
    return new EmbeddedStore(registry);
  },
  async compact(store) {
    // The history keeps the last HISTORY revisions: push every older one out.
    for (let i = 0; i <= HISTORY; i++) await store.write(`zz/fill${i}`, () => ({ json: '{}', ip: '', ts: 0 }));
  },
});

async function openEtcd(prefix: string): Promise<Store> {
  const store = await EtcdStore.open({ endpoints: etcd.endpoints, prefix });
  prefixOf.set(store, prefix);
  return store;
}

storeConformance('etcd', {
  open: () => openEtcd(`/t${++prefixes}/`),
  async compact(store) {
    await admin.compact(store.revision);
  },
  twin: (store) => openEtcd(prefixOf.get(store)!),
});

describe('etcd store: a watch whose reader falls behind', () => {
  it('stops taking events from etcd past its queue bound and follows again once read: nothing is missed', async () => {
    const s = await EtcdStore.open({ endpoints: etcd.endpoints, prefix: '/slow/', maxWatchQueueBytes: 64 * 1024 });
    try {
      const start = s.revision;
      const big = JSON.stringify({ pad: 'x'.repeat(8 * 1024) });
      // The reader leaves 20 entries of 8 KiB unread: they would pile up to 160 KiB. Watched from before they
      // were written, they reach the watch as one batch of 20 revisions, and the bound holds inside a batch.
      for (let i = 0; i < 20; i++) await s.write(`e${i}`, () => ({ json: big, ip: '', ts: 0 }));
      const w = s.watch({ prefix: '' }, start) as EtcdStoreWatch;
      await waitFor(() => w.queuedBytes > 64 * 1024, 10_000, 10, 'the queue to reach its bound');
      await new Promise((r) => setTimeout(r, 300)); // time for more to arrive, were it still following
      expect(w.queuedBytes).toBeLessThan(64 * 1024 + 9 * 1024);
      // Read a few at a time: the watch follows again from where it stopped, in order, with nothing missed.
      const names: string[] = [];
      while (names.length < 20) names.push(...(await w.next(5_000, 4)).events.map((e) => e.name));
      expect(names).toEqual(Array.from({ length: 20 }, (_, i) => `e${i}`));
      expect(w.revision).toBe(s.revision);
      w.close();
      expect(s.watchersWaiting).toBe(0);
    } finally {
      await s.close();
    }
  });
});

/** Unary calls etcd has answered so far, by method (its /metrics). */
async function etcdCalls(): Promise<Record<string, number>> {
  const text = await (await fetch(`${etcd.endpoints[0]}/metrics`)).text();
  const calls: Record<string, number> = {};
  for (const m of text.matchAll(/^grpc_server_handled_total\{[^}]*grpc_method="(\w+)"[^}]*\} (\d+)/gm)) calls[m[1]!] = (calls[m[1]!] ?? 0) + Number(m[2]);
  return calls;
}

describe('etcd store round trips', () => {
  it('reads asked while one is in flight go together: 50 concurrent Gets are at most 3 etcd calls, each answered right', async () => {
    const s = await openEtcd('/batched/');
    try {
      for (let i = 0; i < 50; i++) await s.write(`k${i}`, () => ({ json: `{"i":${i}}`, ip: '', ts: 0 }));
      const before = await etcdCalls();
      const got = await Promise.all([...Array.from({ length: 50 }, (_, i) => s.get(`k${i}`)), s.get('k7'), s.get('absent')]);
      const after = await etcdCalls();
      expect(got.map((e) => e?.json)).toEqual([...Array.from({ length: 50 }, (_, i) => `{"i":${i}}`), '{"i":7}', undefined]);
      const calls = (after.Range ?? 0) - (before.Range ?? 0) + (after.Txn ?? 0) - (before.Txn ?? 0);
      expect(calls).toBeGreaterThanOrEqual(1);
      expect(calls).toBeLessThanOrEqual(3);
      // A read asked after a write was answered sees it, batched or not.
      const w = await s.write('k1', () => ({ json: '{"i":"new"}', ip: '', ts: 0 }));
      const [a, b] = await Promise.all([s.get('k1'), s.get('k2')]);
      expect(a).toMatchObject({ json: '{"i":"new"}', modRevision: w.modRevision });
      expect(b?.json).toBe('{"i":2}');
    } finally {
      await s.close();
    }
  });

  it('a write of a new name, or of one this store wrote last, is one Txn; of one written elsewhere, a Range and a Txn', async () => {
    const s = await openEtcd('/trips/');
    const other = await openEtcd('/trips/');
    try {
      const trips = async (write: () => Promise<unknown>): Promise<{ Range: number; Txn: number }> => {
        const before = await etcdCalls();
        await write();
        const after = await etcdCalls();
        return { Range: (after.Range ?? 0) - (before.Range ?? 0), Txn: (after.Txn ?? 0) - (before.Txn ?? 0) };
      };
      const write = (store: Store, json: string) => () => store.write('name', () => ({ json, ip: '', ts: 0 }));
      expect(await trips(write(s, '{"n":1}')), 'new').toEqual({ Range: 0, Txn: 1 });
      expect(await trips(write(s, '{"n":2}')), 'written here last').toEqual({ Range: 0, Txn: 1 });
      await other.write('name', () => ({ json: '{"n":3}', ip: '', ts: 0 }));
      await waitFor(() => s.has('name'), 5_000);
      // Written elsewhere since: the Txn on what this store wrote fails and returns the key; the next one lands.
      expect(await trips(write(s, '{"n":4}')), 'written elsewhere').toEqual({ Range: 0, Txn: 2 });
      const fresh = await openEtcd('/trips/');
      try {
        expect(await trips(write(fresh, '{"n":5}')), 'existing, unknown to this store').toEqual({ Range: 1, Txn: 1 });
      } finally {
        await fresh.close();
      }
    } finally {
      await other.close();
      await s.close();
    }
  });
});

describe('etcd store: writes of different names share Txns', () => {
  it('40 concurrent writes are a few Txns; each lands; a watch read 4 at a time gets every one, whole revisions only', async () => {
    const s = await openEtcd('/shared-txns/');
    try {
      const from = s.revision;
      const before = await etcdCalls();
      const written = await Promise.all(Array.from({ length: 40 }, (_, i) => s.write(`n${i}`, () => ({ json: `{"i":${i}}`, ip: '', ts: 0 }))));
      const after = await etcdCalls();
      expect((after.Txn ?? 0) - (before.Txn ?? 0)).toBeLessThanOrEqual(5);
      expect((after.Range ?? 0) - (before.Range ?? 0)).toBe(0);
      expect(new Set(written.map((e) => e.modRevision)).size).toBeLessThan(40);
      for (let i = 0; i < 40; i++) expect(await s.get(`n${i}`)).toMatchObject({ json: `{"i":${i}}`, modRevision: written[i]!.modRevision });
      // A reader that takes 4 at a time and resumes from the revision it was given misses nothing.
      const seen: string[] = [];
      let after4 = from;
      while (seen.length < 40) {
        const w = s.watch({ prefix: 'n' }, after4);
        const batch = await w.next(5_000, 4);
        w.close();
        seen.push(...batch.events.map((e) => e.name));
        after4 = batch.revision;
      }
      expect(seen.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `n${i}`).sort());
    } finally {
      await s.close();
    }
  });

  it("one write's failed compare fails its Txn: it decides again on the key as it is, the others are sent again, all land", async () => {
    const a = await openEtcd('/shared-stale/');
    const b = await openEtcd('/shared-stale/');
    try {
      await a.write('hot', () => ({ json: '{"v":1}', ip: '', ts: 0 }));
      await b.write('hot', () => ({ json: '{"v":2}', ip: '', ts: 0 })); // a still remembers v1's revision
      const bump = (e: Entry | undefined) => ({ json: JSON.stringify({ v: (JSON.parse(e?.json ?? '{"v":0}') as { v: number }).v + 10 }), ip: '', ts: 0 });
      // The first write goes alone; the rest, `hot` last, share a Txn whose compare on `hot` fails.
      const written = await Promise.all([...Array.from({ length: 10 }, (_, i) => a.write(`o${i}`, () => ({ json: `{"o":${i}}`, ip: '', ts: 0 }))), a.write('hot', bump)]);
      expect(written.at(-1)!.json).toBe('{"v":12}');
      expect((await b.get('hot'))?.json).toBe('{"v":12}');
      for (let i = 0; i < 10; i++) expect((await b.get(`o${i}`))?.json).toBe(`{"o":${i}}`);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe('etcd store while etcd is unreachable', () => {
  it('a read asked while another hangs on a frozen member does not wait for it: UNAVAILABLE within 2.5 s of being asked', { timeout: 30_000 }, async () => {
    const s = await openEtcd('/frozen/');
    const member = etcd.members[0]!;
    try {
      await s.write('x', () => ({ json: '{}', ip: '', ts: 0 }));
      member.freeze();
      const first = s.get('x').catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 1_000)); // the first read is now halfway through its 2 s deadline
      const asked = Date.now();
      const second = await s.get('y').then(
        () => 'answered',
        (e: unknown) => (e as BrokerError).code,
      );
      const took = Date.now() - asked;
      expect({ second, took }).toEqual({ second: 'UNAVAILABLE', took: expect.any(Number) });
      expect(took).toBeLessThan(2_500);
      expect(await first).toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      member.thaw();
      await waitFor(async () => (await s.get('x').then(() => true, () => false)), 15_000, 100, 'etcd to answer again');
      await s.close();
    }
  });

  it('answers UNAVAILABLE within 2 s, reports the problem, and recovers by itself', { timeout: 60_000 }, async () => {
    const s = await openEtcd('/down/');
    try {
      await s.write('before', () => ({ json: '{}', ip: '', ts: 0 }));
      await waitFor(() => s.has('before'), 5_000);
      expect(s.problem).toBeUndefined();
      await etcd.members[0]!.kill();
      const started = Date.now();
      const err = await s.get('before').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BrokerError);
      expect((err as BrokerError).code).toBe('UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(2_500);
      expect(s.problem).toMatch(/^Registry unavailable: /);
      expect(await s.write('x', () => ({ json: '{}', ip: '', ts: 0 })).catch((e: BrokerError) => e.code)).toBe('UNAVAILABLE');

      await etcd.members[0]!.start();
      await waitFor(() => s.problem === undefined, 15_000, 50, 'the problem to clear');
      await s.write('after', () => ({ json: '{}', ip: '', ts: 0 }));
      await waitFor(() => s.has('after'), 5_000, 10, 'has(after) once etcd is back');
      expect((await s.get('before'))?.name).toBe('before');
    } finally {
      await s.close();
    }
  });
});
