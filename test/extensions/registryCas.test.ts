import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessBroker, waitFor, type InProcessBroker } from './harness.js';

/**
 * `Run` calls one `rh.registry` method with the arguments the test sends (JSON) and answers what it resolved
 * with, or what it rejected with: code, message, revision, and whether the `revision` member is there at all.
 */
const DRIVER = `export async function Run(rh) {
  const args = JSON.parse(rh.qs.args);
  try {
    const ok = await rh.registry[rh.qs.op](...args);
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
const revisionOf = async (name: string): Promise<number> => ((await run('entry', name)).ok as { revision: number }).revision;
const ctx = { clientIp: '127.0.0.1' };

beforeAll(async () => {
  b = await inProcessBroker({ 'drv.mjs': DRIVER }, { drv: {} });
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
