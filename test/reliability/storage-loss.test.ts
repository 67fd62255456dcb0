/**
 * The broker's files removed or replaced while it runs (issue: a removed journal folder lost acknowledged
 * writes). A write is acknowledged only once it is in a file a restart reads; when the files cannot be written
 * writes are refused with 503 / UNAVAILABLE until they can, and a stop that cannot save says so.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/grpcClient.js';
import { removeDir, startBroker as startHelper, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call, qs } from '../helpers/https.js';
import { fillDisk, mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';
import { waitFor as waitUntil } from '../helpers/wait.js';
import { report, runs } from './soak.js';

/** Every broker a test starts is stopped after it, even when an assertion failed first. */
const started = new Set<RunningBroker>();
async function startBroker(opts: { home: string }): Promise<RunningBroker> {
  const b = await startHelper(opts);
  started.add(b);
  return b;
}
async function stopAll(): Promise<void> {
  for (const b of started) await b.stop('SIGKILL');
  started.clear();
}
afterEach(stopAll);
/** Stops what is still running, then removes the folder. */
async function cleanup(dir: string): Promise<void> {
  await stopAll();
  removeDir(dir);
}

const etc = (home: string) => join(home, 'etc');
const configFile = (home: string) => join(home, 'etc', 'bpbroker.json');
const journalDir = (home: string) => join(home, 'etc', 'bpbroker.journal');

const waitFor = (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<number> => waitUntil(cond, timeoutMs, 50, what);

const fileHas = (path: string, text: string) => existsSync(path) && readFileSync(path, 'utf8').includes(text);
const register = (port: number, name: string, data = '{"v": 1}') => call(port, `/services/Register/?${qs({ name, data })}`);
const present = async (port: number, name: string) => (await call(port, `/services/Get/?${qs({ name })}`)).json?.success === true;

async function missing(port: number, names: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) if (!(await present(port, name))) out.push(name);
  return out;
}

describe('journal folder removed while the broker runs', () => {
  it.each(['SIGINT', 'SIGKILL'] as const)('keeps every acknowledged write across a %s restart', async (signal) => {
    const home = tempDir();
    try {
      const b = await startBroker({ home });
      expect((await register(b.port, 'before1')).json.success).toBe(true);
      await waitFor('before1 folded into bpbroker.json', () => fileHas(configFile(home), '"before1"'));
      rmSync(journalDir(home), { recursive: true, force: true });
      const names = ['before1'];
      for (const name of ['after1', 'after2', 'after3']) {
        expect((await register(b.port, name)).json.success, name).toBe(true);
        names.push(name);
      }
      // Acknowledged means in a file a restart reads: the loss was seen at after1's fsync, everything in memory
      // saved to bpbroker.json, and a new journal folder started.
      expect(fileHas(configFile(home), '"after1"')).toBe(true);
      expect(existsSync(journalDir(home))).toBe(true);
      const code = await b.stop(signal);
      if (signal === 'SIGINT') expect(code).toBe(0);

      const again = await startBroker({ home });
      try {
        expect(await missing(again.port, names)).toEqual([]);
      } finally {
        await again.stop();
      }
    } finally {
      await cleanup(home);
    }
  });

  it('loses nothing when the folder goes while 8 clients write (cycles, alternating SIGKILL and SIGINT)', async () => {
    const cycles = runs(2, 20);
    const home = tempDir();
    let acknowledged = 0;
    let lost = 0;
    try {
      for (let cycle = 0; cycle < cycles; cycle++) {
        const b = await startBroker({ home });
        const acked: string[] = [];
        let removed = false;
        await Promise.all(
          Array.from({ length: 8 }, async (_, c) => {
            const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
            try {
              for (let i = 0; i < 40; i++) {
                const name = `c${cycle}-w${c}-${i}`;
                const r = await call(b.port, `/services/Register/?${qs({ name, data: JSON.stringify({ cycle, c, i }) })}`, { agent });
                if (r.json?.success === true) acked.push(name);
                else throw new Error(`write refused: ${r.status} ${r.text}`);
                // One writer removes the folder while the others have writes in flight.
                if (c === 0 && i === 15 && !removed) {
                  removed = true;
                  rmSync(journalDir(home), { recursive: true, force: true });
                }
              }
            } finally {
              agent.destroy();
            }
          }),
        );
        expect(removed).toBe(true);
        await b.stop(cycle % 2 === 0 ? 'SIGKILL' : 'SIGINT');
        const again = await startBroker({ home });
        try {
          const gone = await missing(again.port, acked);
          acknowledged += acked.length;
          lost += gone.length;
          expect(gone, `cycle ${cycle}`).toEqual([]);
        } finally {
          await again.stop();
        }
      }
    } finally {
      report({ suite: 'journal-removal', cycles, acknowledged, lost });
      await cleanup(home);
    }
  }, 120_000 + runs(0, 600_000));
});

describe('bpbroker.json removed while the broker runs', () => {
  it('is written again, whole, before the next write is acknowledged, and within seconds when idle', async () => {
    const home = tempDir();
    try {
      const b = await startBroker({ home });
      const names = ['e1', 'e2', 'e3'];
      for (const name of names) expect((await register(b.port, name)).json.success).toBe(true);
      // Once folded, e1..e3 are only in bpbroker.json (and in memory).
      await waitFor('e3 folded into bpbroker.json', () => fileHas(configFile(home), '"e3"'));
      rmSync(configFile(home));
      expect((await register(b.port, 'after')).json.success).toBe(true);
      names.push('after');
      expect(fileHas(configFile(home), '"e1"')).toBe(true);
      await b.stop('SIGKILL');

      const second = await startBroker({ home });
      expect(await missing(second.port, names)).toEqual([]);
      // With no write to notice it, the broker's own check puts the file back.
      rmSync(configFile(home));
      await waitFor('bpbroker.json written again', () => fileHas(configFile(home), '"after"'), 10_000);
      await second.stop('SIGKILL');

      const third = await startBroker({ home });
      try {
        expect(await missing(third.port, names)).toEqual([]);
      } finally {
        await third.stop();
      }
    } finally {
      await cleanup(home);
    }
  });
});

describe('storage that cannot be written', () => {
  it('answers 503 / UNAVAILABLE "Storage unavailable: ..." while reads and pings go on, then heals by itself', async () => {
    const home = tempDir();
    const b = await startBroker({ home });
    const client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
    try {
      expect((await register(b.port, 'ok1')).json.success).toBe(true);
      // A file where the journal folder should be: it can be neither used nor recreated.
      rmSync(journalDir(home), { recursive: true, force: true });
      writeFileSync(journalDir(home), 'in the way');
      const refused = await register(b.port, 'refused1');
      expect(refused.status).toBe(503);
      expect(refused.json).toEqual({ success: false, message: expect.stringMatching(/^Storage unavailable: /), data: {} });
      expect(refused.reason).toMatch(/^Storage unavailable: /);
      await expect(client.register('refused-grpc', '{"g": 1}')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE, details: expect.stringMatching(/^Storage unavailable: /) });
      expect((await call(b.port, `/services/Update/?${qs({ name: 'ok1', data: '{"w": 2}' })}`)).status).toBe(503);
      // Reads and pings are served, and show nothing that was refused.
      expect(JSON.parse((await call(b.port, `/services/Get/?${qs({ name: 'ok1' })}`)).text).data).toMatchObject({ v: 1 });
      expect(JSON.parse((await call(b.port, `/services/Get/?${qs({ name: 'ok1' })}`)).text).data.w).toBeUndefined();
      expect(await present(b.port, 'refused1')).toBe(false);
      expect((await call(b.port, '/ping/Ping/?data=1')).json.data).toBe(1);
      // What was acknowledged is saved where a restart reads it, the journal being unusable.
      await waitFor('ok1 saved to bpbroker.json', () => fileHas(configFile(home), '"ok1"'));

      rmSync(journalDir(home));
      const tried: string[] = [];
      let healed = '';
      await waitFor(
        'a write accepted again',
        async () => {
          const name = `healed${tried.length}`;
          tried.push(name);
          const r = await register(b.port, name);
          if (r.json?.success === true) healed = name;
          else expect(r.status).toBe(503);
          return healed !== '';
        },
        40_000,
      );
      expect((await client.register('grpc-after', '{"g": 2}')).name).toBe('grpc-after');
      await b.stop('SIGKILL');

      const again = await startBroker({ home });
      try {
        expect(await missing(again.port, ['ok1', healed, 'grpc-after'])).toEqual([]);
        for (const name of ['refused1', 'refused-grpc', ...tried.filter((n) => n !== healed)]) expect(await present(again.port, name), name).toBe(false);
      } finally {
        await again.stop();
      }
    } finally {
      client.close();
      await b.stop('SIGKILL');
      await cleanup(home);
    }
  }, 90_000);

  it('a stop that cannot save says so, exits non-zero and leaves the files as they were; nothing is lost once space is back', async () => {
    // A full disk needs a small file system of its own; CI runs as root, so this must not be skipped.
    const mnt = mountTmpfs('4m', 'The stop-on-a-full-disk test');
    try {
      const home = join(mnt, 'home');
      const b = await startBroker({ home });
      const names: string[] = [];
      for (let i = 0; i < 40; i++) {
        expect((await register(b.port, `big${i}`, JSON.stringify({ i, pad: 'p'.repeat(16_000) }))).json.success).toBe(true);
        names.push(`big${i}`);
      }
      await waitFor('the registry folded into bpbroker.json', () => fileHas(configFile(home), '"big39"'));
      // Room for small journal records, not for another 640 KB bpbroker.json.
      const reserve = join(mnt, 'reserve');
      writeFileSync(reserve, Buffer.alloc(256 * 1024));
      const filler = fillDisk(mnt);
      rmSync(reserve);
      for (let i = 0; i < 5; i++) {
        expect((await register(b.port, `small${i}`)).json.success).toBe(true);
        names.push(`small${i}`);
      }
      const file = readFileSync(configFile(home));
      const code = await b.stop('SIGINT');
      expect(code).not.toBe(0);
      expect(b.stderr()).toMatch(/^Fatal error: The registry could not be saved to .*bpbroker\.json on stop \(.*ENOSPC/m);
      // Left as it was: the last bpbroker.json, the journal with the writes since, no temp file.
      expect(readFileSync(configFile(home)).equals(file)).toBe(true);
      expect(readdirSync(etc(home)).filter((n) => n.endsWith('.tmp'))).toEqual([]);

      rmSync(filler);
      const again = await startBroker({ home });
      try {
        expect(await missing(again.port, names)).toEqual([]);
      } finally {
        await again.stop();
      }
    } finally {
      await stopAll();
      unmountTmpfs(mnt);
    }
  }, 90_000);
});
