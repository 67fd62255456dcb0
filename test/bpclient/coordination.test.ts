/**
 * bpclient's coordination commands against a real broker, over the legacy API and with --grpc: leases (--ttl,
 * service keepalive), compare-and-swap (--if-revision), service watch and get --wait. Both protocols must print
 * the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/https.js';
import { removeDir, startBroker, type RunningBroker } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';
import { bpclient, revisionOf, spawnBpclient, stampsAsTs, type LiveCli } from './harness.js';

let broker: RunningBroker;
let B: string;

beforeAll(async () => {
  broker = await startBroker();
  B = `127.0.0.1:${broker.port}`;
});

afterAll(async () => {
  await broker?.stop();
  if (broker) removeDir(broker.home);
});

const PROTOCOLS = [
  { proto: 'legacy', flags: [] as string[] },
  { proto: 'grpc', flags: ['--grpc'] },
];

/** Runs bpclient against the test broker with the protocol's flags first. */
function cli(flags: string[], ...args: string[]) {
  return bpclient([...flags, '-b', B, ...args]);
}

function live(flags: string[], ...args: string[]): LiveCli {
  return spawnBpclient([...flags, '-b', B, ...args]);
}

/** A Get straight over HTTPS (cheap: for polling), as its JSON answer. */
async function getEntry(name: string): Promise<{ success: boolean; ttl?: number; revision?: number }> {
  return (await call(broker.port, `/services/Get/?name=${encodeURIComponent(name)}`)).json as { success: boolean; ttl?: number };
}

/** `last_write_ts` changes with the clock, revisions with the other tests: compare the rest. */
function normalized(text: string): string {
  return stampsAsTs(text).replace(/"revision": \d+/g, '"revision": REV');
}

describe.concurrent.each(PROTOCOLS)('bpclient coordination ($proto)', { timeout: 240_000 }, ({ proto, flags }) => {
  const p = `${proto}-`;

  it('--ttl gives a lease that writes without --ttl keep, --ttl 0 removes, and that runs out unrenewed', async () => {
    const reg = await cli(flags, 'service', 'register', '--name', `${p}ttl1`, '--data', '{"a":1}', '--ttl', '60', '--raw');
    expect(reg.stderr).toBe('');
    expect(normalized(reg.stdout)).toBe(
      '{"success": true, "message": "Success", "data": {"a": 1, "last_write_ip": "127.0.0.1", "last_write_ts": TS}, "revision": REV, "ttl": 60}\n',
    );
    // Without --raw the output is the old one: the data alone.
    expect(stampsAsTs((await cli(flags, 'service', 'replace', '--name', `${p}ttl1`, '--data', '{"b":2}')).stdout)).toBe(
      '{"b": 2, "last_write_ip": "127.0.0.1", "last_write_ts": TS}\n',
    );
    const left = /"revision": \d+, "ttl": (\d+)\}\n$/.exec((await cli(flags, 'service', 'get', '--name', `${p}ttl1`, '--raw')).stdout);
    expect(Number(left?.[1])).toBeGreaterThan(0);
    expect(Number(left?.[1])).toBeLessThanOrEqual(60);
    expect((await cli(flags, 'service', 'update', '--name', `${p}ttl1`, '--data', '{"c":3}', '--ttl', '0', '--raw')).stdout).toMatch(/"revision": \d+\}\n$/);
    expect(await cli(flags, 'service', 'keepalive', '--name', `${p}ttl1`)).toEqual({ code: 1, stdout: '', stderr: `Fatal error: Entry '${p}ttl1' not found\n` });

    expect((await cli(flags, 'service', 'register', '--name', `${p}ttl2`, '--data', 'short', '--ttl', '1')).stdout).toBe('short\n');
    await waitFor(async () => (await getEntry(`${p}ttl2`)).success === false, 20_000, 50, 'the lease to run out');
    expect((await cli(flags, 'service', 'get', '--name', `${p}ttl2`)).stderr).toBe(`Fatal error: Entry '${p}ttl2' not found\n`);

    for (const bad of ['1.5', '-1', 'x', '86401']) {
      expect(await cli(flags, 'service', 'register', '--name', `${p}ttl3`, '--data', 'x', '--ttl', bad), bad).toEqual({ code: 1, stdout: '', stderr: 'Fatal error: Invalid ttl\n' });
    }
  });

  it('--if-revision writes only at that revision; a mismatch names the current one and exits 1', async () => {
    const name = `${p}cas1`;
    const r1 = revisionOf((await cli(flags, 'service', 'register', '--name', name, '--data', '{"v":1}', '--raw')).stdout);
    const rep = await cli(flags, 'service', 'replace', '--name', name, '--data', '{"v":2}', '--if-revision', String(r1), '--raw');
    expect(rep.code).toBe(0);
    const r2 = revisionOf(rep.stdout);
    expect(r2).toBeGreaterThan(r1);
    const mismatch = { code: 1, stdout: '', stderr: `Fatal error: Revision mismatch: ${name} is at revision ${r2}\n` };
    expect(await cli(flags, 'service', 'replace', '--name', name, '--data', '{"v":3}', '--if-revision', String(r1))).toEqual(mismatch);
    expect(await cli(flags, 'service', 'update', '--name', name, '--data', '{"v":3}', '--if-revision', String(r1))).toEqual(mismatch);
    expect(await cli(flags, 'service', 'delete', '--name', name, '--if-revision', String(r1))).toEqual(mismatch);
    expect(await cli(flags, 'service', 'replace', '--name', name, '--data', '{"v":3}', '--if-revision', '0')).toEqual(mismatch);
    expect((await cli(flags, 'service', 'get', '--name', name)).stdout).toMatch(/^\{"v": 2, /);

    const upd = await cli(flags, 'service', 'update', '--name', name, '--data', '{"w":1}', '--if-revision', String(r2));
    expect(stampsAsTs(upd.stdout)).toBe('{"v": 2, "w": 1, "last_write_ip": "127.0.0.1", "last_write_ts": TS}\n');
    const r3 = revisionOf((await cli(flags, 'service', 'get', '--name', name, '--raw')).stdout);
    expect(await cli(flags, 'service', 'delete', '--name', name, '--if-revision', String(r3))).toEqual({ code: 0, stdout: '', stderr: '' });

    // Absent: its revision is 0, and --if-revision 0 creates it.
    expect(await cli(flags, 'service', 'update', '--name', name, '--data', 'x', '--if-revision', String(r3))).toEqual({
      code: 1,
      stdout: '',
      stderr: `Fatal error: Revision mismatch: ${name} is at revision 0\n`,
    });
    expect(await cli(flags, 'service', 'replace', '--name', name, '--data', 'again', '--if-revision', '0')).toEqual({ code: 0, stdout: 'again\n', stderr: '' });
    expect(await cli(flags, 'service', 'replace', '--name', name, '--data', 'x', '--if-revision', 'abc')).toEqual({ code: 1, stdout: '', stderr: 'Fatal error: Invalid if_revision\n' });
  });

  it('keepalive renews once and prints the entry as get does; absent or lease-less entries fail', async () => {
    const name = `${p}ka1`;
    await cli(flags, 'service', 'register', '--name', name, '--data', '{"ip":"10.0.0.7"}', '--ttl', '600');
    const once = await cli(flags, 'service', 'keepalive', '--name', name);
    expect(once.code).toBe(0);
    expect(stampsAsTs(once.stdout)).toBe('{"ip": "10.0.0.7", "last_write_ip": "127.0.0.1", "last_write_ts": TS}\n');
    expect((await cli(flags, 'service', 'keepalive', '--name', name, '--raw')).stdout).toMatch(/^\{"success": true, "message": "Success", "data": \{.*\}, "revision": \d+, "ttl": 600\}\n$/);
    expect((await cli([...flags, '--cols', 'ip'], 'service', 'keepalive', '--name', name)).stdout).toBe('10.0.0.7\n');
    expect(await cli(flags, 'service', 'keepalive', '--name', `${p}ka-absent`)).toEqual({ code: 1, stdout: '', stderr: `Fatal error: Entry '${p}ka-absent' not found\n` });
    await cli(flags, 'service', 'register', '--name', `${p}ka-nolease`, '--data', 'x');
    expect(await cli(flags, 'service', 'keepalive', '--name', `${p}ka-nolease`)).toEqual({ code: 1, stdout: '', stderr: `Fatal error: Entry '${p}ka-nolease' not found\n` });
    expect(await cli(flags, 'service', 'keepalive', '--name', name, '--every', '600')).toEqual({
      code: 1,
      stdout: '',
      stderr: "Fatal error: --every 600 is not shorter than the lease's TTL (600 seconds): the lease would run out between renewals\n",
    });
  });

  it('keepalive --every keeps an entry past several TTLs, and exits 1 once the entry is deleted', async () => {
    const name = `${p}ka2`;
    // A long lease while bpclient starts (slow on a busy machine), then a 2 s one that only the keeper sustains.
    await cli(flags, 'service', 'register', '--name', name, '--data', 'alive', '--ttl', '60');
    const keeper = live(flags, 'service', 'keepalive', '--name', name, '--every', '0.5');
    await waitFor(() => keeper.stdout() === 'alive\n', 30_000, 20, 'the first renewal');
    expect((await getEntry(name)).ttl).toBeGreaterThan(2);
    await cli(flags, 'service', 'update', '--name', name, '--data', '{}', '--ttl', '2');
    await waitFor(async () => (await getEntry(name)).ttl === 2, 10_000, 50, 'a renewal of the 2 s lease');
    // Three TTLs: the entry must be there every time we look.
    const started = Date.now();
    await waitFor(
      async () => {
        expect((await getEntry(name)).success).toBe(true);
        return Date.now() - started > 6000;
      },
      60_000,
      50,
      'three TTLs',
    );
    expect(keeper.proc.exitCode).toBe(null);
    await cli(flags, 'service', 'delete', '--name', name);
    expect(await keeper.exited).toBe(1);
    expect(keeper.stderr()).toBe(`Fatal error: Lease on ${name} lost: the entry is gone or has no lease any more: Entry '${name}' not found\n`);
    expect(keeper.stdout()).toBe('alive\n');
  });

  it('SIGINT and SIGTERM end keepalive --every with exit 0', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const name = `${p}ka-${signal}`;
      await cli(flags, 'service', 'register', '--name', name, '--data', 'x', '--ttl', '600');
      const keeper = live(flags, 'service', 'keepalive', '--name', name, '--every', '10');
      await waitFor(() => keeper.stdout() === 'x\n', 20_000, 20, 'the first renewal');
      keeper.proc.kill(signal);
      expect(await keeper.exited, signal).toBe(0);
      expect(keeper.stderr()).toBe('');
    }
  });

  it('watch prints each change as TYPE NAME DATA, or as JSON lines, from --revision on; SIGINT and SIGTERM end it with 0', async () => {
    const w = `${p}w-`;
    const start = revisionOf((await cli(flags, 'service', 'register', '--name', `${p}marker`, '--data', 'x', '--raw')).stdout);
    const text = live(flags, 'service', 'watch', '--prefix', w, '--revision', String(start));
    const json = live([...flags, '-f', 'json'], 'service', 'watch', '--prefix', w, '--revision', String(start));
    const cols = live([...flags, '--cols', 'x'], 'service', 'watch', '--name', `${w}a`, '--revision', String(start));
    await cli(flags, 'service', 'register', '--name', `${w}a`, '--data', '{"x":1.0,"big":12345678901234567890,"s":"é"}');
    await cli(flags, 'service', 'update', '--name', `${w}a`, '--data', '{"x":2}');
    await cli(flags, 'service', 'register', '--name', `${p}other`, '--data', 'not watched');
    await cli(flags, 'service', 'delete', '--name', `${w}a`);
    await cli(flags, 'service', 'register', '--name', `${w}b`, '--data', 'hello world', '--ttl', '1');
    await waitFor(() => text.lines().length >= 5 && json.lines().length >= 5 && cols.lines().length >= 3, 30_000, 20, 'five changes');
    expect(stampsAsTs(text.stdout())).toBe(
      [
        `put ${w}a {"x": 1.0, "big": 12345678901234567890, "s": "\\u00e9", "last_write_ip": "127.0.0.1", "last_write_ts": TS}`,
        `put ${w}a {"x": 2, "big": 12345678901234567890, "s": "\\u00e9", "last_write_ip": "127.0.0.1", "last_write_ts": TS}`,
        `delete ${w}a`,
        `put ${w}b hello world`,
        `expire ${w}b`,
        '',
      ].join('\n'),
    );
    const events = json.lines().map((l) => JSON.parse(l) as { type: string; name: string; revision: number; data?: Record<string, unknown> });
    expect(events.map((e) => `${e.type} ${e.name}`)).toEqual([`put ${w}a`, `put ${w}a`, `delete ${w}a`, `put ${w}b`, `expire ${w}b`]);
    for (let i = 1; i < events.length; i++) expect(events[i]!.revision).toBeGreaterThan(events[i - 1]!.revision);
    expect(events[0]!.revision).toBeGreaterThan(start);
    expect(stampsAsTs(json.lines()[0]!)).toBe(
      `{"type": "put", "name": "${w}a", "revision": ${events[0]!.revision}, "data": {"x": 1.0, "big": 12345678901234567890, "s": "\\u00e9", "last_write_ip": "127.0.0.1", "last_write_ts": TS}}`,
    );
    expect(json.lines()[2]).toBe(`{"type": "delete", "name": "${w}a", "revision": ${events[2]!.revision}}`);
    expect(cols.lines()).toEqual([`put ${w}a 1.0`, `put ${w}a 2`, `delete ${w}a`]);

    text.proc.kill('SIGINT');
    json.proc.kill('SIGTERM');
    cols.proc.kill('SIGINT');
    expect(await Promise.all([text.exited, json.exited, cols.exited])).toEqual([0, 0, 0]);
    expect(text.stderr() + json.stderr() + cols.stderr()).toBe('');
  });

  it('watch --once exits 0 after the first batch; with --wait and no change it exits 1', async () => {
    const name = `${p}once1`;
    const start = revisionOf((await cli(flags, 'service', 'register', '--name', name, '--data', 'v1', '--raw')).stdout);
    await cli(flags, 'service', 'replace', '--name', name, '--data', 'v2');
    // The changes already after --revision are the first batch.
    expect(await cli(flags, 'service', 'watch', '--name', name, '--revision', String(start), '--once')).toEqual({ code: 0, stdout: `put ${name} v2\n`, stderr: '' });

    // From now on: the first change ends it (we keep writing until the watch has seen one).
    const once = live(flags, 'service', 'watch', '--name', name, '--once');
    for (let i = 0; once.proc.exitCode === null && i < 3000; i++) {
      await call(broker.port, `/services/Replace/?name=${name}&data=live${i}`);
      await new Promise((r) => setImmediate(r));
    }
    expect(await once.exited).toBe(0);
    // One batch: the change that woke it, with any that came in the same moment.
    expect(once.stdout()).toMatch(new RegExp(`^(put ${name} live\\d+\\n)+$`));

    const began = Date.now();
    expect(await cli(flags, 'service', 'watch', '--name', `${p}never`, '--once', '--wait', '1.5')).toEqual({ code: 1, stdout: '', stderr: 'Fatal error: No change within 1.5 seconds\n' });
    expect(Date.now() - began).toBeGreaterThanOrEqual(1500);

  });

  it('get --wait waits for an absent entry and prints it as get does once written; present, at once; never, exit 1', async () => {
    const name = `${p}awaited`;
    const waiting = live(flags, 'service', 'get', '--name', name, '--wait', '60');
    await new Promise((r) => setTimeout(r, 1_500)); // it has started and found the entry absent
    expect(waiting.proc.exitCode).toBe(null);
    await call(broker.port, `/services/Register/?name=${name}&data=%7B%22v%22%3A1.0%7D`);
    expect(await waiting.exited).toBe(0);
    const got = await cli(flags, 'service', 'get', '--name', name);
    expect(got.stdout).toMatch(/^\{"v": 1\.0, /);
    expect({ stdout: waiting.stdout(), stderr: waiting.stderr() }).toEqual({ stdout: got.stdout, stderr: '' });
    // Present: printed at once, also with --wait 0 (one read) and --raw.
    expect(await cli(flags, 'service', 'get', '--name', name, '--wait', '0')).toEqual(got);
    expect(normalized((await cli(flags, 'service', 'get', '--name', name, '--wait', '5', '--raw')).stdout)).toMatch(/^\{"success": true, "message": "Success", "data": \{"v": 1\.0, /);
    // Never written: exit 1 once the time is up.
    const began = Date.now();
    expect(await cli(flags, 'service', 'get', '--name', `${p}never-get`, '--wait', '1.5')).toEqual({ code: 1, stdout: '', stderr: `Fatal error: Entry '${p}never-get' not found within 1.5 seconds\n` });
    expect(Date.now() - began).toBeGreaterThanOrEqual(1500);
    expect(await cli(flags, 'service', 'get', '--name', name, '--wait', 'soon')).toEqual({ code: 1, stdout: '', stderr: "Fatal error: Invalid --wait 'soon': expected a number of seconds\n" });
  });

  it('watch fails clearly: csv output, a broker that is not there, a bad --wait', async () => {
    expect(await cli([...flags, '-f', 'csv'], 'service', 'watch', '--name', 'x')).toEqual({ code: 1, stdout: '', stderr: 'Fatal error: service watch prints text or json, not csv\n' });
    const gone = await bpclient([...flags, '-b', '127.0.0.1:1', 'service', 'watch', '--name', 'x']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^Fatal error: Cannot connect to bpbroker at 127\.0\.0\.1:1/);
    expect(await cli(flags, 'service', 'watch', '--name', 'x', '--once', '--wait', 'soon')).toEqual({ code: 1, stdout: '', stderr: "Fatal error: Invalid --wait 'soon': expected a number of seconds\n" });
    expect(await cli(flags, 'service', 'keepalive', '--name', 'x', '--every', '0')).toEqual({ code: 1, stdout: '', stderr: "Fatal error: Invalid --every '0': expected a number of seconds\n" });
  });
});
