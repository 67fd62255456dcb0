import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { removeDir, startBroker, tempDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { Pinger, RssWatch, rssMb, waitFor } from './flood.js';
import { openRawH2, SETTINGS_MAX_CONCURRENT_STREAMS } from './h2raw.js';
import { startConfigured } from './raw.js';
import { report, runs } from './soak.js';

/**
 * Calls whose request message never arrives (issue 10, item 5). Before: the broker advertised 2^32-1
 * concurrent streams and waited for each message forever; 100,000 such calls on one connection took its RSS
 * from 133 MB to 729 MB, on four connections to 6.1 GB, and pings timed out. Now each connection holds at
 * most grpc.max_concurrent_streams (100) streams, and a call still waiting for its request after
 * api.request_timeout_secs is answered DEADLINE_EXCEEDED and its stream reset.
 *
 * The floods come from a raw HTTP/2 client that ignores the server's limit and opens a new connection
 * whenever the broker closes one. Only generous liveness bounds are asserted; the figures go to the soak report.
 */
const STREAMS_PER_CONNECTION = runs(100_000, 500_000);
/** RSS growth past which a flood stops and fails. The stalled streams allowed cost a few MB. */
const GROWTH_LIMIT_MB = 256;
const GET = '/bpbroker.v1.RegistryService/Get';

describe('gRPC calls that never send their request', () => {
  let b: RunningBroker;
  let client: BrokerGrpcClient;
  beforeAll(async () => {
    b = await startConfigured({});
    client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
    await client.ping('warm-up');
  });
  afterAll(async () => {
    client.close();
    await b.stop();
    removeDir(b.home);
  });

  for (const connections of [1, 4]) {
    it(`${STREAMS_PER_CONNECTION.toLocaleString('en')} streams on each of ${connections} connection(s) leave memory and pings alone`, { timeout: runs(180_000, 900_000) }, async () => {
      const watch = new RssWatch(b.proc.pid!, rssMb(b.proc.pid!) + GROWTH_LIMIT_MB);
      const pinger = new Pinger(() => client.ping('during', { deadlineMs: 300_000 }));
      const advertised: Array<number | undefined> = [];
      let opened = 0;
      let reconnects = 0;
      const stopAt = Date.now() + runs(120_000, 800_000);
      try {
        await Promise.all(
          Array.from({ length: connections }, async () => {
            let left = STREAMS_PER_CONNECTION;
            while (left > 0 && !watch.over && Date.now() < stopAt) {
              const h2 = await openRawH2(b.port);
              reconnects++;
              await h2.ready;
              advertised.push(h2.settings.get(SETTINGS_MAX_CONCURRENT_STREAMS));
              // Headers only: the request message never follows. The broker may refuse streams past its
              // limit or close the connection; the flood then goes on over a new one.
              while (left > 0 && !h2.closed && !watch.over) {
                if (!(await h2.open(GET))) break;
                left--;
                opened++;
                if (left % 200 === 0) await new Promise((r) => setImmediate(r));
              }
              h2.destroy();
            }
          }),
        );
      } finally {
        watch.stop();
      }
      const worstPingMs = await pinger.stop();
      // The flood has left: a fresh connection is served, and memory settles.
      const fresh = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true });
      try {
        expect((await fresh.ping('"after"', { deadlineMs: 30_000 })).src).toBe('127.0.0.1');
      } finally {
        fresh.close();
      }
      const rssAfterMb = rssMb(b.proc.pid!);
      const figures = { rssBeforeMb: watch.before, rssPeakMb: watch.peak, rssAfterMb, worstPingMs };
      console.log(`stream flood, ${connections} connection(s): ${opened} streams over ${reconnects} connections;`, figures, `pings answered ${pinger.answered}`);
      report({ suite: `grpc-stream-flood-${connections}`, inputs: opened, ...figures });

      expect(watch.peak - watch.before, 'RSS growth under the flood (MB)').toBeLessThan(GROWTH_LIMIT_MB);
      expect(opened).toBe(STREAMS_PER_CONNECTION * connections);
      expect(new Set(advertised)).toEqual(new Set([100]));
      expect(pinger.failures).toEqual([]);
      expect(pinger.answered).toBeGreaterThan(0);
      expect(worstPingMs, 'worst ping during the flood (ms)').toBeLessThan(10_000);
      expect(b.proc.exitCode).toBeNull();
    });
  }
});

describe('the request deadline (api.request_timeout_secs)', () => {
  const TIMEOUT_SECS = 1;
  let b: RunningBroker;
  let session: ClientHttp2Session;
  beforeAll(async () => {
    // An extension slower than both timeouts: a call whose request has arrived is not cut short by either.
    const home = tempDir();
    mkdirSync(join(home, 'etc'));
    mkdirSync(join(home, 'lib'));
    writeFileSync(join(home, 'lib', 'slow.mjs'), `export async function Wait(rh) { await new Promise((r) => setTimeout(r, ${TIMEOUT_SECS * 2000})); rh.data = 'waited'; }\n`);
    // Node wants the legacy API's headers timeout no longer than its request timeout.
    const api = { request_timeout_secs: TIMEOUT_SECS, headers_timeout_secs: TIMEOUT_SECS, response_timeout_secs: TIMEOUT_SECS };
    writeFileSync(join(home, 'etc', 'bpbroker.json'), JSON.stringify({ api, slow: { _access_key: '' } }));
    b = await startBroker({ home });
    session = h2connect(`https://127.0.0.1:${b.port}`, { rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    await once(session, 'remoteSettings');
  });
  afterAll(async () => {
    session?.destroy();
    await b?.stop();
    if (b) removeDir(b.home);
  });

  /** A call that sends its headers and never its message: resolves to how the broker ended it, and when. */
  function stalledCall(): Promise<{ status: string | undefined; rstCode: number | undefined; ms: number }> {
    const started = Date.now();
    const stream = session.request({ ':method': 'POST', ':path': GET, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
    let status: string | undefined;
    stream.on('response', (headers) => (status ??= headers['grpc-status'] as string | undefined));
    stream.on('trailers', (headers) => (status ??= headers['grpc-status'] as string | undefined));
    stream.on('error', () => {});
    stream.resume();
    return new Promise((resolve) => stream.on('close', () => resolve({ status, rstCode: stream.rstCode, ms: Date.now() - started })));
  }

  it('answers a call stalled before its message DEADLINE_EXCEEDED and frees its stream', { timeout: 60_000 }, async () => {
    expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
    // Two full sets of the connection's 100 streams: the second gets streams only once the broker has
    // closed those of the first (this client keeps to the limit), so it shows they were freed.
    const first = await Promise.all(Array.from({ length: 100 }, () => stalledCall()));
    const second = await Promise.all(Array.from({ length: 100 }, () => stalledCall()));
    for (const call of [...first, ...second]) {
      expect(call.status).toBe('4'); // DEADLINE_EXCEEDED
      expect(call.rstCode).toBe(0); // NO_ERROR: answered, then the stalled request half reset
    }
    const slowest = Math.max(...first.map((c) => c.ms));
    expect(slowest, 'not before the deadline').toBeGreaterThanOrEqual(TIMEOUT_SECS * 1000 - 100);
    expect(slowest, 'soon after the deadline').toBeLessThan(TIMEOUT_SECS * 1000 + 5000);
    // The connection and the broker go on serving.
    await waitFor('a ping on the same connection', async () => (await grpcPing(session)) === '0', 10_000);
  });

  it('leaves alone a call whose request has arrived, however long its answer takes', { timeout: 60_000 }, async () => {
    const client = connect(`127.0.0.1:${b.port}`, { insecureSkipVerify: true, deadlineMs: 30_000 });
    // Nor on the legacy API, where a connection whose client leaves answers unread is closed. Both wait at once.
    const legacyCall = call(b.port, '/slow/Wait/');
    try {
      expect((await client.execute('slow', 'Wait')).body).toBe('waited');
    } finally {
      client.close();
    }
    const legacy = await legacyCall;
    expect(legacy.status, legacy.text).toBe(200);
    expect(legacy.text).toContain('waited');
  });
});

/** A unary Ping over a raw node:http2 session; resolves to its grpc-status. */
async function grpcPing(session: ClientHttp2Session): Promise<string | undefined> {
  const stream = session.request({ ':method': 'POST', ':path': '/bpbroker.v1.PingService/Ping', 'content-type': 'application/grpc', te: 'trailers' });
  let status: string | undefined;
  stream.on('response', (h) => (status ??= h['grpc-status'] as string | undefined));
  stream.on('trailers', (h) => (status ??= h['grpc-status'] as string | undefined));
  stream.resume();
  stream.end(Buffer.alloc(5)); // an empty PingRequest
  await once(stream, 'close');
  return status;
}
