import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessBroker, waitFor, type InProcessBroker } from './harness.js';

/**
 * `Run` calls one `rh.registry` method with the arguments the test sends (JSON) and answers what it resolved
 * with, or what it rejected with: code, message, revision, and whether the `revision` member is there at all.
 */
const DRIVER = `export async function Run(rh) {
  const args = JSON.parse(rh.qs.args);
  try {
    const ok = await (rh.qs.on === 'store' ? rh.store : rh.registry)[rh.qs.op](...args);
    return { ok: ok === undefined ? null : ok };
  } catch (e) {
    return { err: { code: e.code, message: e.message, revision: e.revision, hasRevision: 'revision' in e, isError: e instanceof Error } };
  }
}`;

interface Outcome {
  ok?: unknown;
  err?: { code: string; message: string; revision?: number; hasRevision: boolean; isError: boolean };
}

let b: InProcessBroker;
const run = async (op: string, ...args: unknown[]): Promise<Outcome> =>
  JSON.parse((await b.call('drv', 'Run', { op, args: JSON.stringify(args) })).body) as Outcome;
/** The same driver in another namespace: its store is its own. */
const runIn = async (ns: string, op: string, ...args: unknown[]): Promise<Outcome> =>
  JSON.parse((await b.call(ns, 'Run', { on: 'store', op, args: JSON.stringify(args) })).body) as Outcome;
const store = (op: string, ...args: unknown[]): Promise<Outcome> => runIn('drv', op, ...args);
const revisionOf = async (name: string): Promise<number> => ((await run('entry', name)).ok as { revision: number }).revision;
const ctx = { clientIp: '127.0.0.1' };

beforeAll(async () => {
  b = await inProcessBroker({ 'drv.mjs': DRIVER, 'other.mjs': DRIVER }, { drv: {}, other: {} });
});
afterAll(async () => {
  await b?.close();
});

describe('rh.registry: leases and compare-and-swap', () => {
  it('register with ttl: entry() shows revision, create revision, seconds left and the write stamps; core agrees', async () => {
    const before = Math.floor(Date.now() / 1000);
    const reg = await run('register', 'a', { v: 1 }, { ttl: 30 });
    expect(reg.ok).toMatchObject({ v: 1, last_write_ip: '127.0.0.1' });
    const e = (await run('entry', 'a')).ok as Record<string, unknown>;
    const core = await b.broker.get(ctx, 'a');
    expect(e).toEqual({
      data: JSON.parse(core.entry.json),
      revision: core.entry.modRevision,
      createRevision: core.entry.createRevision,
      ttl: expect.any(Number),
      lastWriteIp: '127.0.0.1',
      lastWriteTs: core.entry.lastWriteTs,
    });
    expect(e.ttl).toBeGreaterThanOrEqual(28);
    expect(e.ttl).toBeLessThanOrEqual(30);
    expect(core.ttl).toBeGreaterThanOrEqual(28);
    expect(e.lastWriteTs).toBeGreaterThanOrEqual(before);
  });

  it('update with ifRevision writes at that revision and keeps the lease; at another it fails with a typed error', async () => {
    await run('register', 'u', { v: 1 }, { ttl: 60 });
    const r1 = await revisionOf('u');
    expect((await run('update', 'u', { w: 2 }, { ifRevision: r1 })).ok).toMatchObject({ v: 1, w: 2 });
    const after = (await run('entry', 'u')).ok as { revision: number; ttl?: number };
    expect(after.revision).toBeGreaterThan(r1);
    expect(after.ttl).toBeGreaterThanOrEqual(58);

    const stale = await run('update', 'u', { x: 3 }, { ifRevision: r1 });
    expect(stale.err).toEqual({
      code: 'FAILED_PRECONDITION',
      message: `Revision mismatch: u is at revision ${after.revision}`,
      revision: after.revision,
      hasRevision: true,
      isError: true,
    });
    expect(JSON.parse((await b.broker.get(ctx, 'u')).entry.json)).not.toHaveProperty('x');
  });

  it('replace with ifRevision and ttl 0 removes the lease', async () => {
    await run('register', 'r', { v: 1 }, { ttl: 60 });
    const r1 = await revisionOf('r');
    expect((await run('replace', 'r', { w: 1 }, { ifRevision: r1, ttl: 0 })).ok).toMatchObject({ w: 1 });
    const e = (await run('entry', 'r')).ok as Record<string, unknown>;
    expect(e.data).not.toHaveProperty('v');
    expect(e).not.toHaveProperty('ttl');
    expect((await b.broker.get(ctx, 'r')).ttl).toBeUndefined();
    expect((await run('replace', 'r', { w: 2 }, { ifRevision: r1 })).err).toMatchObject({ code: 'FAILED_PRECONDITION', revision: e.revision });
  });

  it('ifRevision 0 writes only an absent entry; an absent entry is at revision 0', async () => {
    expect((await run('register', 'z', { v: 1 }, { ifRevision: 0 })).ok).toMatchObject({ v: 1 });
    const rz = await revisionOf('z');
    expect((await run('register', 'z', { v: 2 }, { ifRevision: 0 })).err).toMatchObject({ code: 'FAILED_PRECONDITION', message: `Revision mismatch: z is at revision ${rz}`, revision: rz });
    expect((await run('update', 'z', { v: 3 }, { ifRevision: 0 })).err).toMatchObject({ code: 'FAILED_PRECONDITION', revision: rz });
    expect((await run('update', 'absent', { v: 1 }, { ifRevision: 7 })).err).toMatchObject({ code: 'FAILED_PRECONDITION', message: 'Revision mismatch: absent is at revision 0', revision: 0 });
    expect(b.broker.registry.has('absent')).toBe(false);
  });

  it('delete with ifRevision: refused at another revision, done at the entry\'s own', async () => {
    await run('register', 'd', { v: 1 });
    const rd = await revisionOf('d');
    expect((await run('delete', 'd', { ifRevision: rd + 100 })).err).toMatchObject({ code: 'FAILED_PRECONDITION', message: `Revision mismatch: d is at revision ${rd}`, revision: rd });
    expect(b.broker.registry.has('d')).toBe(true);
    expect((await run('delete', 'd', { ifRevision: rd })).ok).toBe(true);
    expect(b.broker.registry.has('d')).toBe(false);
    // Absent and asked to be absent: nothing to delete.
    expect((await run('delete', 'd', { ifRevision: 0 })).ok).toBe(false);
    expect((await run('delete', 'd', { ifRevision: 1 })).err).toMatchObject({ code: 'FAILED_PRECONDITION', revision: 0 });
  });

  it('invalid options are refused by core with its messages, and nothing is written', async () => {
    for (const ttl of [-1, 1.5, 86_401, 'soon', { s: 1 }, true]) {
      expect((await run('register', 'bad', { v: 1 }, { ttl })).err).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'Invalid ttl' });
    }
    for (const ifRevision of [-1, 2.5, 'x', [1]]) {
      expect((await run('update', 'bad', { v: 1 }, { ifRevision })).err).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'Invalid if_revision' });
      expect((await run('delete', 'bad', { ifRevision })).err).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'Invalid if_revision' });
    }
    expect(b.broker.registry.has('bad')).toBe(false);
    // Numeric text is what a legacy client sends; it is taken as the number.
    expect((await run('register', 'text-ttl', { v: 1 }, { ttl: '30' })).ok).toMatchObject({ v: 1 });
    expect((await b.broker.get(ctx, 'text-ttl')).ttl).toBeGreaterThanOrEqual(28);
  });

  it('keepAlive renews a lease to its full TTL; absent and lease-less entries answer undefined, as entry() does for absent ones', async () => {
    await run('register', 'k', { v: 1 }, { ttl: 3 });
    await waitFor(async () => ((await b.broker.get(ctx, 'k')).ttl ?? 3) < 3, 10_000, 50, 'the lease to count down');
    const kept = (await run('keepAlive', 'k')).ok as { ttl: number; revision: number; data: unknown };
    expect(kept).toMatchObject({ ttl: 3, revision: await revisionOf('k'), data: { v: 1 } });
    await run('register', 'plain', { v: 1 });
    expect((await run('keepAlive', 'plain')).ok).toBeNull();
    expect((await run('keepAlive', 'nothing')).ok).toBeNull();
    expect((await run('entry', 'nothing')).ok).toBeNull();
  });

  it('a lapsed lease deletes the entry: a watch from its revision sees the expire event', async () => {
    await run('register', 'brief', { v: 1 }, { ttl: 1 });
    const r = await revisionOf('brief');
    const w = (await run('watch', { name: 'brief' }, { afterRevision: r, waitSecs: 20 })).ok as { events: unknown[]; revision: number };
    expect(w.events).toEqual([{ type: 'expire', name: 'brief', revision: w.revision }]);
    expect(w.revision).toBeGreaterThan(r);
    expect((await run('get', 'brief')).ok).toBeNull();
  });

  it('calls without options behave as before: no revision on errors that are not a compare-and-swap', async () => {
    expect((await run('register', 'old', { v: 1 })).ok).toMatchObject({ v: 1, last_write_ip: '127.0.0.1' });
    expect((await run('register', 'old', { v: 2 })).err).toEqual({ code: 'ALREADY_EXISTS', message: "Entry 'old' already exists", hasRevision: false, isError: true });
    expect((await run('update', 'old', { w: 2 })).ok).toMatchObject({ v: 1, w: 2 });
    expect((await run('replace', 'old', { last_write_ip: 'x' })).err).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'Used reserved data name last_write_ip', hasRevision: false });
    expect((await run('get', 'old')).ok).toMatchObject({ v: 1, w: 2 });
    expect((await run('delete', 'old')).ok).toBe(true);
    expect((await run('delete', 'old')).ok).toBe(false);
    expect((await run('get', 42)).err).toMatchObject({ message: 'registry: name must be a string', hasRevision: false });
  });
});

describe('rh.registry.list and rh.store', () => {
  it('list: entries by prefix in name order with revisions, a page at a time', async () => {
    for (const n of ['ls/b', 'ls/a', 'ls/c', 'lt/x']) await run('register', n, { n });
    const all = (await run('list', 'ls/')).ok as { entries: Array<{ name: string; data: { n: string }; revision: number }>; nextAfter?: string };
    expect(all.entries.map((e) => e.name)).toEqual(['ls/a', 'ls/b', 'ls/c']);
    expect(all.entries[0]).toMatchObject({ name: 'ls/a', data: { n: 'ls/a', last_write_ip: '127.0.0.1' }, revision: await revisionOf('ls/a') });
    expect(all).not.toHaveProperty('nextAfter');
    const first = (await run('list', 'ls/', { limit: 2 })).ok as { entries: Array<{ name: string }>; nextAfter?: string };
    expect(first.entries.map((e) => e.name)).toEqual(['ls/a', 'ls/b']);
    expect(first.nextAfter).toBe('ls/b');
    const rest = (await run('list', 'ls/', { after: first.nextAfter })).ok as { entries: Array<{ name: string }> };
    expect(rest.entries.map((e) => e.name)).toEqual(['ls/c']);
  });

  it('store: put, get, entry, CAS, delete and list; private to its namespace and absent from the registry API', async () => {
    const put = (await store('put', 'cfg/a', { deep: [1, 'x'] })).ok as { key: string; value: unknown; revision: number };
    expect(put).toMatchObject({ key: 'cfg/a', value: { deep: [1, 'x'] }, revision: expect.any(Number) });
    expect((await store('get', 'cfg/a')).ok).toEqual({ deep: [1, 'x'] });
    await store('put', 'cfg/b', 2);
    await store('put', 'other', 'text');
    expect((await store('entry', 'cfg/b')).ok).toMatchObject({ key: 'cfg/b', value: 2 });
    expect((await store('get', 'nothing')).ok).toBeNull();
    // Compare-and-swap as in the registry.
    expect((await store('put', 'cfg/a', 1, { ifRevision: put.revision + 1000 })).err).toMatchObject({ code: 'FAILED_PRECONDITION', revision: put.revision });
    expect((await store('put', 'cfg/a', 1, { ifRevision: 0 })).err).toMatchObject({ code: 'FAILED_PRECONDITION', revision: put.revision });
    const swapped = (await store('put', 'cfg/a', 1, { ifRevision: put.revision })).ok as { revision: number; createRevision: number };
    expect(swapped.revision).toBeGreaterThan(put.revision);
    expect(swapped.createRevision).toBe(put.revision);
    const listed = (await store('list', 'cfg/')).ok as { entries: Array<{ key: string; value: unknown }> };
    expect(listed.entries.map((e) => [e.key, e.value])).toEqual([['cfg/a', 1], ['cfg/b', 2]]);
    expect(((await store('list', '', { limit: 1 })).ok as { nextAfter?: string }).nextAfter).toBe('cfg/a');
    // Another extension has its own store: it sees none of these keys, and its keys do not show here.
    expect((await runIn('other', 'get', 'cfg/a')).ok).toBeNull();
    await runIn('other', 'put', 'cfg/z', true);
    expect(((await store('list', 'cfg/')).ok as { entries: unknown[] }).entries).toHaveLength(2);
    // The registry API, from an extension or a client, sees no store key by any prefix or name.
    for (const prefix of ['', '_', '_store/', 'cfg/']) {
      expect(((await run('list', prefix)).ok as { entries: Array<{ name: string }> }).entries.filter((e) => !/^(ls|lt)\//.test(e.name) && !['a', 'u', 'r', 'z', 'k', 'plain', 'text-ttl'].includes(e.name))).toEqual([]);
      const page = await b.broker.list(ctx, prefix, '', 1000);
      expect(page.entries.filter((e) => e.entry.name.startsWith('_'))).toEqual([]);
    }
    expect((await run('get', '_store/drv/cfg/a')).err).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'Reserved name _store/drv/cfg/a' });
    // A registry watch of every name does not wake for store writes.
    const from = b.broker.registry.revision;
    await store('put', 'cfg/b', 3);
    const batch = await b.broker.waitForEvents(ctx, { prefix: '', after: from }, 0);
    expect(batch.events).toEqual([]);
    expect((await store('delete', 'cfg/b', { ifRevision: 1 })).err).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect((await store('delete', 'cfg/b')).ok).toBe(true);
    expect((await store('delete', 'cfg/b')).ok).toBe(false);
    expect((await store('put', '', 1)).err).toMatchObject({ code: 'INVALID_ARGUMENT', message: 'Store key must be a non-empty string' });
  });
});
