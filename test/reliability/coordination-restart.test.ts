import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { discoveryReplies } from '../helpers/udp.js';
import { waitFor } from '../helpers/wait.js';
import { report, runs } from './soak.js';

/**
 * Watches and leases across broker restarts, clean (SIGTERM) and not (SIGKILL): a watcher resuming by revision
 * sees every change once, in order; leases get a full TTL from start-up and then run out on time.
 *
 * The watch cases have a home and brokers of their own and mostly wait for restarts: they run at once. The lease
 * cases run alone after them: a lease's TTL counts from start-up, so a start slowed by other brokers shortens
 * what the test sees of it.
 */
const svc = async (port: number, method: string, params: Record<string, string>) => (await call(port, `/services/${method}/?${qs(params)}`)).json;

describe.concurrent('watch across restarts', () => {
  const writes = runs(60, 600);
  it(`a watcher resuming by revision sees each of ${writes} numbered writes once, in order, across SIGTERM and SIGKILL restarts`, { timeout: 180_000 }, async () => {
    const home = tempDir('bpbroker-watch-restart-');
    let b: RunningBroker = await startBroker({ home });
    let port = b.port;
    let running = true;
    try {
      const start = (await svc(port, 'Register', { name: 'counter', data: '{"n": 0}' })).revision as number;
      // The watcher: long-polls from its last revision, and retries while the broker is away.
      const seen: number[] = [];
      let cursor = start;
      const watcher = (async () => {
        while (running || seen.at(-1) !== writes) {
          try {
            const r = await svc(port, 'Watch', { name: 'counter', revision: String(cursor), wait: '2' });
            for (const e of r.events as Array<{ data: { n: number } }>) seen.push(e.data.n);
            cursor = r.revision;
          } catch {
            await new Promise((r) => setTimeout(r, 50)); // the broker is restarting: poll again shortly
          }
        }
      })();
      // The writer: n = 1..writes, each exactly once (compare-and-swap makes a retry after a lost answer safe).
      let revision = start;
      const restarts: Array<{ at: number; signal: NodeJS.Signals }> = [
        { at: Math.floor(writes / 3), signal: 'SIGTERM' },
        { at: Math.floor((2 * writes) / 3), signal: 'SIGKILL' },
      ];
      for (let n = 1; n <= writes; n++) {
        const restart = restarts.find((r) => r.at === n);
        if (restart) {
          await b.stop(restart.signal);
          b = await startBroker({ home });
          port = b.port;
        }
        for (;;) {
          try {
            const r = await svc(port, 'Update', { name: 'counter', data: JSON.stringify({ n }), if_revision: String(revision) });
            if (r.success) {
              revision = r.revision;
              break;
            }
            // Another revision: the write landed before its answer was lost, or not at all.
            const now = await svc(port, 'Get', { name: 'counter' });
            revision = now.revision;
            if (now.data.n === n) break;
          } catch {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
      running = false;
      await waitFor(() => seen.at(-1) === writes, 30_000, 20, 'the watcher to see the last write');
      await watcher;
      expect(seen).toEqual(Array.from({ length: writes }, (_, i) => i + 1));
      report({ suite: 'watch-restart', acknowledged: writes, lost: writes - new Set(seen).size });
    } finally {
      running = false;
      await b.stop();
      removeDir(home);
    }
  });

  it('keeps the history across a restart: a watch from before it replays what came after', async () => {
    const home = tempDir('bpbroker-history-');
    let b = await startBroker({ home });
    try {
      const first = (await svc(b.port, 'Register', { name: 'h', data: '{"v": 1}' })).revision as number;
      await svc(b.port, 'Update', { name: 'h', data: '{"v": 2}' });
      await svc(b.port, 'Delete', { name: 'h' });
      await b.stop('SIGTERM');
      b = await startBroker({ home });
      await svc(b.port, 'Register', { name: 'h', data: '{"v": 3}' });
      const r = await svc(b.port, 'Watch', { name: 'h', revision: String(first - 1), wait: '0' });
      expect(r.events.map((e: { type: string; data?: { v: number } }) => `${e.type}${e.data ? e.data.v : ''}`)).toEqual(['put1', 'put2', 'delete', 'put3']);
    } finally {
      await b.stop();
      removeDir(home);
    }
  });
});

describe('leases across restarts', () => {
  it('a live lease gets a full TTL from start-up, then runs out on time; discovery stops answering', { timeout: 60_000 }, async () => {
    const home = tempDir('bpbroker-lease-restart-');
    let b = await startBroker({ home });
    try {
      await svc(b.port, 'Register', { name: 'anchor', data: '{}' });
      expect((await svc(b.port, 'Register', { name: 'node-1', data: '{}', ttl: '3' })).ttl).toBe(3);
      await b.stop('SIGKILL');
      // Longer than the TTL with no broker to renew it with: it must not count against the node.
      await new Promise((r) => setTimeout(r, 3500)); // the outage under test
      b = await startBroker({ home });
      const startedAt = Date.now();
      const alive = await svc(b.port, 'Get', { name: 'node-1' });
      expect(alive.success).toBe(true);
      expect(alive.ttl).toBeGreaterThanOrEqual(2);
      expect((await discoveryReplies(b.port, 'node-1\n', 'anchor')).length).toBe(1);
      await waitFor(async () => (await svc(b.port, 'Get', { name: 'node-1' })).success === false, 10_000, 20, 'the lease to run out');
      const goneAfter = Date.now() - startedAt;
      expect(goneAfter).toBeGreaterThanOrEqual(2000);
      expect(goneAfter).toBeLessThan(4000 + 1000);
      expect((await discoveryReplies(b.port, 'node-1\n', 'anchor')).length).toBe(0);
      // The expiry is durable.
      await b.stop('SIGKILL');
      b = await startBroker({ home });
      expect((await svc(b.port, 'Get', { name: 'node-1' })).success).toBe(false);
    } finally {
      await b.stop();
      removeDir(home);
    }
  });

  it('expires at start a lease that had run out when the file was written, and keeps the others', async () => {
    const home = tempDir('bpbroker-lapsed-');
    mkdirSync(join(home, 'etc'));
    const stamps = '"last_write_ip": "10.0.0.1", "last_write_ts": 1700000000';
    writeFileSync(
      join(home, 'etc', 'bpbroker.json'),
      JSON.stringify({
        services: { gone: JSON.parse(`{"a": 1, ${stamps}}`), kept: JSON.parse(`{"b": 2, ${stamps}}`) },
        _registry: { revision: 2, revisions: { gone: [1, 1, 30], kept: [2, 2, 30] }, lapsed: ['gone'] },
      }),
    );
    const b = await startBroker({ home });
    try {
      await waitFor(async () => (await svc(b.port, 'Get', { name: 'gone' })).success === false, 5000, 20, 'the lapsed lease to expire');
      expect((await svc(b.port, 'Get', { name: 'kept' })).ttl).toBeGreaterThan(25);
      const r = await svc(b.port, 'Watch', { name: 'gone', revision: '2', wait: '0' });
      expect(r.events).toEqual([{ type: 'expire', name: 'gone', revision: 3 }]);
    } finally {
      await b.stop();
      removeDir(home);
    }
  });
});
