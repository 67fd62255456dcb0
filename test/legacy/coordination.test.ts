import { Agent, request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { removeDir, startBroker, type RunningBroker } from '../helpers/broker.js';
import { call, qs, type Reply } from '../helpers/https.js';
import { discoveryReplies } from '../helpers/udp.js';
import { waitFor } from '../helpers/wait.js';

/** Compare-and-swap, leases and the long-poll Watch of the legacy API, on a real broker. */
let b: RunningBroker;
let client: BrokerGrpcClient;
beforeAll(async () => {
  b = await startBroker();
  client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
});
afterAll(async () => {
  client.close();
  await b.stop();
  removeDir(b.home);
});

const svc = (method: string, params: Record<string, string>, agent?: Agent): Promise<Reply> => call(b.port, `/services/${method}/?${qs(params)}`, agent ? { agent } : {});

describe('revisions and compare-and-swap', () => {
  it('answers writes and reads with the entry revision, beside success, message and data', async () => {
    const reg = await svc('Register', { name: 'rev', data: '{"a": 1}' });
    expect(Object.keys(reg.json)).toEqual(['success', 'message', 'data', 'revision']);
    expect(reg.json.revision).toBeGreaterThan(0);
    const upd = await svc('Update', { name: 'rev', data: '{"b": 2}' });
    expect(upd.json.revision).toBeGreaterThan(reg.json.revision);
    expect((await svc('Get', { name: 'rev' })).json.revision).toBe(upd.json.revision);
    expect((await client.get('rev')).modRevision).toBe(upd.json.revision);
  });

  it('writes only at the expected revision; 409 with the current one otherwise', async () => {
    const { revision } = (await svc('Register', { name: 'cas', data: '{"v": 1}' })).json;
    const stale = await svc('Replace', { name: 'cas', data: '{"v": 2}', if_revision: String(revision + 100) });
    expect(stale.status).toBe(409);
    expect(stale.reason).toBe(`Revision mismatch: cas is at revision ${revision}`);
    expect(stale.json).toEqual({ success: false, message: `Revision mismatch: cas is at revision ${revision}`, data: {}, revision });
    const ok = await svc('Update', { name: 'cas', data: '{"v": 3}', if_revision: String(revision) });
    expect(ok.json.success).toBe(true);
    expect((await svc('Delete', { name: 'cas', if_revision: String(revision) })).status).toBe(409);
    expect((await svc('Delete', { name: 'cas', if_revision: String(ok.json.revision) })).json).toEqual({ success: true, message: 'Success' });
    // 0: only if absent.
    expect((await svc('Replace', { name: 'cas', data: '{"v": 4}', if_revision: '0' })).json.success).toBe(true);
    const taken = await svc('Replace', { name: 'cas', data: '{"v": 5}', if_revision: '0' });
    expect(taken.status).toBe(409);
    expect((await svc('Delete', { name: 'never-there', if_revision: '7' })).json).toMatchObject({ success: false, revision: 0, message: 'Revision mismatch: never-there is at revision 0' });
    for (const bad of ['x', '-1', '1.5', '', ' 1']) {
      expect(await svc('Update', { name: 'cas', data: '{}', if_revision: bad }), bad).toMatchObject({ status: 400, reason: 'Invalid if_revision' });
    }
  });

  it('gives exactly one winner to 100 concurrent writers at the same revision, round after round', { timeout: 120_000 }, async () => {
    // Each writer on its own connection, so the 100 requests are in flight together.
    const agents = Array.from({ length: 100 }, () => new Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: 1 }));
    try {
      let revision = 0;
      for (let round = 0; round < 20; round++) {
        const answers = await Promise.all(agents.map((agent, w) => svc('Replace', { name: 'leader', data: JSON.stringify({ w, round }), if_revision: String(revision) }, agent)));
        const winners = answers.filter((a) => a.status === 200);
        expect(winners.length, `round ${round}`).toBe(1);
        expect(answers.filter((a) => a.status === 409).length).toBe(99);
        const stored = (await svc('Get', { name: 'leader' })).json;
        expect(stored.data.w).toBe(winners[0]!.json.data.w);
        revision = stored.revision;
      }
    } finally {
      for (const a of agents) a.destroy();
    }
  });
});

describe('leases', () => {
  it('shows the seconds left, keeps the lease on writes without ttl, removes it with ttl=0', async () => {
    const reg = await svc('Register', { name: 'leased', data: '{}', ttl: '30' });
    expect(reg.json.ttl).toBe(30);
    expect((await svc('Get', { name: 'leased' })).json.ttl).toBeLessThanOrEqual(30);
    expect((await svc('Update', { name: 'leased', data: '{"x": 1}' })).json.ttl).toBeGreaterThan(0);
    expect((await svc('Replace', { name: 'leased', data: '{"y": 1}' })).json.ttl).toBeGreaterThan(0);
    const kept = await svc('KeepAlive', { name: 'leased' });
    expect(kept.json).toMatchObject({ success: true, ttl: 30, data: { y: 1 } });
    expect(kept.json.revision).toBe((await svc('Get', { name: 'leased' })).json.revision);
    const unleased = await svc('Update', { name: 'leased', data: '{}', ttl: '0' });
    expect(unleased.json.ttl).toBeUndefined();
    expect((await svc('KeepAlive', { name: 'leased' })).json).toEqual({ success: false, message: "Entry 'leased' not found", data: {} });
    expect((await svc('KeepAlive', { name: 'absent' })).json).toEqual({ success: false, message: "Entry 'absent' not found", data: {} });
    for (const bad of ['-1', '86401', 'x', '2.5']) {
      expect(await svc('Register', { name: 'badttl', data: '{}', ttl: bad }), bad).toMatchObject({ status: 400, reason: 'Invalid ttl' });
    }
    expect((await svc('Register', { name: 'day', data: '{}', ttl: '86400' })).json.ttl).toBe(86400);
  });

  it('deletes an entry whose lease runs out, on time, as an expire event; discovery stops answering', async () => {
    await svc('Register', { name: 'known', data: '{}' });
    const start = (await svc('Register', { name: 'short', data: '{}', ttl: '2' })).json.revision;
    const t0 = Date.now();
    expect((await discoveryReplies(b.port, 'short\n', 'known')).length).toBe(1);
    // Renewed once after a second: it lives two seconds from then.
    await waitFor(() => Date.now() - t0 >= 1000, 5000);
    expect((await svc('KeepAlive', { name: 'short' })).json.ttl).toBe(2);
    const renewedAt = Date.now();
    const watch = await svc('Watch', { name: 'short', revision: String(start), wait: '10' });
    const goneAfter = Date.now() - renewedAt;
    expect(watch.json.events).toEqual([{ type: 'expire', name: 'short', revision: watch.json.revision }]);
    // Not earlier than its TTL after the last renewal, and on time (the spec's ±1 s).
    expect(goneAfter).toBeGreaterThanOrEqual(1900);
    expect(goneAfter).toBeLessThan(3000 + 1000);
    expect((await svc('Get', { name: 'short' })).json.success).toBe(false);
    expect((await discoveryReplies(b.port, 'short\n', 'known')).length).toBe(0);
  });
});

describe('Watch (long-poll)', () => {
  it('answers at once with the events after a revision, in order, and data only for puts', async () => {
    const first = (await svc('Register', { name: 'w/a', data: '{"n": 1.0}' })).json.revision;
    await svc('Update', { name: 'w/a', data: '{"n": 2}' });
    await svc('Register', { name: 'w/b', data: 'text' });
    await svc('Delete', { name: 'w/a' });
    await svc('Register', { name: 'other', data: '{}' });
    const r = await svc('Watch', { prefix: 'w/', revision: String(first - 1) });
    expect(r.json.success).toBe(true);
    expect(r.json.events.map((e: { type: string; name: string }) => `${e.type} ${e.name}`)).toEqual(['put w/a', 'put w/a', 'put w/b', 'delete w/a']);
    expect(r.json.events[0].revision).toBe(first);
    expect(r.text).toContain('"data":{"n":1.0,');
    expect(r.json.events[3].data).toBeUndefined();
    const revs = r.json.events.map((e: { revision: number }) => e.revision);
    expect([...revs].sort((x, y) => x - y)).toEqual(revs);
    expect(r.json.revision).toBeGreaterThanOrEqual(revs.at(-1));
    // Nothing after that for the prefix: an answer after the wait, with no events.
    expect((await svc('Watch', { prefix: 'w/', revision: String(r.json.revision), wait: '0' })).json.events).toEqual([]);
  });

  it('waits for the next change by default (only future changes) and answers as soon as it comes', async () => {
    await svc('Register', { name: 'future', data: '{}' });
    const waiting = svc('Watch', { name: 'future', wait: '20' });
    await waitFor(async () => (await svc('Update', { name: 'future', data: '{"x": 1}' })).json.success === true, 2000);
    const t = Date.now();
    const r = await waiting;
    expect(Date.now() - t).toBeLessThan(5000);
    expect(r.json.events.length).toBeGreaterThanOrEqual(1);
    expect(r.json.events.every((e: { name: string; type: string }) => e.name === 'future' && e.type === 'put')).toBe(true);
  });

  it('answers bad parameters with 400 and a clear message', async () => {
    expect(await svc('Watch', {})).toMatchObject({ status: 400, reason: 'Missing name or prefix parameter' });
    expect(await svc('Watch', { name: 'x', revision: 'abc' })).toMatchObject({ status: 400, reason: 'Invalid revision' });
    expect(await svc('Watch', { name: 'x', wait: '-1' })).toMatchObject({ status: 400, reason: 'Invalid wait' });
    expect(await svc('Watch', { name: '_access_key' })).toMatchObject({ status: 400, reason: 'Reserved name _access_key' });
  });

  it('frees a long-poll whose client goes away', async () => {
    const agent = new Agent({ keepAlive: false, rejectUnauthorized: false });
    const req = request({ host: '127.0.0.1', port: b.port, path: `/services/Watch/?${qs({ name: 'nobody', wait: '300' })}`, method: 'GET', agent });
    req.on('error', () => {});
    req.end();
    await new Promise((r) => req.once('socket', r));
    req.destroy();
    // The broker keeps answering; and a later watch of the same name works.
    expect((await svc('Watch', { name: 'nobody', wait: '0' })).json.success).toBe(true);
  });
});
