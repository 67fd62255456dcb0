import { createServer } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type BrokerGrpcClient } from '../../src/client/grpcClient.js';
import { removeDir, type RunningBroker } from '../helpers/broker.js';
import { call } from '../helpers/https.js';
import { Pinger, RssWatch, rssMb, waitFor } from './flood.js';
import { mustPing, openTls, startConfigured } from './raw.js';
import { report, runs } from './soak.js';

/**
 * api.max_connections (issue 10, item 5): one budget for every TLS connection on the API port, HTTP/1.1 and h2
 * alike, and on a separate gRPC port. A connection over it is closed as soon as it is accepted, the broker
 * logs the refusals (rate-limited), and the connections it holds keep being served.
 */
const LIMIT = 40;
const ATTEMPTS_OVER = runs(200, 5000);

let b: RunningBroker | undefined;
const held: TLSSocket[] = [];
const clients: BrokerGrpcClient[] = [];
afterEach(async () => {
  for (const s of held.splice(0)) s.destroy();
  for (const c of clients.splice(0)) c.close();
  await b?.stop();
  if (b) removeDir(b.home);
  b = undefined;
});

function grpcClient(port: number): BrokerGrpcClient {
  const c = connect(`127.0.0.1:${port}`, { insecureSkipVerify: true, deadlineMs: 5000 });
  clients.push(c);
  return c;
}

/** Resolves to whether a TLS connection (offering `alpn`) gets through its handshake and stays open briefly. */
async function connects(port: number, alpn: string[]): Promise<boolean> {
  let socket: TLSSocket;
  try {
    socket = await openTls(port, alpn);
  } catch {
    return false;
  }
  held.push(socket);
  socket.on('error', () => {});
  // A refused connection may finish its handshake from the client's side before the close arrives.
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 300);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  return !closed;
}

/** Opens `count` more connections to hold, alternating HTTP/1.1 and h2 unless told `http1Only`. */
async function fill(port: number, count: number, http1Only = false): Promise<void> {
  for (let i = 0; i < count; i++) {
    const socket = await openTls(port, i % 2 && !http1Only ? ['h2'] : ['http/1.1']);
    socket.on('error', () => {});
    held.push(socket);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('api.max_connections', () => {
  it('closes connections over the limit at once, keeps serving those it holds, and serves again once they leave', { timeout: 120_000 }, async () => {
    b = await startConfigured({ api: { max_connections: LIMIT } });
    const port = b.port;
    // Two connections that stay in use throughout: a gRPC channel and a kept-alive HTTPS one.
    const grpc = grpcClient(port);
    await grpc.ping('"in"');
    const first = (await openTls(port)) as TLSSocket;
    held.push(first);
    await fill(port, LIMIT - 2);
    const watch = new RssWatch(b.proc.pid!, rssMb(b.proc.pid!) + 512);
    const pinger = new Pinger(() => grpc.ping('"during"', { deadlineMs: 60_000 }));
    try {
      let admitted = 0;
      const floodStarted = Date.now();
      for (let i = 0; i < ATTEMPTS_OVER; i++) if (await connects(port, i % 2 ? ['h2'] : ['http/1.1'])) admitted++;
      expect(admitted, 'connections over the limit that stayed open').toBe(0);
      expect(await grpcClient(port).ping('"fresh"').then(() => 'served', (e: { code: number }) => e.code)).toBe(14); // UNAVAILABLE

      // Those held are still served: the gRPC channel, and an HTTP/1.1 request on a held connection.
      expect((await grpc.ping('"held"')).src).toBe('127.0.0.1');
      const answer = await new Promise<string>((resolve, reject) => {
        let text = '';
        first.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          if (text.includes('"held"')) resolve(text);
        });
        first.once('close', () => reject(new Error(`held connection closed: ${text}`)));
        first.write('GET /ping/Ping/?data=%22held%22 HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);

      // Refusals are logged, but not once per connection: once at first, then at most once per 10 s.
      const logged = b.stderr().split('\n').filter((l) => l.includes('connection limit reached'));
      expect(logged.length).toBeGreaterThanOrEqual(1);
      expect(logged.length).toBeLessThanOrEqual(Math.ceil((Date.now() - floodStarted) / 10_000) + 1);

      // The flood leaves: fresh connections are served again.
      for (const s of held.splice(0)) s.destroy();
      await waitFor('a fresh HTTPS connection to be served', () => mustPing(port, 'after').then(() => true, () => false), 10_000);
      expect((await call(port, '/ping/Ping/?data=1', { agent: false })).json.data).toBe(1);
      expect((await grpcClient(port).ping('"after"')).src).toBe('127.0.0.1');
    } finally {
      watch.stop();
      await pinger.stop(10_000);
    }
    const figures = { rssBeforeMb: watch.before, rssPeakMb: watch.peak, rssAfterMb: rssMb(b.proc.pid!), worstPingMs: pinger.worstMs };
    console.log(`connection flood: ${ATTEMPTS_OVER} connections over a limit of ${LIMIT};`, figures);
    report({ suite: 'connection-limit', inputs: ATTEMPTS_OVER, ...figures });
    expect(pinger.failures).toEqual([]);
    expect(pinger.worstMs, 'worst ping during the flood (ms)').toBeLessThan(10_000);
  });

  it('is one budget for the API port and a separate gRPC port', { timeout: 60_000 }, async () => {
    const grpcPort = await freePort();
    b = await startConfigured({ api: { max_connections: 10 }, grpc: { listen_port: grpcPort } });
    const port = b.port;
    // With gRPC on its own port, the API port speaks HTTP/1.1 only.
    await fill(port, 10, true);
    expect(await grpcClient(grpcPort).ping('"over"').then(() => 'served', (e: { code: number }) => e.code)).toBe(14); // UNAVAILABLE
    for (const s of held.splice(0, 5)) s.destroy();
    // Half the API port's connections gone: the gRPC port takes one, and then the API port is short of one.
    const onGrpcPort = grpcClient(grpcPort);
    await waitFor('the gRPC port to serve', () => onGrpcPort.ping('"in"').then(() => true, () => false), 10_000);
    await fill(port, 4, true);
    expect(await connects(port, ['http/1.1'])).toBe(false);
    expect((await onGrpcPort.ping('"still"')).src).toBe('127.0.0.1');
  });
});
