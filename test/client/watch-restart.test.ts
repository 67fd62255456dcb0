/**
 * Watches across broker restarts: a writer makes N numbered updates of one entry while the broker is stopped
 * and started again twice in the middle (SIGTERM, then SIGKILL), and every watcher (the gRPC and legacy watch
 * iterables, and bpclient service watch over both protocols) sees exactly 1..N, in order: resuming from the
 * last revision it received loses nothing and repeats nothing.
 */
import { afterAll, expect, it } from 'vitest';
import { connect } from '../../src/client/grpcClient.js';
import { LegacyClient } from '../../src/client/legacyClient.js';
import { spawnBpclient } from '../bpclient/harness.js';
import { removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { waitFor } from '../helpers/wait.js';

const N = 300;
const home = tempDir();
let broker: RunningBroker | undefined;

afterAll(async () => {
  await broker?.stop('SIGKILL');
  removeDir(home);
});

it('watchers see every numbered update exactly once, in order, across a graceful restart and a crash', { timeout: 240_000 }, async () => {
  broker = await startBroker({ home });
  const port = broker.port;
  const address = `127.0.0.1:${port}`;
  const writer = connect(address, { insecureSkipVerify: true, deadlineMs: 5000 });
  const watcherG = connect(address, { insecureSkipVerify: true });
  const watcherL = new LegacyClient(address);
  const start = (await writer.replace('counter', { i: 0 })).modRevision;

  const retries = { grpc: 0, legacy: 0 };
  const seen = { grpc: [] as number[], legacy: [] as number[] };
  const gw = watcherG.watch({ name: 'counter' }, { afterRevision: start, onRetry: () => retries.grpc++ });
  const lw = watcherL.watch({ name: 'counter' }, { afterRevision: start, onRetry: () => retries.legacy++, pollSecs: 5 });
  const loops = [
    (async () => {
      for await (const b of gw) for (const e of b.events) seen.grpc.push((JSON.parse(e.entry!.json) as { i: number }).i);
    })(),
    (async () => {
      for await (const b of lw) for (const e of b.events) seen.legacy.push((JSON.parse(e.data!) as { i: number }).i);
    })(),
  ];
  const clis = [[], ['--grpc']].map((flags) => spawnBpclient([...flags, '-b', address, '-f', 'json', 'service', 'watch', '--name', 'counter', '--revision', String(start)]));

  /** One numbered update, retried until it is in; a write that landed without an answer is not made twice. */
  const update = async (i: number): Promise<void> => {
    for (;;) {
      try {
        await writer.replace('counter', { i });
        return;
      } catch {
        try {
          if ((JSON.parse((await writer.get('counter')).json) as { i: number }).i === i) return;
        } catch {
          /* still down */
        }
        await new Promise((r) => setTimeout(r, 100)); // the broker is restarting: ask again shortly
      }
    }
  };

  const cliValues = (out: string) => out.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { data: { i: number } }).data.i);
  for (let i = 1; i <= N; i++) {
    await update(i);
    // Every watcher connected before the first restart (a watch that cannot connect at all fails at once).
    if (i === 1) await waitFor(() => seen.grpc.length > 0 && seen.legacy.length > 0 && clis.every((c) => c.stdout() !== ''), 30_000, 20, 'every watcher to connect');
    if (i === N / 3) {
      await broker.stop('SIGTERM');
      broker = await startBroker({ home, port });
    }
    if (i === (2 * N) / 3) {
      await broker.stop('SIGKILL');
      broker = await startBroker({ home, port });
    }
  }

  const expected = Array.from({ length: N }, (_, k) => k + 1);
  await waitFor(
    () => seen.grpc.length >= N && seen.legacy.length >= N && clis.every((c) => cliValues(c.stdout()).length >= N),
    60_000,
    50,
    'every watcher to see all updates',
  );
  expect(seen.grpc).toEqual(expected);
  expect(seen.legacy).toEqual(expected);
  for (const c of clis) expect(cliValues(c.stdout())).toEqual(expected);
  // They did lose their connections, and said so.
  expect(retries.grpc).toBeGreaterThanOrEqual(2);
  expect(retries.legacy).toBeGreaterThanOrEqual(2);
  for (const c of clis) expect(c.stderr()).toMatch(/^Warning: lost the watch on bpbroker at 127\.0\.0\.1:\d+ \(.*\); resuming after revision \d+\n/);

  await Promise.all([gw.return(), lw.return()]);
  await Promise.all(loops);
  for (const c of clis) c.proc.kill('SIGINT');
  expect(await Promise.all(clis.map((c) => c.exited))).toEqual([0, 0]);
  writer.close();
  watcherG.close();
  watcherL.close();
});
