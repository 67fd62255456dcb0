/**
 * One suite of the Store contract (src/core/Store.ts), run against every implementation: whatever the core
 * asks of storage gives the same answers on the embedded store and on etcd.
 */
import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../src/core/BrokerError.js';
import type { Entry, RegistryEvent, WatchFilter } from '../../src/core/Entry.js';
import type { Mutation, Store, Write } from '../../src/core/Store.js';
import { waitFor } from '../helpers/wait.js';

export interface StoreFactory {
  /** A new, empty store of its own. */
  open(): Promise<Store>;
  /** Makes every revision up to the store's newest one unwatchable (etcd: Compact; embedded: fill its small history). */
  compact(store: Store): Promise<void>;
  /** A second store on the same storage as `store` (etcd: another client on the same prefix), if the kind has one. */
  twin?(store: Store): Promise<Store>;
}

const IP = '192.0.2.7';

/** A write of `data` with the writer's stamps, as the core makes it. */
function put(data: Record<string, unknown>, extra: Partial<Write> = {}): Write {
  const ts = Math.floor(Date.now() / 1000);
  return { json: JSON.stringify({ ...data, last_write_ip: IP, last_write_ts: ts }), ip: IP, ts, ...extra };
}

/** Register: refused when the entry exists. */
const register =
  (data: Record<string, unknown>, extra: Partial<Write> = {}): Mutation =>
  (existing) => {
    if (existing) throw new BrokerError('ALREADY_EXISTS', `Entry '${existing.name}' already exists`);
    return put(data, extra);
  };

/** Update: the members given merged into the entry's. */
const update =
  (data: Record<string, unknown>, extra: Partial<Write> = {}): Mutation =>
  (existing) =>
    put({ ...(existing ? (JSON.parse(existing.json) as object) : {}), ...data }, { ...extra, patch: JSON.stringify(data) });

/** Compare-and-swap: only if the entry is at `revision` (0: absent). */
const ifRevision =
  (revision: number, mutate: Mutation): Mutation =>
  (existing) => {
    checkRevision(existing, revision);
    return mutate(existing);
  };

function checkRevision(existing: Entry | undefined, revision: number): void {
  const current = existing?.modRevision ?? 0;
  if (current !== revision) throw new BrokerError('FAILED_PRECONDITION', `Revision mismatch: at revision ${current}`, { revision: current });
}

const data = (e: Entry | undefined) => (e ? (JSON.parse(e.json) as Record<string, unknown>) : undefined);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BrokerError);
    return (err as BrokerError).code;
  }
  return 'resolved';
}

/** Events of a watch until `enough` holds (the watch is closed after). */
async function events(store: Store, filter: WatchFilter, after: number | undefined, enough: (got: RegistryEvent[]) => boolean, act?: () => Promise<void>): Promise<RegistryEvent[]> {
  const w = store.watch(filter, after);
  try {
    const got: RegistryEvent[] = [];
    const acting = act?.();
    const deadline = Date.now() + 15_000;
    while (!enough(got)) {
      if (Date.now() > deadline) throw new Error(`watch got only ${JSON.stringify(got.map((e) => [e.type, e.name]))}`);
      const batch = await w.next(500);
      got.push(...batch.events);
      expect(batch.revision).toBeGreaterThanOrEqual(got.at(-1)?.revision ?? 0);
    }
    await acting;
    return got;
  } finally {
    w.close();
  }
}
const brief = (es: RegistryEvent[]) => es.map((e) => `${e.type} ${e.name}`);

export function storeConformance(kind: string, factory: StoreFactory): void {
  describe(`Store conformance: ${kind}`, () => {
    it('gets and lists by prefix, in pages, within maxBytes, in UTF-16 name order', async () => {
      const s = await factory.open();
      try {
        const names = ['a', 'ab', 'abc', 'b', 'é', '\uff01x', '😀x', '😀'];
        for (const n of names) await s.write(n, register({ n }));
        const a = await s.get('ab');
        expect(data(a)).toMatchObject({ n: 'ab', last_write_ip: IP });
        expect(a).toMatchObject({ name: 'ab', lastWriteIp: IP });
        expect(await s.get('zz')).toBeUndefined();

        const all = await s.list('', '', 100);
        expect(all.entries.map((e) => e.name)).toEqual([...names].sort()); // JS sorts by UTF-16 code units
        expect(all.more).toBe(false);
        expect((await s.list('a', '', 100)).entries.map((e) => e.name)).toEqual(['a', 'ab', 'abc']);
        const page1 = await s.list('a', '', 2);
        expect(page1.entries.map((e) => e.name)).toEqual(['a', 'ab']);
        expect(page1.more).toBe(true);
        const page2 = await s.list('a', 'ab', 2);
        expect(page2.entries.map((e) => e.name)).toEqual(['abc']);
        expect(page2.more).toBe(false);
        expect((await s.list('😀', '', 10)).entries.map((e) => e.name)).toEqual(['😀', '😀x']);
        // maxBytes: at least one entry, then no more than the budget.
        const one = await s.list('a', '', 10, 1);
        expect(one.entries.map((e) => e.name)).toEqual(['a']);
        expect(one.more).toBe(true);
        const budget = Buffer.byteLength('a') + Buffer.byteLength(one.entries[0]!.json) + Buffer.byteLength('ab') + Buffer.byteLength((await s.get('ab'))!.json);
        expect((await s.list('a', '', 10, budget)).entries.map((e) => e.name)).toEqual(['a', 'ab']);
      } finally {
        await s.close();
      }
    });

    it('keeps reserved names (`_store/...`) apart: listed and watched only when asked for, and then only they', async () => {
      const s = await factory.open();
      try {
        const start = s.revision;
        for (const n of ['A', '_store/ns/k1', '_store/ns/k2', 'a', 'z']) await s.write(n, register({ n }));
        expect((await s.list('', '', 100)).entries.map((e) => e.name)).toEqual(['A', 'a', 'z']);
        const pageA = await s.list('', '', 1);
        expect(pageA.entries.map((e) => e.name)).toEqual(['A']);
        expect((await s.list('', 'A', 1)).entries.map((e) => e.name)).toEqual(['a']);
        expect((await s.list('', '', 100, Infinity, true)).entries.map((e) => e.name)).toEqual(['_store/ns/k1', '_store/ns/k2']);
        expect((await s.list('_store/ns/', '_store/ns/k1', 100, Infinity, true)).entries.map((e) => e.name)).toEqual(['_store/ns/k2']);
        expect((await s.list('_store/', '', 100)).entries).toEqual([]);
        const seen = await events(s, { prefix: '' }, start, (es) => es.length >= 3);
        expect(brief(seen)).toEqual(['put A', 'put a', 'put z']);
        const hidden = await events(s, { prefix: '_store/ns/', reserved: true }, start, (es) => es.length >= 2);
        expect(brief(hidden)).toEqual(['put _store/ns/k1', 'put _store/ns/k2']);
      } finally {
        await s.close();
      }
    });

    it('writes: Register refuses an existing entry, Update merges, a CAS mismatch writes nothing', async () => {
      const s = await factory.open();
      try {
        const first = await s.write('svc', register({ port: 80 }));
        expect(await code(s.write('svc', register({ port: 81 })))).toBe('ALREADY_EXISTS');
        const merged = await s.write('svc', update({ host: 'h1' }));
        expect(data(merged)).toMatchObject({ port: 80, host: 'h1' });
        expect(data(await s.get('svc'))).toMatchObject({ port: 80, host: 'h1' });
        const revision = s.revision;
        expect(await code(s.write('svc', ifRevision(first.modRevision, update({ port: 1 }))))).toBe('FAILED_PRECONDITION');
        expect(await code(s.write('new', ifRevision(5, register({}))))).toBe('FAILED_PRECONDITION');
        expect(s.revision).toBe(revision);
        expect(await s.get('svc')).toEqual(merged);
        expect(await s.get('new')).toBeUndefined();
        const swapped = await s.write('svc', ifRevision(merged.modRevision, update({ port: 2 })));
        expect(swapped.modRevision).toBeGreaterThan(merged.modRevision);
      } finally {
        await s.close();
      }
    });

    it('concurrent compare-and-swap: exactly one of several writers at one revision wins', async () => {
      const s = await factory.open();
      try {
        const base = await s.write('lock', register({ holder: 'none' }));
        const tries = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => s.write('lock', ifRevision(base.modRevision, update({ holder: i })))));
        const won = tries.filter((t) => t.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const t of tries) if (t.status === 'rejected') expect((t.reason as BrokerError).code).toBe('FAILED_PRECONDITION');
        expect(data(await s.get('lock'))!.holder).toBe(data((won[0] as PromiseFulfilledResult<Entry>).value)!.holder);
      } finally {
        await s.close();
      }
    });

    it('many concurrent writes of one name through one store all land, each once, in the order they were asked', async () => {
      const s = await factory.open();
      try {
        await s.write('hot', register({ n: 0 }));
        // A counter: each write reads the entry's n and adds one (as Update merges into what it reads).
        const bump: Mutation = (existing) => put({ n: (data(existing)!.n as number) + 1 });
        const writes = await Promise.all(Array.from({ length: 150 }, () => s.write('hot', bump)));
        expect(writes.map((e) => data(e)!.n)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
        expect(data(await s.get('hot'))!.n).toBe(150);
      } finally {
        await s.close();
      }
    }, 60_000);

    it('deletes with a check; create and mod revisions across update, delete, re-create and Replace', async () => {
      const s = await factory.open();
      try {
        const created = await s.write('e', register({ v: 1 }));
        expect(created.createRevision).toBe(created.modRevision);
        const updated = await s.write('e', update({ v: 2 }));
        expect(updated.createRevision).toBe(created.createRevision);
        expect(updated.modRevision).toBeGreaterThan(created.modRevision);
        expect(await s.get('e')).toMatchObject({ createRevision: created.createRevision, modRevision: updated.modRevision });

        expect(await code(s.delete('e', (x) => checkRevision(x, created.modRevision)))).toBe('FAILED_PRECONDITION');
        expect(await s.get('e')).toBeDefined();
        expect(await s.delete('e', (x) => checkRevision(x, updated.modRevision))).toBe(true);
        expect(await s.get('e')).toBeUndefined();
        expect(await s.delete('e')).toBe(false);

        const again = await s.write('e', register({ v: 3 }));
        expect(again.createRevision).toBe(again.modRevision);
        expect(again.createRevision).toBeGreaterThan(updated.modRevision);

        // Replace: a fresh entry (new create revision) in one write; an update after it keeps that revision.
        const replaced = await s.write('e', () => put({ v: 4 }, { fresh: true }));
        expect(replaced.createRevision).toBe(replaced.modRevision);
        expect(replaced.createRevision).toBeGreaterThan(again.createRevision);
        expect(await s.get('e')).toMatchObject({ createRevision: replaced.createRevision, modRevision: replaced.modRevision });
        const after = await s.write('e', update({ v: 5 }));
        expect(after.createRevision).toBe(replaced.createRevision);
        expect(await s.get('e')).toMatchObject({ createRevision: replaced.createRevision, modRevision: after.modRevision });
        expect((await s.list('e', '', 1)).entries[0]).toMatchObject({ createRevision: replaced.createRevision });
      } finally {
        await s.close();
      }
    });

    it('leases: a write keeps or removes one, keepAlive extends it, expiry is an `expire` event, a delete a `delete`', async () => {
      const s = await factory.open();
      try {
        const leased = await s.write('l', register({}, { ttl: 3 }));
        expect(leased.ttl).toBe(3);
        await waitFor(() => s.has('l'), 5_000, 10, 'has(l)');
        // keepAlive renews: wait until time has visibly run, renew, and the lease is back near its full TTL.
        await waitFor(async () => ((await s.leaseLeft((await s.get('l'))!)) ?? 9) <= 2, 5_000);
        const kept = await s.keepAlive('l');
        expect(kept?.ttl).toBe(3);
        expect(kept?.entry.name).toBe('l');
        expect(await s.leaseLeft(kept!.entry)).toBeGreaterThanOrEqual(2);
        // A write without a TTL keeps the lease; ttl 0 removes it.
        expect((await s.write('l', update({ a: 1 }))).ttl).toBe(3);
        expect((await s.get('l'))!.ttl).toBe(3);
        const unleased = await s.write('l', update({ a: 2 }, { ttl: 0 }));
        expect(unleased.ttl).toBeUndefined();
        expect((await s.get('l'))!.ttl).toBeUndefined();
        expect(await s.leaseLeft((await s.get('l'))!)).toBeUndefined();
        expect(await s.keepAlive('l')).toBeUndefined();
        expect(await s.keepAlive('absent')).toBeUndefined();

        // An entry whose lease runs out is deleted as `expire`; a leased entry deleted explicitly is a `delete`.
        const got = await events(
          s,
          { prefix: 'x/' },
          undefined,
          (es) => es.some((e) => e.type !== 'put' && e.name === 'x/gone') && es.some((e) => e.type !== 'put' && e.name === 'x/deleted'),
          async () => {
            await s.write('x/gone', register({}, { ttl: 2 }));
            await s.write('x/deleted', register({}, { ttl: 2 }));
            await s.delete('x/deleted');
          },
        );
        expect(brief(got)).toEqual(['put x/gone', 'put x/deleted', 'delete x/deleted', 'expire x/gone']);
        expect(await s.get('x/gone')).toBeUndefined();
        await waitFor(() => !s.has('x/gone'), 5_000);
      } finally {
        await s.close();
      }
    });

    it('watches by name and by prefix, from a past revision and from now; OUT_OF_RANGE once compacted', async () => {
      const s = await factory.open();
      try {
        const start = s.revision;
        await s.write('w/a', register({ i: 1 }));
        await s.write('w/b', register({ i: 2 }));
        await s.write('v/c', register({ i: 3 }));
        await s.write('w/a', update({ i: 4 }));
        await s.delete('w/b');
        const past = await events(s, { prefix: 'w/' }, start, (es) => es.length >= 4);
        expect(brief(past)).toEqual(['put w/a', 'put w/b', 'put w/a', 'delete w/b']);
        expect(past.map((e) => e.revision)).toEqual([...past.map((e) => e.revision)].sort((x, y) => x - y));
        expect(data(past[2]!.entry)).toMatchObject({ i: 4 });
        expect(past[2]!.entry).toMatchObject({ name: 'w/a', modRevision: past[2]!.revision, createRevision: past[0]!.revision });
        const named = await events(s, { name: 'w/a' }, start, (es) => es.length >= 2);
        expect(brief(named)).toEqual(['put w/a', 'put w/a']);

        // From now: only what changes after the watch starts.
        const now = await events(s, { name: 'w/a' }, undefined, (es) => es.length >= 1, async () => {
          await s.write('w/z', register({}));
          await s.write('w/a', update({ i: 5 }));
        });
        expect(brief(now)).toEqual(['put w/a']);
        expect(data(now[0]!.entry)).toMatchObject({ i: 5 });

        await factory.compact(s);
        const stale = async () => {
          const w = s.watch({ prefix: 'w/' }, start);
          try {
            return await w.next(1000);
          } finally {
            w.close();
          }
        };
        expect(await code(stale())).toBe('OUT_OF_RANGE');
        const fresh = await events(s, { prefix: 'w/' }, s.revision, (es) => es.length >= 1, () => s.write('w/q', register({})).then(() => {}));
        expect(brief(fresh)).toEqual(['put w/q']);
      } finally {
        await s.close();
      }
    });

    // The embedded store has one instance per registry: only kinds with a twin run this.
    const twin = factory.twin;
    if (twin) it('a second store on the same storage sees writes in has(), get and watch, and tells deletes from expiries', async () => {
      const a = await factory.open();
      const b = await twin(a);
      try {
        const from = a.revision;
        await a.write('t/one', register({ v: 1 }));
        await waitFor(() => b.has('t/one'), 5_000, 10, 'b.has(t/one)');
        expect(data(await b.get('t/one'))).toMatchObject({ v: 1 });
        const got = await events(b, { prefix: 't/' }, from, (es) => es.length >= 4, async () => {
          await b.write('t/one', update({ v: 2 }, { ttl: 30 })); // leased: its delete is told from an expiry by the marker
          await a.write('t/two', register({}, { ttl: 2 }));
          await a.delete('t/one');
        });
        expect(brief(got.slice(0, 4))).toEqual(['put t/one', 'put t/one', 'put t/two', 'delete t/one']);
        const expired = await events(b, { name: 't/two' }, got.at(-1)!.revision, (es) => es.length >= 1);
        expect(brief(expired)).toEqual(['expire t/two']);
        await waitFor(() => !b.has('t/one') && !b.has('t/two') && !a.has('t/two'), 5_000);
      } finally {
        await b.close();
        await a.close();
      }
    });

    if (twin) it("a write decides on the entry as the other store left it, not as this one last wrote it", async () => {
      const a = await factory.open();
      const b = await twin(a);
      try {
        const first = await a.write('s/merge', register({ a: 1 }));
        await b.write('s/merge', update({ b: 2 }));
        // Update merges into the other store's write.
        const merged = await a.write('s/merge', update({ c: 3 }));
        expect(data(merged)).toMatchObject({ a: 1, b: 2, c: 3 });
        expect(data(await b.get('s/merge'))).toMatchObject({ a: 1, b: 2, c: 3 });
        // A compare-and-swap at the revision the other store made succeeds; at this store's own older one it fails.
        const theirs = await b.write('s/merge', update({ d: 4 }));
        expect(await code(a.write('s/merge', ifRevision(merged.modRevision, update({ e: 5 }))))).toBe('FAILED_PRECONDITION');
        const cas = await a.write('s/merge', ifRevision(theirs.modRevision, update({ e: 5 })));
        expect(data(cas)).toMatchObject({ a: 1, b: 2, c: 3, d: 4, e: 5 });
        expect(cas.createRevision).toBe(first.createRevision);
        // Deleted by the other store: an Update finds it absent, a Register creates it again.
        await b.delete('s/merge');
        expect(await code(a.write('s/merge', (e) => {
          if (!e) throw new BrokerError('NOT_FOUND', 'absent');
          return put({});
        }))).toBe('NOT_FOUND');
        const again = await a.write('s/merge', register({ z: 1 }));
        expect(again.createRevision).toBe(again.modRevision);
        // Registered by the other store just now: a Register here is refused, the other's entry intact.
        await b.write('s/theirs', register({ mine: false }));
        expect(await code(a.write('s/theirs', register({ mine: true })))).toBe('ALREADY_EXISTS');
        expect(data(await a.get('s/theirs'))).toMatchObject({ mine: false });
        // Run out under this store's feet: an Update of it finds it absent.
        await a.write('s/leased', register({}, { ttl: 1 }));
        await waitFor(async () => (await b.get('s/leased')) === undefined, 10_000, 100, 's/leased to run out');
        expect(await code(a.write('s/leased', (e) => {
          if (!e) throw new BrokerError('NOT_FOUND', 'absent');
          return put({});
        }))).toBe('NOT_FOUND');
      } finally {
        await b.close();
        await a.close();
      }
    }, 30_000);

    if (twin) it('two stores writing one name at once: every write lands once (conflicts between them are retried)', async () => {
      const a = await factory.open();
      const b = await twin(a);
      try {
        const bump: Mutation = (existing) => put({ n: ((data(existing)?.n as number | undefined) ?? 0) + 1 });
        // Neither store knows the name yet: both take it as new, and all but one first write lose to the other's.
        const writes = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).write('race', bump)));
        expect(writes.map((e) => data(e)!.n).sort((x, y) => (x as number) - (y as number))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(data(await a.get('race'))!.n).toBe(40);
      } finally {
        await b.close();
        await a.close();
      }
    }, 60_000);
  });
}
