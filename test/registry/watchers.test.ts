/**
 * The watch hub on a real registry (journal and history on disk): watchers of names and of prefixes, waiting
 * while bursts of writes to other names go by, each get exactly their events, in order, none missing or
 * repeated. A watcher woken skips what it has not followed without rereading it; this checks that it never
 * skips what it follows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { WatchFilter } from '../../src/core/Entry.js';
import { Registry } from '../../src/store/embedded/Registry.js';
import { waitFor } from '../helpers/wait.js';

/** A small deterministic generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

it('each watcher gets exactly the events it follows, in order, across waits and bursts of other writes', { timeout: 60_000 }, async () => {
  const seed = Date.now() % 100_000;
  console.log(`watchers test seed ${seed}`);
  const rnd = random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'bpbroker-watchers-'));
  const registry = await Registry.open({ journalDir: dir, snapshot: { revision: 0, entries: [] } });
  try {
    const names = Array.from({ length: 40 }, (_, i) => `g${i % 4}/n${i}`);
    const kinds: WatchFilter[] = [...names.slice(0, 12).map((name) => ({ name })), { prefix: 'g1/' }, { prefix: 'g2/n1' }, { prefix: '' }, { prefix: 'none/' }];
    // 25 watchers of each: more than the hub wakes in one turn, so wake-ups also wait for later turns.
    const filters = Array.from({ length: 25 }, () => kinds).flat();
    const start = registry.revision;
    const seen = filters.map(() => [] as number[]);
    // Long waits: a watcher that misses a wake-up stays asleep, and the test sees it.
    const watchers = filters.map((filter) => registry.watch(filter, start));
    let done = false;
    const consumers = watchers.map(async (w, i) => {
      try {
        while (!done) {
          // Mostly long waits, some of a millisecond: one ended by its timer while its wake-up was queued
          // must still wake on the next change.
          const batch = await w.next(rnd() < 0.2 ? 1 : 60_000);
          for (const e of batch.events) seen[i]!.push(e.revision);
          // Some watchers read slowly, so that they are not always waiting when a write lands.
          if (i % 3 === 0 && rnd() < 0.3) await new Promise((r) => setTimeout(r, 1 + Math.floor(rnd() * 5)));
        }
      } finally {
        w.close();
      }
    });

    const written: Array<{ name: string; revision: number }> = [];
    for (let burst = 0; burst < 150; burst++) {
      // A burst: several writes in the same turn (one fsync, one wake-up of the hub), then a pause of 0-3 ms.
      const n = 1 + Math.floor(rnd() * 8);
      const durable: Promise<unknown>[] = [];
      for (let k = 0; k < n; k++) {
        const name = names[Math.floor(rnd() * names.length)]!;
        if (registry.has(name) && rnd() < 0.2) {
          durable.push(registry.delete(name));
          written.push({ name, revision: registry.revision });
        } else {
          const { entry, durable: d } = registry.put(name, `{"b":${burst},"k":${k}}`, '127.0.0.1', Date.now());
          durable.push(d);
          written.push({ name, revision: entry.modRevision });
        }
      }
      await Promise.all(durable);
      if (rnd() < 0.7) await new Promise((r) => setTimeout(r, Math.floor(rnd() * 4)));
    }
    const follows = (f: WatchFilter, name: string) => ('name' in f ? f.name === name : name.startsWith(f.prefix));
    const expected = filters.map((f) => written.filter((w) => follows(f, w.name)).length);
    await waitFor(() => seen.every((s, i) => s.length >= expected[i]!), 5000, 5, 'every watcher to have its events');
    done = true;
    for (const w of watchers) w.close();
    await Promise.all(consumers);

    filters.forEach((f, i) => {
      expect(seen[i], JSON.stringify(f)).toEqual(written.filter((w) => follows(f, w.name)).map((w) => w.revision));
    });
    expect(seen[kinds.length - 2]!.length).toBe(written.length); // a watcher of everything saw every write
  } finally {
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
