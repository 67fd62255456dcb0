import { appendFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeDir, startBroker, tempDir } from '../helpers/broker.js';
import { configHolds } from '../helpers/configFile.js';
import { call, qs } from '../helpers/https.js';
import { waitFor } from '../helpers/wait.js';

/** 64 clients, each on its own connection, writing `perClient` entries; resolves to the names acknowledged. */
async function writeConcurrently(port: number, clients: number, perClient: number, prefix: string): Promise<string[]> {
  const acked: string[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
      for (let i = 0; i < perClient; i++) {
        const name = `${prefix}-${c}-${i}`;
        const r = await call(port, `/services/Register/?${qs({ name, data: JSON.stringify({ c, i }) })}`, { agent });
        if (r.json?.success === true) acked.push(name);
      }
      agent.destroy();
    }),
  );
  return acked;
}

async function countPresent(port: number, names: string[]): Promise<number> {
  let present = 0;
  for (const name of names) if ((await call(port, `/services/Get/?${qs({ name })}`)).json.success === true) present++;
  return present;
}

describe('durability', () => {
  it('keeps every acknowledged write of 64 concurrent clients across SIGKILL', async () => {
    const home = tempDir();
    try {
      const first = await startBroker({ home });
      const acked = await writeConcurrently(first.port, 64, 20, 'k');
      await first.stop('SIGKILL');
      expect(acked.length).toBe(1280);
      const second = await startBroker({ home });
      expect(await countPresent(second.port, acked)).toBe(acked.length);
      await second.stop();
    } finally {
      removeDir(home);
    }
  });

  it('drops a torn journal tail and keeps everything acknowledged before it', async () => {
    const home = tempDir();
    try {
      const first = await startBroker({ home });
      const acked = await writeConcurrently(first.port, 8, 10, 't');
      await first.stop('SIGKILL');
      const journalDir = join(home, 'etc', 'bpbroker.journal');
      const segments = readdirSync(journalDir).sort();
      // A crash in the middle of an append: a header promising more bytes than follow.
      appendFileSync(join(journalDir, segments.at(-1)!), Buffer.from([0xff, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0x7b, 0x22]));
      const second = await startBroker({ home });
      expect(await countPresent(second.port, acked)).toBe(acked.length);
      const r = await call(second.port, `/services/Register/?${qs({ name: 'after-tear', data: '{}' })}`);
      expect(r.json.success).toBe(true);
      await second.stop('SIGKILL');
      expect(second.stderr()).toContain('torn journal tail');
      const third = await startBroker({ home });
      expect(await countPresent(third.port, [...acked, 'after-tear'])).toBe(acked.length + 1);
      await third.stop();
    } finally {
      removeDir(home);
    }
  });

  it('keeps deletes across a restart (fixed) and writes every entry to bpbroker.json on SIGINT and SIGTERM', async () => {
    const home = tempDir();
    try {
      const first = await startBroker({ home });
      for (const name of ['a', 'b', 'c']) await call(first.port, `/services/Register/?${qs({ name, data: `{"n": "${name}"}` })}`);
      await call(first.port, `/services/Delete/?${qs({ name: 'b' })}`);
      expect(await first.stop('SIGINT')).toBe(0);
      const file = JSON.parse(readFileSync(join(home, 'etc', 'bpbroker.json'), 'utf8'));
      expect(Object.keys(file.services).sort()).toEqual(['a', 'c']);
      expect(file.services.a).toMatchObject({ n: 'a', last_write_ip: '127.0.0.1' });
      expect(file.api.listen_port).toBe(20443); // command-line --port is not written back
      expect(file._config).toEqual({ backup_freq_secs: 3600, backup_retain_n: 24 });
      const second = await startBroker({ home });
      expect((await call(second.port, `/services/Get/?${qs({ name: 'b' })}`)).json.success).toBe(false);
      expect((await call(second.port, `/services/Get/?${qs({ name: 'a' })}`)).json.data.n).toBe('a');
      expect(await second.stop('SIGTERM')).toBe(0);
    } finally {
      removeDir(home);
    }
  });

  it('folds writes into bpbroker.json soon, without a stop', async () => {
    const home = tempDir();
    try {
      const b = await startBroker({ home });
      await call(b.port, `/services/Register/?${qs({ name: 'soon', data: '{}' })}`);
      // About a second on an idle machine (docs/performance.md); the bound only allows for a busy one.
      const took = await waitFor(() => configHolds(home, 'soon'), 20_000, 20, "the fold of 'soon' into bpbroker.json");
      console.log(`folded into bpbroker.json after ${took} ms`);
      await b.stop();
    } finally {
      removeDir(home);
    }
  });

  it('loads an old-format bpbroker.json as it is', async () => {
    const home = tempDir();
    try {
      mkdirSync(join(home, 'etc'));
      // As the original broker wrote it: the key among the entries, the dummy certificate of the old package.
      writeFileSync(
        join(home, 'etc', 'bpbroker.json'),
        JSON.stringify({
          api: { listen_port: 20443, listen_ip: '', ssl_cert: '/usr/lib/python2.7/site-packages/bpbroker/dummy_api.crt', ssl_key: '/usr/lib/python2.7/site-packages/bpbroker/dummy_api.key' },
          worker: {},
          _global: { healthcheck_freq_sec: 10 },
          _config: { backup_freq_secs: 3600, backup_retain_n: 24 },
          ping: {},
          services: { _access_key: 'old', 'ossec-manager': { ip: '10.0.0.5', last_write_ip: '10.0.0.5', last_write_ts: 1430000000 }, text: { _str: 'hello' } },
          ossec: { _access_key: '' },
        }),
      );
      const b = await startBroker({ home });
      const r = await call(b.port, `/services/Get/?${qs({ name: 'ossec-manager', access_key: 'old' })}`);
      expect(r.json.data).toEqual({ ip: '10.0.0.5', last_write_ip: '10.0.0.5', last_write_ts: 1430000000 });
      expect((await call(b.port, `/services/Get/?${qs({ name: 'text', access_key: 'old' })}`)).json.data._str).toBe('hello');
      expect((await call(b.port, `/services/Get/?${qs({ name: 'text' })}`)).status).toBe(401);
      await b.stop();
      const file = JSON.parse(readFileSync(join(home, 'etc', 'bpbroker.json'), 'utf8'));
      expect(file.services._access_key).toBe('old');
      expect(file.ossec).toEqual({ _access_key: '' });
    } finally {
      removeDir(home);
    }
  });
});
