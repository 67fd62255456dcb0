import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/grpcClient.js';
import { BPBROKER, removeDir, runCli, startBroker, tempDir } from '../helpers/broker.js';
import { configHolds } from '../helpers/configFile.js';
import { call, qs } from '../helpers/https.js';
import { fillDisk, mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';
import { waitFor } from '../helpers/wait.js';

/** True once bpbroker.json holds `name` and the journal is down to the one segment the fold left. */
function folded(home: string, name: string): boolean {
  return configHolds(home, name) && readdirSync(join(home, 'etc', 'bpbroker.journal')).length === 1;
}

/** A write large enough to need new pages on tmpfs (small ones can land in the journal's last partial page). */
const big = (n: number) => JSON.stringify({ n, pad: 'p'.repeat(16_384) });

describe('disk full', () => {
  it('answers 507 / RESOURCE_EXHAUSTED, keeps serving reads, and keeps acknowledged data after space is freed', async () => {
    const mnt = mountTmpfs('2m', 'The disk-full test');
    const home = join(mnt, 'home');
    try {
      const b = await startBroker({ home });
      const client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
      try {
        const acked: string[] = [];
        for (let i = 0; i < 5; i++) {
          expect((await call(b.port, `/services/Register/?${qs({ name: `kept-${i}`, data: big(i) })}`)).json.success).toBe(true);
          acked.push(`kept-${i}`);
        }
        await client.register('kept-grpc', big(99));
        acked.push('kept-grpc');

        // Let the pending fold into bpbroker.json finish: it frees journal segments, which would un-fill the disk.
        await waitFor(() => folded(home, 'kept-grpc'), 20_000, 20, 'the fold of the acknowledged writes into bpbroker.json');
        const filler = fillDisk(mnt);
        const full = await call(b.port, `/services/Register/?${qs({ name: 'lost', data: big(1) })}`);
        expect(full.status).toBe(507);
        expect(full.json).toEqual({ success: false, message: 'Storage is full: write not saved', data: {} });
        const upd = await call(b.port, `/services/Update/?${qs({ name: 'kept-0', data: big(7) })}`);
        expect(upd.status).toBe(507);
        await expect(client.register('lost-grpc', big(2))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
        // A failed write changes nothing, and the broker keeps answering.
        expect((await call(b.port, `/services/Get/?${qs({ name: 'lost' })}`)).json.success).toBe(false);
        expect(JSON.parse((await call(b.port, `/services/Get/?${qs({ name: 'kept-0' })}`)).text).data.n).toBe(0);
        expect((await call(b.port, '/ping/Ping/?data=1')).json.data).toBe(1);

        rmSync(filler);
        // With space again, writes succeed without a restart.
        expect((await call(b.port, `/services/Register/?${qs({ name: 'after', data: big(3) })}`)).json.success).toBe(true);
        acked.push('after');
        await b.stop('SIGKILL');

        const again = await startBroker({ home });
        try {
          for (const name of acked) expect((await call(again.port, `/services/Get/?${qs({ name })}`)).json.success, name).toBe(true);
          for (const name of ['lost', 'lost-grpc']) expect((await call(again.port, `/services/Get/?${qs({ name })}`)).json.success, name).toBe(false);
          expect(JSON.parse((await call(again.port, `/services/Get/?${qs({ name: 'kept-0' })}`)).text).data.n).toBe(0);
        } finally {
          await again.stop();
        }
      } finally {
        client.close();
        await b.stop('SIGKILL');
      }
    } finally {
      unmountTmpfs(mnt);
    }
  });
});

/** One journal record as the broker frames it: [u32 length][u32 crc32][payload]. */
function record(payload: object | string, corrupt = false): Buffer {
  const body = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const head = Buffer.alloc(8);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE((crc32(body) ^ (corrupt ? 1 : 0)) >>> 0, 4);
  return Buffer.concat([head, body]);
}

async function startFails(home: string): Promise<{ code: number | null; stderr: string }> {
  const r = await runCli(BPBROKER, ['start', '--port', '0', '--listen-ip', '127.0.0.1'], { env: { BPBROKER_HOME: home } });
  return { code: r.code, stderr: r.stderr };
}

describe('damaged files', () => {
  const put = (r: number, k: string) => ({ r, k, c: r, ip: '127.0.0.1', ts: 1, v: `{"n":${r},"last_write_ip":"127.0.0.1","last_write_ts":1}` });

  it('a truncated or empty bpbroker.json: Fatal error naming the file and the backups, exit 1, no stack', async () => {
    const home = tempDir();
    try {
      mkdirSync(join(home, 'etc'));
      const file = join(home, 'etc', 'bpbroker.json');
      const full = JSON.stringify({ services: { a: { x: 1 } } }, null, 2);
      for (const text of [full.slice(0, full.length / 2), '']) {
        writeFileSync(file, text);
        const r = await startFails(home);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/^Fatal error: /);
        expect(r.stderr).toContain(file);
        expect(r.stderr).toContain('bpbroker backup restore');
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(readFileSync(file, 'utf8')).toBe(text); // left as it was for the operator
      }
    } finally {
      removeDir(home);
    }
  });

  it('a journal damaged before its end: Fatal error naming the segment and how to recover, exit 1, no stack', async () => {
    const home = tempDir();
    try {
      const dir = join(home, 'etc', 'bpbroker.journal');
      mkdirSync(dir, { recursive: true });
      const segment = join(dir, '0000000001.journal');
      writeFileSync(segment, Buffer.concat([record(put(1, 'a')), record(put(2, 'b'), true), record(put(3, 'c'))]));
      const r = await startFails(home);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^Fatal error: Journal /);
      expect(r.stderr).toContain(segment);
      expect(r.stderr).toContain('bpbroker backup restore');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      // Intact framing around a payload that does not decode is damage too, not a torn write.
      writeFileSync(segment, Buffer.concat([record(put(1, 'a')), record('{"r": 2, "k": ')]));
      const undecodable = await startFails(home);
      expect(undecodable.code).toBe(1);
      expect(undecodable.stderr).toMatch(/^Fatal error: Journal .* is corrupt/);
      expect(undecodable.stderr).not.toMatch(/\n\s+at /);
      // A damaged last record is a torn tail instead: dropped with a warning, the rest served.
      writeFileSync(segment, Buffer.concat([record(put(1, 'a')), record(put(2, 'b'), true)]));
      const b = await startBroker({ home });
      try {
        expect((await call(b.port, '/services/Get/?name=a')).json.success).toBe(true);
        expect((await call(b.port, '/services/Get/?name=b')).json.success).toBe(false);
      } finally {
        await b.stop();
      }
      expect(b.stderr()).toContain('torn journal tail');
    } finally {
      removeDir(home);
    }
  });
});
