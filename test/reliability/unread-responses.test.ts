import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListRequest } from '../../generated/bpbroker/v1/registry.js';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { removeDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { Pinger, RssWatch, rssMb, waitFor } from './flood.js';
import { grpcMessage, openRawH2, RST_CANCEL } from './h2raw.js';
import { mustPing, openTls, startConfigured } from './raw.js';
import { report, runs } from './soak.js';

/**
 * Responses a client asks for and never reads (issue 10, item 6). Before: 100 List calls over 1 MB entries on
 * one h2 connection that never read took RSS from 287 MB to 5,090 MB, a ping took 20 s, and the memory stayed
 * while the client did; 250 pipelined 1 MB Gets on an HTTP/1.1 connection held 250 MB for as long as it stayed.
 * Now a gRPC response left unread for api.response_timeout_secs is reset (CANCELLED) and freed, a connection
 * whose client reads nothing for that long is closed, and pipelined HTTP/1.1 requests run one at a time.
 *
 * Each suite floods in rounds and waits, between rounds, for the broker to give up on what the last round left
 * unread. What it held must then be reused by the next round: the peak stays that of one round. (Whether freed
 * memory also leaves RSS is up to the allocator, which keeps freed blocks of a few MB for reuse.)
 */
const TIMEOUT_SECS = 1;
const ENTRIES = 3;
const ENTRY = JSON.stringify({ d: 'x'.repeat(1_000_000) });
const names = Array.from({ length: ENTRIES }, (_, i) => `big-${i}`);
const ROUNDS = runs(3, 20);
/** RSS growth past which a flood stops and fails: more than one round's worth. */
const GROWTH_LIMIT_MB = 1024;
const CUT_OFF = 'closing a connection whose client does not read';

let b: RunningBroker;
let client: BrokerGrpcClient;
beforeAll(async () => {
  // Debug level: the broker says when it cancels a response or closes a connection, which the rounds wait for.
  b = await startConfigured({ api: { response_timeout_secs: TIMEOUT_SECS } }, ['--log-level', 'debug']);
  client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true, deadlineMs: 120_000 });
  for (const name of names) await client.register(name, ENTRY);
  await readEverything(); // the baseline includes what serving these entries costs anyway
});
afterAll(async () => {
  client.close();
  await b.stop();
  removeDir(b.home);
});

/** Reads every entry through gRPC and legacy HTTPS, as ordinary traffic would. */
async function readEverything(): Promise<void> {
  for (const name of names) {
    await client.get(name);
    const r = await call(b.port, `/services/Get/?name=${name}`);
    if (r.status !== 200) throw new Error(`Get ${name}: ${r.status}`);
  }
}

function logged(what: string): number {
  return b.stderr().split(what).length - 1;
}

/** How long the broker may take to give up on an unread response: the timeout, its sweep, a busy machine. */
const GIVE_UP_MS = (TIMEOUT_SECS + 20) * 1000;

async function flood(suite: string, ping: () => Promise<unknown>, round: (watch: RssWatch) => Promise<void>, leave: () => void): Promise<void> {
  const watch = new RssWatch(b.proc.pid!, rssMb(b.proc.pid!) + GROWTH_LIMIT_MB);
  const pinger = new Pinger(ping);
  try {
    for (let r = 0; r < ROUNDS && !watch.over; r++) await round(watch);
  } finally {
    watch.stop();
    leave();
  }
  const worstPingMs = await pinger.stop();
  await mustPing(b.port, 'after');
  await readEverything();
  const figures = { rssBeforeMb: watch.before, rssPeakMb: watch.peak, rssAfterMb: rssMb(b.proc.pid!), worstPingMs };
  console.log(`${suite}, ${ROUNDS} rounds:`, figures, `pings answered ${pinger.answered}`);
  report({ suite, cycles: ROUNDS, ...figures });
  expect(watch.peak - watch.before, `RSS growth over ${ROUNDS} rounds (MB)`).toBeLessThan(GROWTH_LIMIT_MB);
  expect(pinger.failures).toEqual([]);
  expect(pinger.answered).toBeGreaterThan(0);
  expect(worstPingMs, 'worst ping during the flood (ms)').toBeLessThan(20_000);
  expect(b.proc.exitCode).toBeNull();
}

describe('gRPC List responses a client never reads', () => {
  const CALLS = 100; // grpc.max_concurrent_streams: as many as one connection may have at once
  const list = grpcMessage(ListRequest.encode({ prefix: 'big-', pageSize: 1000, pageToken: '' }).finish());
  const gpingFlood = () => client.ping('"during"', { deadlineMs: 300_000 });

  it('are cancelled after api.response_timeout_secs and their memory reused, the client still connected', { timeout: 300_000 }, async () => {
    // The client reads frames but never grants flow-control window: every response waits on the broker.
    const h2 = await openRawH2(b.port);
    await h2.ready;
    await flood(
      'grpc-list-unread',
      gpingFlood,
      async (watch) => {
        const cancelledBefore = h2.resets.get(RST_CANCEL) ?? 0;
        for (let i = 0; i < CALLS && !watch.over; i++) await h2.open('/bpbroker.v1.RegistryService/List', { message: list, end: true });
        await waitFor('every response of the round to be cancelled', () => (h2.resets.get(RST_CANCEL) ?? 0) - cancelledBefore >= CALLS || watch.over, GIVE_UP_MS);
        expect(h2.closed, 'the client is still connected').toBe(false);
      },
      () => h2.destroy(),
    );
  });

  it('are freed with the connection of a client that granted a 2 GiB window and reads nothing', { timeout: 300_000 }, async () => {
    let current: { destroy(): void } | undefined;
    await flood(
      'grpc-list-unread-huge-window',
      gpingFlood,
      async (watch) => {
        const cutBefore = logged(CUT_OFF);
        const h2 = await openRawH2(b.port, { read: false, hugeWindow: true });
        current = h2;
        for (let i = 0; i < CALLS && !watch.over; i++) await h2.open('/bpbroker.v1.RegistryService/List', { message: list, end: true });
        await waitFor('the broker to close the connection', () => logged(CUT_OFF) > cutBefore || watch.over, GIVE_UP_MS);
      },
      () => current?.destroy(),
    );
  });
});

describe('HTTP/1.1 Gets a keep-alive client pipelines and never reads', () => {
  const CONNECTIONS = runs(4, 16);
  const PIPELINED = 250; // about one TLS record of requests
  const requests = Array.from({ length: PIPELINED }, (_, i) => `GET /services/Get/?name=${names[i % ENTRIES]} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');

  it('hold one answer per connection, and the connection is closed after api.response_timeout_secs', { timeout: 300_000 }, async () => {
    const flooders: TLSSocket[] = [];
    await flood(
      'http1-pipelined-unread',
      () => mustPing(b.port, 'during', 300_000),
      async (watch) => {
        const cutBefore = logged(CUT_OFF);
        const round: TLSSocket[] = [];
        for (let c = 0; c < CONNECTIONS && !watch.over; c++) {
          const s = await openTls(b.port);
          s.on('error', () => {});
          s.pause();
          s.write(requests);
          round.push(s);
        }
        flooders.push(...round);
        await waitFor('the broker to close every connection of the round', () => logged(CUT_OFF) - cutBefore >= round.length || watch.over, GIVE_UP_MS);
        // Reading now brings what was already on its way, then the close: not 250 answers.
        const s = round[0]!;
        let received = 0;
        s.on('data', (d: Buffer) => (received += d.length));
        const closed = new Promise<void>((r) => s.once('close', () => r()));
        s.resume();
        await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`connection still open; ${received} bytes read`)), 10_000))]);
        expect(received, `bytes delivered to a client that had pipelined ${PIPELINED} Gets`).toBeLessThan(50 * ENTRY.length);
      },
      () => {
        for (const s of flooders) s.destroy();
      },
    );
  });
});
