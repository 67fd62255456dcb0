import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { defaultSections } from '../../src/config/schema.js';
import { Broker } from '../../src/core/Broker.js';
import { Registry } from '../../src/store/embedded/Registry.js';
import { EmbeddedStore } from '../../src/store/embedded/EmbeddedStore.js';
import { apiSettings } from '../../src/server/settings.js';
import { removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { startConfigured } from './raw.js';
import { report, runs } from './soak.js';

/** A JSON object of `n` members `{"u0":0,"u1":1,...}` (about 13 bytes a member), or with padded string values. */
const wide = (n: number, pad?: string): string => `{${Array.from({ length: n }, (_, i) => `"u${i}":${pad === undefined ? i : `"${pad}${i}"`}`).join(',')}}`;

/** An HTTPS request whose answer is not read beyond its status (the writers below must not load the test process). */
function statusOf(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent: writerAgent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}
const writerAgent = new Agent({ keepAlive: true, rejectUnauthorized: false });

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** CPU seconds the process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('members per entry (api.max_entry_members)', () => {
  let b: RunningBroker;
  let client: BrokerGrpcClient;
  beforeAll(async () => {
    b = await startConfigured({ api: { max_entry_members: 10 } });
    client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
  });
  afterAll(async () => {
    client.close();
    await b.stop();
    removeDir(b.home);
  });

  it('refuses an entry wider than the limit, on Register, Replace and Update, and changes nothing', async () => {
    const refused = await call(b.port, `/services/Register/?${qs({ name: 'w', data: wide(11) })}`);
    expect(refused).toMatchObject({ status: 413, reason: 'Entry has too many members: at most 10' });
    expect(refused.json).toEqual({ success: false, message: 'Entry has too many members: at most 10', data: {} });
    expect((await call(b.port, `/services/Register/?${qs({ name: 'w', data: wide(10) })}`)).json.success).toBe(true);
    // Replacing a member keeps the count; adding one goes over.
    expect((await call(b.port, `/services/Update/?${qs({ name: 'w', data: '{"u3": "new"}' })}`)).json.success).toBe(true);
    expect((await call(b.port, `/services/Update/?${qs({ name: 'w', data: '{"eleventh": 1}' })}`)).status).toBe(413);
    await expect(client.update('w', '{"eleventh": 1}')).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    await expect(client.replace('w', wide(11))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    const kept = JSON.parse((await client.get('w')).json) as Record<string, string>;
    expect(Object.keys(kept)).toHaveLength(10);
    expect(kept.u3).toBe('new');
  });

  it('refuses the 60,000-member entry of the report at the default limit', async () => {
    const d = await startBroker();
    const c = connect(`127.0.0.1:${d.port}`, { insecureSkipVerify: true });
    try {
      const body = JSON.stringify({ name: 'wide', data: wide(60_000) });
      expect(body.length).toBeLessThan(1024 * 1024);
      const r = await call(d.port, '/services/Replace/', { body, headers: { 'Content-Type': 'application/json' } });
      expect(r).toMatchObject({ status: 413, reason: 'Entry has too many members: at most 10000' });
      await expect(c.replace('wide', wide(60_000))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'Entry has too many members: at most 10000' });
    } finally {
      c.close();
      await d.stop();
      removeDir(d.home);
    }
  });
});

describe('updates of a wide entry', () => {
  it('journal the members they change, not the entry', async () => {
    const dir = tempDir('bpbroker-patch-');
    const sections = defaultSections();
    const registry = await Registry.open({ journalDir: dir, snapshot: { revision: 0, entries: [] } });
    try {
      const broker = new Broker(new EmbeddedStore(registry), sections, apiSettings(sections));
      const ctx = { clientIp: '10.0.0.1' };
      await broker.replace(ctx, 'wide', wide(5000, 'padding-'));
      const before = dirBytes(dir);
      expect(before).toBeGreaterThan(5000 * 15);
      for (let i = 0; i < 100; i++) await broker.update(ctx, 'wide', `{"u${i}": ${i}.0}`);
      // 100 one-member updates of a ~100 KB entry: a few KB of journal, not 10 MB.
      expect(dirBytes(dir) - before).toBeLessThan(100 * 200);
      await registry.close();
      // Replaying the journal rebuilds the same entry.
      const reopened = await Registry.open({ journalDir: dir, snapshot: { revision: 0, entries: [] } });
      expect(reopened.peek('wide')?.json).toBe(registry.peek('wide')?.json);
      expect(JSON.parse(reopened.peek('wide')!.json).u99).toBe(99);
      expect(reopened.peek('wide')!.json).toContain('"u99":99.0');
      await reopened.close();
    } finally {
      removeDir(dir);
    }
  });

  it('do not stall other clients: 16 clients updating a 10,000-member entry while pings are timed', { timeout: 60_000 }, async () => {
    const b = await startBroker();
    const c = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
    try {
      await c.replace('wide', wide(10_000, 'x'.repeat(40)));
      let running = true;
      let updates = 0;
      const writers = Array.from({ length: 16 }, async (_, w) => {
        for (let n = 0; running; n++) {
          expect(await statusOf(b.port, `/services/Update/?${qs({ name: 'wide', data: `{"u${w}": ${n}}` })}`)).toBe(200);
          updates++;
        }
      });
      const pings: number[] = [];
      const until = Date.now() + runs(3_000, 30_000);
      while (Date.now() < until) {
        const t = performance.now();
        expect((await call(b.port, '/ping/Ping/?data=1')).status).toBe(200);
        pings.push(performance.now() - t);
      }
      running = false;
      await Promise.all(writers);
      pings.sort((x, y) => x - y);
      const p50 = pings[Math.floor(pings.length / 2)]!;
      const worst = pings.at(-1)!;
      console.log(`wide-entry updates: ${updates} updates; ping p50 ${p50.toFixed(1)} ms, worst ${worst.toFixed(1)} ms over ${pings.length} pings`);
      report({ suite: 'wide-entry-updates', worstPingMs: Math.round(worst) });
      // Liveness, not speed (the figure is reported): the report saw a 1.9 s median.
      expect(p50).toBeLessThan(500);
      expect(updates).toBeGreaterThan(16);
    } finally {
      c.close();
      await b.stop();
      removeDir(b.home);
    }
  });
});

describe('registry size budget (api.max_registry_bytes)', () => {
  it('answers 507 / RESOURCE_EXHAUSTED Registry full past the budget, and lets the registry shrink', async () => {
    const b = await startConfigured({ api: { max_registry_bytes: 4096 } });
    const client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
    try {
      const data = JSON.stringify({ pad: 'p'.repeat(400) });
      let stored = 0;
      for (;;) {
        const r = await call(b.port, `/services/Register/?${qs({ name: `e${stored}`, data })}`);
        if (r.status !== 200) {
          expect(r).toMatchObject({ status: 507, reason: 'Registry full', json: { success: false, message: 'Registry full', data: {} } });
          break;
        }
        stored++;
      }
      expect(stored).toBeGreaterThan(4);
      expect(stored).toBeLessThan(10);
      await expect(client.register('g', data)).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'Registry full' });
      // Reads go on; a write that does not grow the registry goes through; a delete makes room.
      expect((await call(b.port, '/services/Get/?name=e0')).json.success).toBe(true);
      expect((await call(b.port, `/services/Replace/?${qs({ name: 'e0', data: '{"small": 1}' })}`)).json.success).toBe(true);
      expect((await call(b.port, '/services/Delete/?name=e1')).json.success).toBe(true);
      expect((await call(b.port, `/services/Register/?${qs({ name: 'again', data })}`)).json.success).toBe(true);
    } finally {
      client.close();
      await b.stop();
      removeDir(b.home);
    }
  });
});

describe('List', () => {
  it('ends a page before api.max_page_bytes and continues it with next_page_token', async () => {
    const b = await startBroker();
    const client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
    try {
      const data = JSON.stringify({ pad: 'p'.repeat(400_000) });
      for (let i = 0; i < 5; i++) await client.register(`big-${i}`, data);
      await client.register('other', '{}');
      const first = await client.list('big-', { pageSize: 1000 });
      expect(first.entries.map((e) => e.name)).toEqual(['big-0', 'big-1']);
      const names: string[] = [];
      let token = '';
      do {
        const page = await client.list('big-', { pageSize: 1000, pageToken: token });
        expect(page.entries.reduce((n, e) => n + e.json.length, 0)).toBeLessThanOrEqual(1024 * 1024);
        names.push(...page.entries.map((e) => e.name));
        token = page.nextPageToken;
      } while (token);
      expect(names).toEqual(['big-0', 'big-1', 'big-2', 'big-3', 'big-4']);
    } finally {
      client.close();
      await b.stop();
      removeDir(b.home);
    }
  });

  it('pages through 100,000 entries without sorting them on each call', { timeout: 120_000 }, async () => {
    const home = tempDir('bpbroker-list-');
    mkdirSync(join(home, 'etc'));
    const lines = Array.from({ length: 100_000 }, (_, i) => `"seed-${String(i).padStart(7, '0')}":{"port":${i},"last_write_ip":"10.0.0.1","last_write_ts":1700000000}`);
    writeFileSync(join(home, 'etc', 'bpbroker.json'), `{"services":{${lines.join(',\n')}}}\n`);
    const b = await startBroker({ home });
    const client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
    try {
      const page = await client.list('seed-00500', { pageSize: 3 });
      expect(page.entries.map((e) => e.name)).toEqual(['seed-0050000', 'seed-0050001', 'seed-0050002']);
      const calls = 2000;
      const cpuBefore = cpuSeconds(b.proc.pid!);
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let i = 0; i < calls / 8; i++) expect((await client.list('no-such-prefix', { pageSize: 1 })).entries).toEqual([]);
      }));
      const perCall = ((cpuSeconds(b.proc.pid!) - cpuBefore) / calls) * 1000;
      console.log(`List of a prefix matching nothing among 100,000 entries: ${perCall.toFixed(3)} ms of broker CPU per call`);
      // A sort of 100,000 names took about 18 ms a call; an index lookup takes well under one.
      expect(perCall).toBeLessThan(3);
    } finally {
      client.close();
      await b.stop();
      removeDir(home);
    }
  });
});
