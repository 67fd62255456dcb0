import { afterEach, describe, expect, it } from 'vitest';
import { inProcessBroker, outcome, waitFor, type InProcessBroker } from './harness.js';

const WATCHER = `export async function Watch(rh) {
  const started = Date.now();
  const filter = rh.qs.name !== undefined ? { name: rh.qs.name } : { prefix: rh.qs.prefix };
  const opts = JSON.parse(rh.qs.opts ?? '{}');
  try {
    const r = await rh.registry.watch(filter, opts);
    return { ...r, tookMs: Date.now() - started };
  } catch (e) {
    return { err: { code: e.code, message: e.message } };
  }
}
// Starts a watch and answers without waiting for it.
export function Forget(rh) {
  rh.registry.watch({ name: 'forgotten' }, { waitSecs: 300 }).catch(() => undefined);
  return 'answered';
}
// Starts a watch, then never answers: the call runs into its time limit.
export async function Hang(rh) {
  rh.registry.watch({ name: 'hung' }, { waitSecs: 300 }).catch(() => undefined);
  await new Promise(() => undefined);
}
export function Exit() { process.exit(3); }
// More watches than one call may hold: the first answer is the one refused.
export async function Many(rh) {
  const all = Array.from({ length: 101 }, () => rh.registry.watch({ name: 'many' }, { waitSecs: 60 }).then(() => 'ok', (e) => e.code + ' ' + e.message));
  return Promise.race(all);
}
// A watch from a timer after the call answered is refused; the outcome goes to the log.
export function Late(rh) {
  setTimeout(() => rh.registry.watch({ name: 'late' }).then(() => rh.log.info('late watch ran'), (e) => rh.log.info('late watch refused', { code: e.code, message: e.message })), 20);
  return 'answered';
}
`;

interface Batch {
  events: Array<{ type: string; name: string; revision: number; data?: Record<string, unknown> }>;
  revision: number;
  tookMs: number;
  err?: { code: string; message: string };
}

let b: InProcessBroker | undefined;
afterEach(async () => {
  await b?.close();
  b = undefined;
});

const ctx = { clientIp: '10.1.2.3' };
async function watch(params: Record<string, string>, opts: Record<string, unknown> = {}): Promise<Batch> {
  const r = await b!.call('w', 'Watch', { ...params, opts: JSON.stringify(opts) });
  return JSON.parse(r.body) as Batch;
}

describe('rh.registry.watch', () => {
  it('returns as soon as a change arrives, with the event and the revision to continue from', async () => {
    b = await inProcessBroker({ 'w.mjs': WATCHER }, { w: {} });
    const pending = watch({ name: 'svc' }, { waitSecs: 60 });
    await waitFor(() => b!.host.openWatches === 1 && b!.watchersWaiting() === 1, 10_000, 10, 'the watch to wait in core');
    const writing = performance.now();
    const written = await b.broker.update(ctx, 'svc', '{"up":true}');
    const r = await pending;
    // Printed, not asserted: from the write to the method's answer depends on the machine's load.
    console.log(`watch answered ${Math.round(performance.now() - writing)} ms after the write began`);
    expect(r.events).toEqual([{ type: 'put', name: 'svc', revision: written.entry.modRevision, data: JSON.parse(written.entry.json) }]);
    expect(r.revision).toBe(written.entry.modRevision);
    // Far below the 60 s it was allowed, whatever the machine's load.
    expect(r.tookMs).toBeLessThan(20_000);
    expect(b.host.openWatches).toBe(0);
    expect(b.watchersWaiting()).toBe(0);
  });

  it('from afterRevision: the history at once, in order, for a prefix (delete and expire without data)', async () => {
    b = await inProcessBroker({ 'w.mjs': WATCHER }, { w: {} });
    const start = b.broker.registry.revision;
    await b.broker.register(ctx, 'p/a', '{"n":1}');
    await b.broker.register(ctx, 'other', '{"n":2}');
    await b.broker.update(ctx, 'p/b', '{"n":3}');
    await b.broker.delete(ctx, 'p/a');
    const r = await watch({ prefix: 'p/' }, { afterRevision: start, waitSecs: 60 });
    expect(r.events.map((e) => [e.type, e.name, 'data' in e])).toEqual([
      ['put', 'p/a', true],
      ['put', 'p/b', true],
      ['delete', 'p/a', false],
    ]);
    const revs = r.events.map((e) => e.revision);
    expect(revs).toEqual([...revs].sort((x, y) => x - y));
    expect(r.revision).toBe(b.broker.registry.revision);
    expect(r.events[1]!.data).toMatchObject({ n: 3, last_write_ip: '10.1.2.3' });
    // Continuing from the answer's revision: nothing new, so the wait ends empty.
    expect((await watch({ prefix: 'p/' }, { afterRevision: r.revision, waitSecs: 0 })).events).toEqual([]);
  });

  it('times out with no events and the newest revision', async () => {
    b = await inProcessBroker({ 'w.mjs': WATCHER }, { w: {} });
    await b.broker.register(ctx, 'elsewhere', '{}');
    const r = await watch({ name: 'quiet' }, { waitSecs: 0.5 });
    expect(r.events).toEqual([]);
    expect(r.revision).toBe(b.broker.registry.revision);
    expect(r.tookMs).toBeGreaterThanOrEqual(450);
    expect(b.watchersWaiting()).toBe(0);
  });

  it("never waits past its call's time limit: the method still answers", async () => {
    b = await inProcessBroker({ 'w.mjs': WATCHER }, { w: { _timeout_secs: 2 } });
    const t = Date.now();
    const res = await b.call('w', 'Watch', { name: 'quiet', opts: JSON.stringify({ waitSecs: 300 }) });
    expect(res.status).toBe(200);
    const r = JSON.parse(res.body) as Batch;
    expect(r.events).toEqual([]);
    // It ends a tenth of the 2 s limit early (at 1.8 s), so the method has time to answer.
    expect(r.tookMs).toBeGreaterThanOrEqual(1500);
    expect(Date.now() - t).toBeLessThan(2000 + 1000);
  });

  it('refuses bad filters and options with core messages; a compacted start revision is OUT_OF_RANGE', async () => {
    b = await inProcessBroker({ 'w.mjs': WATCHER }, { w: {} }, {}, { history: { maxRevisions: 5 } });
    for (let i = 0; i < 12; i++) await b.broker.update(ctx, `fill${i}`, '{}');
    expect((await watch({}, {})).err).toEqual({ code: 'INVALID_ARGUMENT', message: 'Missing name or prefix parameter' });
    expect((await watch({ name: 'x' }, { afterRevision: -1 })).err).toEqual({ code: 'INVALID_ARGUMENT', message: 'Invalid revision' });
    expect((await watch({ name: 'x' }, { waitSecs: 'soon' })).err).toEqual({ code: 'INVALID_ARGUMENT', message: 'Invalid wait' });
    const oldest = b.oldestWatchable();
    expect((await watch({ name: 'x' }, { afterRevision: 1 })).err).toEqual({
      code: 'OUT_OF_RANGE',
      message: `Revision 1 compacted: oldest available is ${oldest}; read the current state with List and watch from its revision`,
    });
  });

  it('is closed when its call answers without waiting for it', async () => {
    b = await inProcessBroker({ 'w.mjs': WATCHER }, { w: {} });
    expect((await b.call('w', 'Forget')).body).toBe('answered');
    // It asked for 300 s and its call allows 29: it is closed long before either.
    await waitFor(() => b!.host.openWatches === 0 && b!.watchersWaiting() === 0, 10_000, 10, 'the forgotten watch to close');
  });

  it('is closed when its call times out; the next call gets a fresh worker', async () => {
    b = await inProcessBroker({ 'w.mjs': WATCHER }, { w: { _timeout_secs: 3 } });
    const hung = outcome(b.call('w', 'Hang'));
    await waitFor(() => b!.watchersWaiting() === 1, 10_000, 10, 'the watch to wait in core');
    expect(await hung).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    expect(b.host.openWatches).toBe(0);
    expect(b.watchersWaiting()).toBe(0);
    expect((await b.call('w', 'Forget')).body).toBe('answered');
  });

  it('is closed when its worker stops', async () => {
    b = await inProcessBroker({ 'w.mjs': WATCHER }, { w: {} });
    const waiting = outcome(watch({ name: 'never' }, { waitSecs: 300 }));
    await waitFor(() => b!.watchersWaiting() === 1, 10_000, 10, 'the watch to wait in core');
    const t = Date.now();
    await outcome(b.call('w', 'Exit'));
    expect(await waiting).toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('exited') });
    expect(b.host.openWatches).toBe(0);
    expect(b.watchersWaiting()).toBe(0);
    expect(Date.now() - t).toBeLessThan(20_000);
  });

  it('one call holds at most 100 watches; a watch after its call answered is refused', async () => {
    b = await inProcessBroker({ 'w.mjs': WATCHER }, { w: {} });
    expect((await b.call('w', 'Many')).body).toBe('RESOURCE_EXHAUSTED Too many watches in one call: at most 100 at once');
    await waitFor(() => b!.watchersWaiting() === 0, 10_000, 10, 'the 100 watches to close with their call');
    expect((await b.call('w', 'Late')).body).toBe('answered');
    await waitFor(() => b!.logs.some((l) => l.includes('late watch refused')), 10_000, 10, 'the late watch to be refused');
    expect(b.logs.find((l) => l.includes('late watch'))).toContain('DEADLINE_EXCEEDED');
    expect(b.watchersWaiting()).toBe(0);
  });
});
